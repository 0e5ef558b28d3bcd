import {
  AggregationTemporality,
  type DataPoint,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { expect, it } from 'vitest';
import { instrumentCaching } from '../../src/otel/index.js';
import { type HarnessCtx, harness } from '../support/apps/harness.js';
import { until } from '../support/until.js';

it("counts the auditor's checks by path and outcome in OpenTelemetry, and times their resolver", async () => {
  const { t, authed, caching } = harness<HarnessCtx<string>>(undefined, { audit: { sampleRate: 1, window: 10 } });
  let title = 'one';
  const router = t.router({
    byId: caching
      .cachedQuery(authed)
      .meta({ cache: { tags: ['post:1'] } })
      .query(() => ({ title })),
    // Forgets the tag `byId` is cached under.
    rename: caching
      .invalidatingMutation(authed)
      .meta({ invalidate: { self: false } })
      .mutation(() => {
        title = 'two';
        return true;
      }),
  });
  caching.validateRouter(router);
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const instrumentation = instrumentCaching(caching, { meterProvider: new MeterProvider({ readers: [reader] }), tracing: false });
  try {
    const caller = t.createCallerFactory(router)({ user: 'ann' });
    await caller.byId();
    await caller.byId();
    await until(() => caching.stats().audit.checks === 1);
    await caller.rename();
    await caller.byId();
    await until(() => caching.stats().audit.checks === 2);
    await reader.forceFlush();
    const metrics = new Map(
      (exporter.getMetrics().at(-1)?.scopeMetrics ?? [])
        .flatMap((scope) => scope.metrics)
        .map((metric) => [metric.descriptor.name, metric]),
    );
    const checks = (metrics.get('trpc_caching.audit.checks')?.dataPoints ?? []) as DataPoint<number>[];
    expect(
      checks.map((point) => [point.attributes['trpc_caching.path'], point.attributes['trpc_caching.outcome'], point.value]).sort(),
    ).toEqual([
      ['byId', 'agreed', 1],
      ['byId', 'diverged', 1],
    ]);
    expect(metrics.get('trpc_caching.audit.duration')?.descriptor.unit).toBe('s');
  } finally {
    instrumentation.stop();
    caching.close();
  }
});
