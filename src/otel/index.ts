// `trpc-caching/otel`: OpenTelemetry metrics and trace events for a caching instance (`@opentelemetry/api` is an optional peer).
import { performance } from 'node:perf_hooks';
import {
  type Attributes,
  type BatchObservableCallback,
  context,
  type MeterProvider,
  metrics,
  SpanKind,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { Caching } from '../caching.js';
import type { EngineEvents, InvalidateEvent, ReadEvent } from '../engine/events.js';
import { observe } from '../observability/observers.js';

/**
 * Options of {@link instrumentCaching}.
 *
 * @example
 * ```ts
 * instrumentCaching(caching, { meterProvider, tracerProvider, tracing: 'spans' });
 * ```
 */
export interface InstrumentCachingOptions {
  /**
   * Where the metrics go.
   * @default the global meter provider (`metrics.getMeterProvider()`), as set by the OpenTelemetry SDK
   */
  meterProvider?: MeterProvider;
  /**
   * Where trace data goes.
   * @default the global tracer provider (`trace.getTracerProvider()`)
   */
  tracerProvider?: TracerProvider;
  /**
   * What a query and an invalidation add to the active span (the one your HTTP or tRPC instrumentation
   * started for the request):
   * - `'events'`: a span event (`trpc_caching.hit`, `.miss`, `.coalesced`, `.stale`, `.bypass`,
   *   `.invalidate`, `.error`) with the path, scope, reason and the time spent in the cache. No new spans,
   *   and every procedure of a batched HTTP request keeps its own event (attributes would overwrite each other).
   * - `'spans'`: a short child span per query (`trpc-caching hit`, ...) and per invalidation, covering the
   *   time spent in the cache and ending when the cache is done with the call. Never a root span.
   * - `false`: metrics only.
   * @default 'events'
   */
  tracing?: 'events' | 'spans' | false;
}

/**
 * A running instrumentation; `stop()` detaches it (its instruments stay registered, and stop changing).
 *
 * @example
 * ```ts
 * const instrumentation = instrumentCaching(caching);
 * process.once('SIGTERM', () => instrumentation.stop());
 * ```
 */
export interface CachingInstrumentation {
  stop(): void;
}

/**
 * What {@link instrumentCaching} reads from a caching instance: any `Caching` made by `createCaching` (the
 * events come through a slot only `createCaching` sets, so a look-alike object is refused).
 *
 * @example
 * ```ts
 * const caching: InstrumentedCaching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id });
 * ```
 */
export type InstrumentedCaching = Pick<Caching<never>, 'stats' | 'pendingInvalidations'>;

/** Store latency buckets in seconds: from 100 µs (an in-memory store) to the 1 s a move may wait. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * Reports a caching instance to OpenTelemetry. Metrics (meter `trpc-caching`):
 *
 * | instrument                          | kind       | unit      | attributes                                                                          |
 * | ----------------------------------- | ---------- | --------- | ----------------------------------------------------------------------------------- |
 * | `trpc_caching.reads`                | counter    | `{read}`  | `trpc_caching.path`, `.status` (hit, miss, coalesced, stale, bypass), `.scope`, `.reason` (bypass) |
 * | `trpc_caching.store.duration`       | histogram  | `s`       | `trpc_caching.operation` (read, write, invalidate), `trpc_caching.outcome` (ok, error) |
 * | `trpc_caching.invalidations`        | counter    | `{move}`  | `trpc_caching.written` (false: left pending, retried)                                |
 * | `trpc_caching.errors`               | counter    | `{error}` | `trpc_caching.operation` (as `CachingError.operation`)                              |
 * | `trpc_caching.invalidations.pending`| gauge      | `{key}`   |                                                                                     |
 * | `trpc_caching.breaker`              | gauge      |           | `trpc_caching.state` (closed, open, half-open): 1 for the current state, 0 for the others |
 * | `trpc_caching.audit.checks`         | counter    | `{check}` | `trpc_caching.path`, `.outcome` (agreed, diverged, discarded, skipped), `.reason` (discarded, skipped) |
 * | `trpc_caching.audit.duration`       | histogram  | `s`       | `trpc_caching.path`: how long a check's resolver ran (the auditor's cost)           |
 *
 * The hit ratio is `reads{status=hit}` over all `reads` (add `stale` and `coalesced` to count every call the
 * resolver did not run for). Consistency is `audit.checks{outcome=agreed}` over `agreed` + `diverged` (docs/consistency.md).
 * Trace data goes on the active span, see {@link InstrumentCachingOptions.tracing}.
 * Attributes never hold a user id or an input.
 *
 * @example
 * ```ts
 * import { createCaching } from 'trpc-caching';
 * import { instrumentCaching } from 'trpc-caching/otel';
 *
 * const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id });
 * instrumentCaching(caching); // after the OpenTelemetry SDK has started: it uses the global providers
 * ```
 */
export function instrumentCaching(caching: InstrumentedCaching, options: InstrumentCachingOptions = {}): CachingInstrumentation {
  const tracing = options.tracing ?? 'events';
  if (tracing !== 'events' && tracing !== 'spans' && tracing !== false) {
    throw new TypeError(`trpc-caching/otel: tracing must be 'events', 'spans' or false, got ${String(tracing)}`);
  }
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('trpc-caching');
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer('trpc-caching');

  const reads = meter.createCounter('trpc_caching.reads', {
    description: 'Cached query calls, by outcome',
    unit: '{read}',
  });
  const storeDuration = meter.createHistogram('trpc_caching.store.duration', {
    description: 'Duration of store calls',
    unit: 's',
    advice: { explicitBucketBoundaries: STORE_BUCKETS },
  });
  const invalidations = meter.createCounter('trpc_caching.invalidations', {
    description: 'Invalidations (version moves), written or left pending',
    unit: '{move}',
  });
  const errors = meter.createCounter('trpc_caching.errors', { description: 'Cache faults reported to onError', unit: '{error}' });
  const auditChecks = meter.createCounter('trpc_caching.audit.checks', {
    description: 'Sampled hits checked against their resolver by the consistency auditor, by outcome',
    unit: '{check}',
  });
  const auditDuration = meter.createHistogram('trpc_caching.audit.duration', {
    description: "How long a check's resolver ran",
    unit: 's',
  });
  const pending = meter.createObservableGauge('trpc_caching.invalidations.pending', {
    description: 'Version keys whose invalidation is not written yet',
    unit: '{key}',
  });
  const breaker = meter.createObservableGauge('trpc_caching.breaker', {
    description: 'Circuit breaker of the store: 1 for the current state',
  });
  const observeState: BatchObservableCallback = (result) => {
    result.observe(pending, caching.pendingInvalidations);
    const state = caching.stats().breaker;
    for (const each of ['closed', 'open', 'half-open'] as const) {
      result.observe(breaker, each === state ? 1 : 0, { 'trpc_caching.state': each });
    }
  };
  meter.addBatchObservableCallback(observeState, [pending, breaker]);

  /**
   * Adds an event, or a child span ending now that lasted `durationMs`, to the active span; nothing without one.
   * `attributes` is called only then, so that a call outside a traced request allocates nothing for tracing.
   */
  const traceCall = (name: string, attributes: () => Attributes, durationMs: number): void => {
    if (tracing === false) return;
    const active = trace.getActiveSpan();
    if (active === undefined || !active.isRecording()) return;
    const traced = attributes();
    const now = performance.timeOrigin + performance.now();
    if (tracing === 'events') {
      active.addEvent(`trpc_caching.${name}`, traced, now);
      return;
    }
    tracer
      .startSpan(`trpc-caching ${name}`, { kind: SpanKind.INTERNAL, startTime: now - durationMs, attributes: traced }, context.active())
      .end(now);
  };

  const readAttributes = (event: ReadEvent): Attributes => {
    const attributes: Attributes = {
      'trpc_caching.path': event.path,
      'trpc_caching.status': event.status,
      'trpc_caching.scope': event.scope,
    };
    if (event.reason !== undefined) attributes['trpc_caching.reason'] = event.reason;
    return attributes;
  };

  const observer: EngineEvents = {
    onRead(event) {
      const attributes = readAttributes(event);
      reads.add(1, attributes);
      traceCall(event.status, () => ({ ...attributes, 'trpc_caching.duration_ms': event.durationMs }), event.durationMs);
    },
    onStoreCall(event) {
      storeDuration.record(event.durationMs / 1000, {
        'trpc_caching.operation': event.operation,
        'trpc_caching.outcome': event.ok ? 'ok' : 'error',
      });
    },
    onInvalidate(event: InvalidateEvent) {
      invalidations.add(1, { 'trpc_caching.written': event.written });
      traceCall(
        'invalidate',
        () => {
          const attributes: Attributes = {
            'trpc_caching.keys': event.keys,
            'trpc_caching.written': event.written,
            'trpc_caching.duration_ms': event.durationMs,
          };
          if (event.path !== undefined) attributes['trpc_caching.path'] = event.path;
          return attributes;
        },
        event.durationMs,
      );
    },
    onAudit(event) {
      const attributes: Attributes = { 'trpc_caching.path': event.path, 'trpc_caching.outcome': event.outcome };
      if (event.reason !== undefined) attributes['trpc_caching.reason'] = event.reason;
      auditChecks.add(1, attributes);
      if (event.outcome !== 'skipped') auditDuration.record(event.durationMs / 1000, { 'trpc_caching.path': event.path });
      if (event.outcome === 'diverged') traceCall('divergence', () => ({ 'trpc_caching.path': event.path }), 0);
    },
    onError(error) {
      errors.add(1, { 'trpc_caching.operation': error.operation });
      // Not the message: a tag or key fault can quote what a tag callback derived from the input.
      traceCall(
        'error',
        () => {
          const attributes: Attributes = { 'trpc_caching.operation': error.operation };
          if (error.path !== undefined) attributes['trpc_caching.path'] = error.path;
          return attributes;
        },
        0,
      );
    },
  };
  const detach = observe(caching, observer);
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      detach();
      meter.removeBatchObservableCallback(observeState, [pending, breaker]);
    },
  };
}
