import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { build, type Options } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import config from '../../tsup.config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The published CommonJS build bundles `trpc-caching` and `trpc-caching/otel` separately, each with its own
 * copy of the observers module: the instrumentation must still reach an instance made by the root bundle.
 * Built here from tsup.config.ts (without types), under node_modules so that the bundles resolve their peers.
 */
describe('trpc-caching/otel in the CommonJS build', () => {
  let outDir = '';
  let load: NodeJS.Require;
  beforeAll(async () => {
    await mkdir(join(root, 'node_modules/.cache'), { recursive: true });
    outDir = await mkdtemp(join(root, 'node_modules/.cache/trpc-caching-otel-cjs-'));
    const cjs = (config as Options[]).find(
      (options) => options.format === 'cjs' || (Array.isArray(options.format) && options.format.includes('cjs')),
    );
    if (cjs === undefined) throw new Error('tsup.config.ts has no CommonJS build');
    const entry = cjs.entry as Record<string, string>;
    await build({
      ...cjs,
      entry: { index: entry.index as string, otel: entry.otel as string },
      outDir,
      dts: false,
      sourcemap: false,
      clean: false,
      silent: true,
      config: false,
    });
    load = createRequire(join(outDir, 'index.cjs'));
  }, 120_000);
  afterAll(async () => {
    if (outDir !== '') await rm(outDir, { recursive: true, force: true });
  });

  it('counts the reads of an instance made by the root bundle, and leaves @opentelemetry/api to the app', async () => {
    const main = load(join(outDir, 'index.cjs')) as typeof import('../../src/index.js');
    const otel = load(join(outDir, 'otel.cjs')) as typeof import('../../src/otel/index.js');
    const { initTRPC } = load('@trpc/server') as typeof import('@trpc/server');
    const t = initTRPC.context<{ user: string }>().meta<import('../../src/index.js').CachingMeta>().create();
    const caching = main.createCaching<{ user: string }>({ user: (ctx) => ctx.user, timeout: 2_000 });
    const router = t.router({ greeting: caching.cachedQuery(t.procedure).query(() => 'hello') });
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    otel.instrumentCaching(caching, { meterProvider: new MeterProvider({ readers: [reader] }) });

    const caller = t.createCallerFactory(router)({ user: 'alice' });
    await caller.greeting();
    await caller.greeting();
    await reader.forceFlush();
    const reads = exporter
      .getMetrics()
      .at(-1)
      ?.scopeMetrics.flatMap((scope) => scope.metrics)
      .find((metric) => metric.descriptor.name === 'trpc_caching.reads');
    const byStatus = Object.fromEntries((reads?.dataPoints ?? []).map((point) => [point.attributes['trpc_caching.status'], point.value]));
    expect(byStatus).toEqual({ miss: 1, hit: 1 });
    caching.close();
    // The optional peer is required at run time, never bundled: the app's own copy holds its global providers.
    const code = await readFile(join(outDir, 'otel.cjs'), 'utf8');
    expect(code).toContain('require("@opentelemetry/api")');
    expect(code).not.toContain('class NoopMeterProvider');
  });
});
