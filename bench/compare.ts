/**
 * Before/after of a hot-path change, in one process: `npx tsx bench/compare.ts <git ref>`
 * extracts src/ of that ref next to node_modules and measures a hit and a
 * miss of both versions in interleaved rounds, so that both see the same
 * machine noise. Prints medians and the ratio after/before.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as current from '../src/index.js';
import { authed, type BenchCtx, createT, INPUT, listInput, makeDatedList, makeList } from './fixtures.js';
import { measure } from './measure.js';
import { micros, printTable, ratio, saveResults } from './report.js';

type Library = Pick<typeof current, 'createCaching'>;

const loadAtStart = loadavg()[0] ?? 0;
const ref = process.argv[2];
if (!ref) throw new Error('usage: npx tsx bench/compare.ts <git ref>');
const root = fileURLToPath(new URL('..', import.meta.url));
const dir = fileURLToPath(new URL(`../node_modules/.cache/trpc-caching-compare/${ref.replace(/\W/g, '_')}/`, import.meta.url));
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
execFileSync('sh', ['-c', `git -C "${root}" archive "${ref}" src | tar -x -C "${dir}"`]);
const before = (await import(pathToFileURL(`${dir}src/index.ts`).href)) as Library;

function app(library: Library) {
  const t = createT();
  const base = authed(t);
  const caching = library.createCaching<BenchCtx>({ user: (ctx) => ctx.user?.id });
  const cached = caching.cachedQuery(base);
  const CONSTANT = makeList(1);
  const router = t.router({
    constant: base.input(listInput).query(() => CONSTANT),
    cached: cached.input(listInput).query(({ input }) => makeList(input.page)),
    dated: cached.input(listInput).query(({ input }) => makeDatedList(input.page)),
  });
  return t.createCallerFactory(router)({ user: { id: 'reader' } });
}

const old = app(before);
const now = app(current);
/** Hot entries of the 2048-entry case: more than a count-bounded template cache of 512 would keep. */
const HOT = 2048;
const spread = Array.from({ length: HOT }, (_, i) => ({ ...INPUT, page: 10_000 + i }));
for (const caller of [old, now]) {
  await caller.cached(INPUT);
  await caller.dated(INPUT);
  // Twice: the second hit of an entry is the first one that may keep a decoded template.
  for (let pass = 0; pass < 2; pass++) for (const input of spread) await caller.cached(input);
}
let nextOld = 0;
let nextNow = 0;
let page = 10;
const rounds = Number(process.env.BENCH_ROUNDS ?? 12);
const m = await measure(
  {
    constant: () => now.constant(INPUT),
    'hit before': () => old.cached(INPUT),
    'hit after': () => now.cached(INPUT),
    'Date hit before': () => old.dated(INPUT),
    'Date hit after': () => now.dated(INPUT),
    'hot hit before': () => old.cached(spread[nextOld++ % HOT] ?? INPUT),
    'hot hit after': () => now.cached(spread[nextNow++ % HOT] ?? INPUT),
    'miss before': () => old.cached({ ...INPUT, page: page++ }),
    'miss after': () => now.cached({ ...INPUT, page: page++ }),
  },
  { rounds, time: Number(process.env.BENCH_TIME ?? 100) },
);
const LABELS: Record<string, string> = { 'Date hit': 'hit, list with Date fields', 'hot hit': `hit among ${HOT} hot entries` };
const at = (name: string) => m[name]?.median ?? Number.NaN;
const table = {
  title: `Hot path before (${ref}) and after (this tree), in-memory store, median µs of ${rounds} interleaved rounds`,
  columns: ['case', 'before', 'after', 'after/before', 'before x constant', 'after x constant'],
  rows: ['hit', 'Date hit', 'hot hit', 'miss'].map((name) => [
    LABELS[name] ?? name,
    micros(at(`${name} before`)),
    micros(at(`${name} after`)),
    ratio(at(`${name} after`) / at(`${name} before`)),
    ratio(at(`${name} before`) / at('constant')),
    ratio(at(`${name} after`) / at('constant')),
  ]),
  note: `The constant procedure took ${micros(at('constant'))} µs in this run.`,
};
printTable(table);
if (process.env.BENCH_SAVE !== '0') {
  await saveResults(
    {
      compare: {
        tables: [table],
        bars: [],
        groups: {},
        headline: { hitBeforeAfter: ratio(at('hit after') / at('hit before')) },
        targets: [],
      },
    },
    loadAtStart,
  );
}
rmSync(dir, { recursive: true, force: true });
process.exit(0);
