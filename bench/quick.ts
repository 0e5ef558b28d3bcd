import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { Cacheable } from 'cacheable';
import { createMemoryStore } from '../src/index.js';
import { createBenchApp } from './apps.js';
import { INPUT } from './fixtures.js';
import { measure } from './measure.js';

const app = createBenchApp({
  keyv: createMemoryStore(),
  bento: new BentoCache({ default: 'm', stores: { m: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) } }) as never,
  cacheable: new Cacheable(),
});
const c = app.caller('u1');
for (const p of ['cached', 'bento', 'cacheable', 'adrf'] as const) await c[p](INPUT);
const r = await measure(
  {
    constant: () => c.constant(INPUT),
    cached: () => c.cached(INPUT),
    bento: () => c.bento(INPUT),
    cacheable: () => c.cacheable(INPUT),
    adrf: () => c.adrf(INPUT),
  },
  { rounds: Number(process.env.ROUNDS ?? 5), time: 200 },
);
for (const [k, v] of Object.entries(r)) console.log(k.padEnd(12), v.median.toFixed(2), (v.median / (r.constant?.median ?? 1)).toFixed(2), v.spread.toFixed(2));
console.log(app.errors);
