/**
 * What observability costs the hot path, in one process: `npx tsx bench/stats.ts`. The same in-memory hit
 * with stats off, with stats on (the default), with a diagnostics channel subscriber, and with the
 * OpenTelemetry instrumentation on an SDK meter and tracer provider, measured in interleaved rounds so
 * that every variant sees the same machine noise. Prints medians and ratios to stats off.
 */
import { subscribe } from 'node:diagnostics_channel';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { type CachingOptions, cachingChannels, createCaching, createMemoryStore } from '../src/index.js';
import { instrumentCaching } from '../src/otel/index.js';
import { authed, type BenchCtx, createT, INPUT, listInput, makeList } from './fixtures.js';
import { measure, roundsFromEnv } from './measure.js';
import { micros, printTable, ratio } from './report.js';

function app(options: Partial<CachingOptions<BenchCtx>>) {
  const t = createT();
  const base = authed(t);
  const caching = createCaching<BenchCtx>({ user: (ctx) => ctx.user?.id, store: createMemoryStore(), ...options });
  const router = t.router({
    cached: caching
      .cachedQuery(base)
      .input(listInput)
      .query(({ input }) => makeList(input.page)),
  });
  return { caching, caller: t.createCallerFactory(router)({ user: { id: 'reader' } }) };
}

const off = app({ stats: false });
const on = app({});
const channel = app({});
const otel = app({});
let published = 0;
// A subscriber is global: it hears every instance. It is added last, right before the rounds, for the channel variant.
const meterProvider = new MeterProvider({
  readers: [
    new PeriodicExportingMetricReader({
      exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
      exportIntervalMillis: 3_600_000,
    }),
  ],
});
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
instrumentCaching(otel.caching, { meterProvider, tracerProvider });

for (const { caller } of [off, on, channel, otel]) {
  await caller.cached(INPUT);
  await caller.cached(INPUT);
}

const { rounds, time } = roundsFromEnv({ rounds: 16, time: 150 });
const tasks = {
  'stats off': () => off.caller.cached(INPUT),
  'stats on (default)': () => on.caller.cached(INPUT),
  'stats on, OpenTelemetry metrics': () => otel.caller.cached(INPUT),
};
const first = await measure(tasks, { rounds, time });
// With a channel subscriber every instance publishes: measured in a second pass, against stats off again.
subscribe(cachingChannels.hit, () => {
  published++;
});
const second = await measure(
  { 'stats off + subscriber': () => off.caller.cached(INPUT), 'stats on + subscriber': () => channel.caller.cached(INPUT) },
  { rounds, time },
);
if (published === 0) throw new Error('the channel subscriber heard nothing');
if (on.caching.stats().hits === 0 || off.caching.stats().hits !== 0) throw new Error('stats option not applied');

const base = first['stats off']?.median ?? Number.NaN;
const row = (label: string, value: { median: number; spread: number } | undefined, against = base) => [
  label,
  micros(value?.median ?? Number.NaN),
  ratio((value?.median ?? Number.NaN) / against),
  `±${Math.round((value?.spread ?? 0) * 50)}%`,
];
printTable({
  title: `In-memory hit with and without observability, createCaller, median µs of ${rounds} interleaved rounds`,
  columns: ['variant', 'median µs', 'x stats off', 'spread'],
  rows: [
    row('stats off', first['stats off']),
    row('stats on (default)', first['stats on (default)']),
    row('stats on + OpenTelemetry metrics and span events', first['stats on, OpenTelemetry metrics']),
    row('stats off, a channel subscriber', second['stats off + subscriber'], second['stats off + subscriber']?.median),
    row('stats on, a channel subscriber', second['stats on + subscriber'], second['stats off + subscriber']?.median),
  ],
  note: 'The channel rows are a second pass, compared with each other: a subscriber hears every instance.',
});
process.exit(0);
