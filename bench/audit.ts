/**
 * What the consistency auditor costs, in one process: `npx tsx bench/audit.ts`. The same in-memory hit without an
 * auditor, and with one that draws every hit and checks none (the cost of an unsampled hit); then a hit whose check
 * is awaited (window 0), against a hit followed by the same turn of the event loop without an auditor: their
 * difference is one check. A miss of the same resolver for scale. Interleaved rounds; medians.
 */
import { type CachingOptions, createCaching, createMemoryStore } from '../src/index.js';
import { observe } from '../src/observability/observers.js';
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
    uncached: base.input(listInput).query(({ input }) => makeList(input.page)),
  });
  caching.validateRouter(router);
  return { caching, caller: t.createCallerFactory(router)({ user: { id: 'reader' } }) };
}

const off = app({});
const unsampled = app({ audit: { sampleRate: 1e-9 } });
const every = app({ audit: { sampleRate: 1, window: 0, maxConcurrent: 1_000_000, maxLag: 1_000_000 } });
for (const { caller } of [off, unsampled, every]) {
  await caller.cached(INPUT);
  await caller.cached(INPUT);
}
let audited = 0;
observe(every.caching, {
  onAudit: () => {
    audited++;
  },
});
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
let page = 1_000;
const { rounds, time } = roundsFromEnv({ rounds: 12, time: 150 });
const m = await measure(
  {
    'hit, no auditor': () => off.caller.cached(INPUT),
    'hit, auditor, not sampled': () => unsampled.caller.cached(INPUT),
    'hit, then a turn of the event loop': async () => {
      await off.caller.cached(INPUT);
      await nextTurn();
    },
    'hit, then its check': async () => {
      const target = audited + 1;
      await every.caller.cached(INPUT);
      while (audited < target) await nextTurn();
    },
    // A new input each call: the miss of the same resolver, store write included.
    miss: () => off.caller.cached({ ...INPUT, page: page++ }),
    'the resolver alone': () => off.caller.uncached(INPUT),
  },
  { rounds, time },
);
const { checks, divergences } = every.caching.stats().audit;
if (checks === 0 || divergences !== 0)
  throw new Error(`expected checks and no divergence, got ${checks} checks, ${divergences} divergences`);

const base = m['hit, no auditor']?.median ?? Number.NaN;
const row = (label: string) => [label, micros(m[label]?.median ?? Number.NaN), ratio((m[label]?.median ?? Number.NaN) / base)];
printTable({
  title: `In-memory hit with and without the consistency auditor, createCaller, median µs of ${rounds} interleaved rounds`,
  columns: ['variant', 'median µs', 'x no auditor'],
  rows: [
    row('hit, no auditor'),
    row('hit, auditor, not sampled'),
    row('hit, then a turn of the event loop'),
    row('hit, then its check'),
    row('miss'),
    row('the resolver alone'),
  ],
  note: `${checks} checks, none diverged. One check costs the 4th row minus the 3rd: the resolver, a read of the versions, a comparison.`,
});
process.exit(0);
