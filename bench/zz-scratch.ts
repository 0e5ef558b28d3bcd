import autocannon from 'autocannon';
import { createHTTPServer } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import { authed, createT, INPUT, listInput, makeList } from './fixtures.js';
const t = createT();
const base = authed(t);
const CONSTANT = makeList(1);
const router = t.router({ constant: base.input(listInput).query(() => CONSTANT), hello: t.procedure.query(() => 'hi'), sleep: t.procedure.query(async () => { await new Promise((r) => setTimeout(r, 5)); return 'hi'; }) });
const server = createHTTPServer({ router, createContext: () => ({ user: { id: 'x' } }) });
server.listen(0, '127.0.0.1');
await new Promise((r) => setTimeout(r, 200));
const address = server.address() as { port: number };
const input = encodeURIComponent(JSON.stringify(superjson.serialize(INPUT)));
for (const path of ['hello', 'sleep', `constant?input=${input}`]) {
  const r = await autocannon({ url: `http://127.0.0.1:${address.port}/${path}`, connections: Number(process.env.C ?? 10), duration: 2 });
  console.log(path.slice(0, 8), r.requests.average, r.latency.p50, r.latency.p99);
}
server.close();
process.exit(0);
