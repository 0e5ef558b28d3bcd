import { AsyncLocalStorage } from 'node:async_hooks';
import { type Context, type ContextManager, context, ROOT_CONTEXT, type Tracer } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstrumentCachingOptions, instrumentCaching } from '../../src/otel/index.js';
import { storeKinds } from '../support/stores.js';
import { createNotesApp, knownSequence, SECRET_INPUT, SECRET_USER } from './app.js';

/** What an app's async-context instrumentation provides: the active span follows awaits (AsyncLocalStorage). */
class AsyncLocalContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    active: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(active, () => fn.apply(thisArg, args));
  }
  bind<T>(_active: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalContextManager());
});
afterAll(() => {
  context.disable();
});

/** A caching app instrumented with in-memory exporters, and ways to read what they got. */
async function instrumented(store: Parameters<typeof createNotesApp>[0], tracing?: InstrumentCachingOptions['tracing']) {
  const app = createNotesApp(store);
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const instrumentation = instrumentCaching(app.caching, { meterProvider, tracerProvider, ...(tracing === undefined ? {} : { tracing }) });
  const tracer = tracerProvider.getTracer('test');
  return {
    app,
    instrumentation,
    tracer,
    spans: (): ReadableSpan[] => spanExporter.getFinishedSpans(),
    async metrics(): Promise<Map<string, MetricData>> {
      await reader.forceFlush();
      const last = metricExporter.getMetrics().at(-1);
      return new Map((last?.scopeMetrics ?? []).flatMap((scope) => scope.metrics).map((metric) => [metric.descriptor.name, metric]));
    },
  };
}

/** Runs `body` inside an active span named `request`, as an HTTP instrumentation would. */
function inRequest(tracer: Tracer, body: () => Promise<void>): Promise<void> {
  return tracer.startActiveSpan('request', async (span) => {
    try {
      await body();
    } finally {
      span.end();
    }
  });
}

/** Sum of a metric's data points whose attributes include `match`. */
function total(metric: MetricData | undefined, match: Record<string, unknown> = {}): number {
  if (metric === undefined) throw new Error('metric not exported');
  let sum = 0;
  for (const point of metric.dataPoints as DataPoint<number | Histogram>[]) {
    if (!Object.entries(match).every(([key, value]) => point.attributes[key] === value)) continue;
    sum += typeof point.value === 'number' ? point.value : point.value.count;
  }
  return sum;
}

describe.each(storeKinds())('OpenTelemetry on $name', (kind) => {
  it('counts reads by path and status, store calls in a latency histogram, invalidations and faults', async () => {
    const { app, metrics } = await instrumented(await kind.fresh());
    const began = performance.now();
    await knownSequence(app);
    // The control for the histogram's unit: no store call can outlast the whole sequence it was part of.
    const sequenceSeconds = (performance.now() - began) / 1000;
    const got = await metrics();
    const reads = got.get('trpc_caching.reads');
    expect(reads?.descriptor.unit).toBe('{read}');
    expect(total(reads)).toBe(10);
    expect(total(reads, { 'trpc_caching.status': 'hit' })).toBe(3);
    expect(total(reads, { 'trpc_caching.status': 'miss' })).toBe(4);
    expect(total(reads, { 'trpc_caching.status': 'coalesced' })).toBe(1);
    expect(total(reads, { 'trpc_caching.status': 'bypass', 'trpc_caching.reason': 'disabled' })).toBe(1);
    expect(total(reads, { 'trpc_caching.status': 'bypass', 'trpc_caching.reason': 'input' })).toBe(1);
    expect(total(reads, { 'trpc_caching.path': 'notes.list', 'trpc_caching.status': 'hit', 'trpc_caching.scope': 'user' })).toBe(2);
    expect(total(reads, { 'trpc_caching.path': 'feed', 'trpc_caching.scope': 'public' })).toBe(2);

    const storeDuration = got.get('trpc_caching.store.duration');
    expect(storeDuration?.descriptor.unit).toBe('s');
    expect(total(storeDuration, { 'trpc_caching.operation': 'read', 'trpc_caching.outcome': 'ok' })).toBe(8);
    expect(total(storeDuration, { 'trpc_caching.operation': 'invalidate' })).toBe(1);
    const readPoint = storeDuration?.dataPoints.find((point) => point.attributes['trpc_caching.operation'] === 'read');
    // Seconds, not ms: the longest read fits in the time the sequence took, measured around it in this run.
    expect((readPoint?.value as Histogram | undefined)?.max).toBeGreaterThan(0);
    expect((readPoint?.value as Histogram | undefined)?.max).toBeLessThanOrEqual(sequenceSeconds);

    expect(total(got.get('trpc_caching.invalidations'), { 'trpc_caching.written': true })).toBe(1);
    expect(total(got.get('trpc_caching.errors'), { 'trpc_caching.operation': 'key' })).toBe(1);
    expect(total(got.get('trpc_caching.invalidations.pending'))).toBe(0);
    expect(total(got.get('trpc_caching.breaker'), { 'trpc_caching.state': 'closed' })).toBe(1);
    expect(total(got.get('trpc_caching.breaker'), { 'trpc_caching.state': 'open' })).toBe(0);
  });

  it('adds an event per cached call and invalidation to the active span, never a user id or an input', async () => {
    const { app, tracer, spans } = await instrumented(await kind.fresh());
    await inRequest(tracer, () => knownSequence(app));
    const finished = spans();
    expect(finished.map((span) => span.name)).toEqual(['request']);
    const events = finished[0]?.events ?? [];
    expect(events.map((event) => event.name)).toEqual([
      'trpc_caching.miss',
      'trpc_caching.hit',
      'trpc_caching.miss',
      'trpc_caching.miss',
      'trpc_caching.hit',
      'trpc_caching.bypass',
      'trpc_caching.error',
      'trpc_caching.bypass',
      'trpc_caching.miss',
      'trpc_caching.coalesced',
      'trpc_caching.hit',
      'trpc_caching.invalidate',
    ]);
    expect(events[1]?.attributes).toEqual({
      'trpc_caching.path': 'notes.list',
      'trpc_caching.status': 'hit',
      'trpc_caching.scope': 'user',
      'trpc_caching.duration_ms': expect.any(Number),
    });
    const text = JSON.stringify(events);
    expect(text).not.toContain(SECRET_USER);
    expect(text).not.toContain(SECRET_INPUT);
  });

  it("with tracing: 'spans', makes a short child span of the active span per call, and none without one", async () => {
    const { app, tracer, spans } = await instrumented(await kind.fresh(), 'spans');
    await app.caller('bob').feed();
    expect(spans()).toEqual([]);
    await inRequest(tracer, async () => {
      await app.caller('bob').feed();
      await app.caller('bob').notes.add({ text: 'x' });
    });
    const finished = spans();
    const request = finished.find((span) => span.name === 'request');
    const children = finished.filter((span) => span !== request);
    expect(children.map((span) => span.name)).toEqual(['trpc-caching hit', 'trpc-caching invalidate']);
    for (const child of children) {
      expect(child.parentSpanContext?.spanId).toBe(request?.spanContext().spanId);
      expect(child.spanContext().traceId).toBe(request?.spanContext().traceId);
    }
    expect(children[0]?.attributes).toMatchObject({ 'trpc_caching.path': 'feed', 'trpc_caching.scope': 'public' });
    expect(children[1]?.attributes).toMatchObject({ 'trpc_caching.path': 'notes.add', 'trpc_caching.written': true });
  });

  it('stops counting and tracing once stopped', async () => {
    const { app, tracer, spans, metrics, instrumentation } = await instrumented(await kind.fresh());
    const bob = app.caller('bob');
    await bob.feed();
    instrumentation.stop();
    await inRequest(tracer, async () => {
      await bob.feed();
    });
    expect(total((await metrics()).get('trpc_caching.reads'))).toBe(1);
    expect(spans()[0]?.events).toEqual([]);
    expect(app.caching.stats()).toMatchObject({ hits: 1, misses: 1 });
  });
});

describe('instrumentCaching', () => {
  it('refuses an object that is not a caching instance, and a tracing mode it does not know', () => {
    const fake = { stats: createNotesApp(undefined).caching.stats, pendingInvalidations: 0 };
    expect(() => instrumentCaching(fake)).toThrow(/expected a caching instance made by createCaching/);
    // @ts-expect-error -- a value a JavaScript caller could pass
    expect(() => instrumentCaching(createNotesApp(undefined).caching, { tracing: 'all' })).toThrow(/tracing must be/);
  });
});
