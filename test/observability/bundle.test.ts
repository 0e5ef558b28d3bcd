import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { cjsBuild } from '../support/cjs-build.js';

/**
 * The published CommonJS build: `trpc-caching/otel` is its own entry file, and its instrumentation must reach an
 * instance made by the root entry.
 */
describe('trpc-caching/otel in the CommonJS build', () => {
  const cjs = cjsBuild('trpc-caching-otel-cjs-', ['index', 'otel']);

  it('counts the reads of an instance made by the root bundle, and leaves @opentelemetry/api to the app', async () => {
    const main = cjs.load(join(cjs.outDir, 'index.cjs')) as typeof import('../../src/index.js');
    const otel = cjs.load(join(cjs.outDir, 'otel.cjs')) as typeof import('../../src/otel/index.js');
    const { initTRPC } = cjs.load('@trpc/server') as typeof import('@trpc/server');
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
    const code = await readFile(join(cjs.outDir, 'otel.cjs'), 'utf8');
    expect(code).toMatch(/require\((['"])@opentelemetry\/api\1\)/);
    expect(code).not.toContain('class NoopMeterProvider');
  });
});
