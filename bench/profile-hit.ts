import { createMemoryStore } from '../src/index.js';
import { createBenchApp } from './apps.js';
import { INPUT } from './fixtures.js';

const app = createBenchApp({ keyv: createMemoryStore(), bento: undefined as never, cacheable: undefined as never });
const c = app.caller('u1');
const which = (process.env.WHICH ?? 'cached') as 'cached' | 'constant';
await c[which](INPUT);
const n = Number(process.env.N ?? 200_000);
const start = performance.now();
for (let i = 0; i < n; i++) await c[which](INPUT);
console.log(which, (((performance.now() - start) / n) * 1000).toFixed(2), 'us/op');
