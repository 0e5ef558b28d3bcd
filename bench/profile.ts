/**
 * A tight loop of one procedure call, to profile the hot path:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile.ts
 *
 * `WHICH=cached|constant|uncached` picks the procedure, `MISS=1` gives every
 * call a new input (a miss), `REDIS=1` puts the cache on a fresh redis-server,
 * `HOT=2048` rotates over that many entries, each hit twice before (a hot set),
 * `N` sets the number of calls. Prints the mean time per call.
 */
import KeyvRedis from '@keyv/redis';
import { createMemoryStore, createRawStringStore } from '../src/index.js';
import { startRedis } from '../test/support/redis.js';
import { createBenchApp } from './apps.js';
import { INPUT } from './fixtures.js';

const unused = {
  getOrSet(): never {
    throw new Error('not profiled');
  },
};
const redis = process.env.REDIS ? await startRedis() : undefined;
const keyv = redis ? createRawStringStore(new KeyvRedis(redis.url)) : createMemoryStore();
const app = createBenchApp({ keyv, bento: unused, cacheable: unused });
const caller = app.caller('reader');
const which = (process.env.WHICH ?? 'cached') as 'cached' | 'constant' | 'uncached';
let page = 1;
const hot = Array.from({ length: Number(process.env.HOT ?? 0) }, (_, i) => ({ ...INPUT, page: 10_000 + i }));
let next = 0;
const input = () => (process.env.MISS ? { ...INPUT, page: page++ } : hot.length > 0 ? (hot[next++ % hot.length] ?? INPUT) : INPUT);
for (let pass = 0; pass < 2; pass++) for (const each of hot) await caller[which](each);
await caller[which](input());
const calls = Number(process.env.N ?? 200_000);
const start = performance.now();
for (let i = 0; i < calls; i++) await caller[which](input());
console.log(`${which}: ${(((performance.now() - start) / calls) * 1000).toFixed(2)} µs per call`);
await redis?.dispose();
process.exit(0);
