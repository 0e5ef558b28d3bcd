import { createHTTPServer } from '@trpc/server/adapters/standalone';
import autocannon from 'autocannon';
import superjson from 'superjson';
import { authed, createT, INPUT, listInput, makeList } from './fixtures.js';

const t = createT();
const base = authed(t);
const CONSTANT = makeList(1);
const router = t.router({ constant: base.input(listInput).query(() => CONSTANT), hello: t.procedure.query(() => 'hi') });
const server = createHTTPServer({ router, createContext: () => ({ user: { id: 'x' } }) });
server.listen(0, '127.0.0.1');
await new Promise((r) => setTimeout(r, 200));
const address = server.address() as { port: number };
const input = encodeURIComponent(JSON.stringify(superjson.serialize(INPUT)));
for (const path of [`hello`, `constant?input=${input}`]) {
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) await (await fetch(`http://127.0.0.1:${address.port}/${path}`)).text();
  console.log(path.slice(0, 8), 'sequential fetch ms/req', ((performance.now() - t0) / 200).toFixed(2));
}
for (const c of [1, 10, 50]) {
  const r = await autocannon({ url: `http://127.0.0.1:${address.port}/hello`, connections: c, duration: 2 });
  console.log('autocannon hello', c, r.requests.average, r.latency.p50, r.latency.p99);
}
server.close();
process.exit(0);
