// Adversarial checks of the HTTP fast path (issue 20): requests tRPC parses its own way, middlewares that post-process
// a result, per-user ETags and statuses, and a mutation between two reads. Each compares the fast path with tRPC's
// own standalone adapter over the same router and store ("control"), byte for byte.
import type { IncomingMessage } from 'node:http';
import { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { afterEach, describe, expect, it } from 'vitest';
import { cacheResponseMeta, fastPath, withCacheHeaders, withNotModified } from '../../src/http/index.js';
import { createMemoryStore } from '../../src/index.js';
import { exchange } from '../http/fast-path/app.js';
import { bearer, harness, type Listening, listen } from '../support/apps/harness.js';
import { storeKinds } from '../support/stores.js';

interface Ctx {
  user: string | null;
  role?: 'admin' | 'member';
}

/** Users whose sessions the app has revoked: its auth middleware refuses them. */
const revoked = new Set<string>();

/** An app with a role-based redaction middleware placed before the cache, as apps put field-level permissions. */
function redactingApp(store: ReturnType<typeof createMemoryStore>, prefix: string) {
  const counters = { resolvers: 0, regular: 0 };
  const { t, authed, caching } = harness<Ctx>(store, {
    prefix,
    timeout: 5_000,
    authorize: (user) => {
      if (revoked.has(user)) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'revoked' });
    },
  });
  // Runs before the cache: a public entry is shared by every role, and members must not see `email`.
  const redacted = authed.use(async ({ ctx, next }) => {
    const result = await next();
    if (result.ok && ctx.role !== 'admin') delete (result.data as { email?: string }).email;
    return result;
  });
  // The same, on a Map: a Map stays mutable through its methods however the value is frozen.
  const mapRedacted = authed.use(async ({ ctx, next }) => {
    const result = await next();
    if (result.ok && ctx.role !== 'admin') (result.data as { perms: Map<string, boolean> }).perms.delete('admin');
    return result;
  });
  const anyInput = (value: unknown) => value;
  const router = t.router({
    profile: caching
      .cachedQuery(redacted)
      .meta({ cache: { ttl: 60_000, scope: 'public', tags: ['profile'] } })
      .input(anyInput)
      .query(() => {
        counters.resolvers++;
        return { name: 'Ada', email: 'ada@example.com' };
      }),
    perms: caching
      .cachedQuery(mapRedacted)
      .meta({ cache: { ttl: 60_000, scope: 'public' } })
      .query(() => ({
        perms: new Map([
          ['admin', true],
          ['read', true],
        ]),
      })),
    mine: caching
      .cachedQuery(authed)
      .meta({ cache: { ttl: 60_000, tags: ['mine'] } })
      .input(anyInput)
      .query(({ ctx, input }) => {
        counters.resolvers++;
        return { user: ctx.user, input, n: counters.resolvers };
      }),
    bump: caching
      .invalidatingMutation(authed)
      .meta({ invalidate: { tags: ['mine'] } })
      .mutation(() => 'bumped'),
  });
  caching.validateRouter(router);
  const createContext = withCacheHeaders(({ req }: { req: IncomingMessage }): Ctx => {
    const user = bearer(req);
    return { user, role: user === 'root' ? 'admin' : 'member' };
  });
  const responseMeta = cacheResponseMeta({
    // A per-user status and header, as an app that marks its admins' answers.
    responseMeta: ({ ctx }: { ctx?: unknown }) =>
      (ctx as Ctx | undefined)?.role === 'admin' ? { status: 203, headers: { 'X-Admin': '1', 'Set-Cookie': ['a=1; Path=/', 'b=2'] } } : {},
  });
  const trpc = withNotModified(createHTTPHandler({ router, createContext, responseMeta, basePath: '/trpc/' }));
  const front = fastPath({ router, createContext, responseMeta, basePath: '/trpc/' });
  return { router, caching, counters, createContext, responseMeta, trpc, front };
}

async function serve(store: ReturnType<typeof createMemoryStore>, prefix: string, fast: boolean) {
  const app = redactingApp(store, prefix);
  const listening: Listening = await listen((req, res) => {
    const regular = () => {
      app.counters.regular++;
      app.trpc(req, res);
    };
    if (fast) app.front(req, res, regular);
    else regular();
  });
  return { ...app, listening };
}

// Once per file: each kind's redis-server starts with the file.
const KINDS = storeKinds();
const as = (user: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${user}`, ...extra } });
const q = (value: unknown) => encodeURIComponent(JSON.stringify(value));

describe('the fast path under attack', () => {
  const open: Array<{ listening: { close(): Promise<void> }; caching: { close(): void } }> = [];
  afterEach(async () => {
    for (const app of open.splice(0)) {
      await app.listening.close();
      app.caching.close();
    }
  });
  async function pair(store = createMemoryStore({ maxEntries: 10_000 }), shared = false) {
    const fast = await serve(store, shared ? 'one' : 'fast', true);
    const control = await serve(store, shared ? 'one' : 'control', false);
    open.push(fast, control);
    return { fast, control };
  }

  it('keeps what a middleware before the cache removed from a hit in place: a member never sees the admin-only field', async () => {
    const { fast, control } = await pair();
    const url = `/trpc/profile?input=${q({ json: 1 })}`;
    await exchange(fast.listening.url + url, as('root'));
    await exchange(control.listening.url + url, as('root'));
    const member = await exchange(fast.listening.url + url, as('mallory'));
    expect(member.headers).toContain('x-cache: HIT');
    expect(member.body).not.toContain('ada@example.com');
    expect(member).toEqual(await exchange(control.listening.url + url, as('mallory')));
  });

  it('sends what tRPC sends for requests it parses its own way: encodings, odd batches, bad JSON, prototype keys', async () => {
    const { fast, control } = await pair();
    const one = q({ json: 'x' });
    const requests: Array<[string, Record<string, string>?, string?]> = [
      [`/trpc/mine?input=${one}`],
      [`/trpc/mine/?input=${one}`],
      [`/trpc/mine%2F?input=${one}`],
      [`/trpc/%6Dine?input=${one}`],
      [`/trpc//mine?input=${one}`],
      [`//trpc/mine?input=${one}`],
      [`/trpc/./mine?input=${one}`],
      [`/trpc/x/../mine?input=${one}`],
      [`/trpc/x/%2E%2E/mine?input=${one}`],
      [`/trpc/mine?input=${one}&input=${q({ json: 'y' })}`],
      [`/trpc/mine?input=&input=${one}`],
      [`/trpc/mine?input=${one}#frag`],
      [`/trpc/mine?batch=1&input=${q([{ json: 'x' }])}`],
      [`/trpc/mine?batch=1&input=${q({ 0: { json: 'x' } })}`],
      [`/trpc/mine?batch=1&input=${q({ '00': { json: 'x' } })}`],
      [`/trpc/mine?batch=1&input=${q({ 0: { json: 'x' }, 1: { json: 'z' } })}`],
      [`/trpc/mine,mine?batch=1&input=${q({ 1: { json: 'x' } })}`],
      [`/trpc/mine,mine?batch=1&input=${q('str')}`],
      [`/trpc/mine,mine?batch=1&input=${q(null)}`],
      [`/trpc/mine,?batch=1&input=${q({ 0: { json: 'x' } })}`],
      [`/trpc/mine?batch=1&batch=0&input=${q({ 0: { json: 'x' } })}`],
      [`/trpc/mine?batch=true&input=${q({ 0: { json: 'x' } })}`],
      [`/trpc/mine?batch=1`],
      [`/trpc/mine`],
      [`/trpc/mine?input=${encodeURIComponent('{"json":')}`],
      [`/trpc/mine?input=${encodeURIComponent('{"json":{"__proto__":{"admin":true}}}')}`],
      [`/trpc/mine?input=${encodeURIComponent('{"json":{"a":1},"meta":{"values":{"a":["Date"]}}}')}`],
      [`/trpc/mine?input=${encodeURIComponent('{"json":1,"meta":{"values":["bigint"]}}')}`],
      [`/trpc/mine?input=${one}`, { 'content-type': 'Application/JSON' }],
      [`/trpc/mine?input=${one}`, { 'content-type': 'text/plain' }],
      [`/trpc/mine?input=${one}`, { accept: 'application/jsonl' }],
      [`/trpc/mine?batch=1&input=${q({ 0: { json: 'x' } })}`, { 'trpc-accept': 'application/jsonl' }],
      [`/trpc/mine?input=${one}&connectionParams=${q({ a: '1' })}`],
      [`/trpc/mine?input=${q({ json: 'x'.repeat(20_000) })}`],
      [`/trpc/mine?input=${one}`, {}, 'HEAD'],
      [`/trpc/mine?input=${one}`, { 'x-http-method-override': 'POST' }],
    ];
    const differences: string[] = [];
    for (const [path, headers = {}, method = 'GET'] of requests) {
      const init = { method, headers: { authorization: 'Bearer alice', ...headers } };
      // Twice on each server: the first fills the cache, the second is the hit the fast path may answer.
      await exchange(fast.listening.url + path, init);
      await exchange(control.listening.url + path, init);
      const [a, b] = [await exchange(fast.listening.url + path, init), await exchange(control.listening.url + path, init)];
      if (JSON.stringify(a) !== JSON.stringify(b))
        differences.push(`${method} ${path} ${JSON.stringify(headers)}\n  fast    ${JSON.stringify(a)}\n  control ${JSON.stringify(b)}`);
    }
    expect(differences.join('\n')).toBe('');
  });

  it('answers each user with that user’s responseMeta status and headers, and a 304 only for that user’s own ETag', async () => {
    const { fast, control } = await pair();
    const url = `/trpc/mine?input=${q({ json: 'e' })}`;
    for (const user of ['root', 'bob']) {
      await exchange(fast.listening.url + url, as(user));
      await exchange(control.listening.url + url, as(user));
    }
    const rootHit = await exchange(fast.listening.url + url, as('root'));
    expect(rootHit.status).toBe(203);
    expect(rootHit).toEqual(await exchange(control.listening.url + url, as('root')));
    const rootTag = rootHit.headers.find((h) => h.startsWith('etag: '))?.slice(6) as string;
    // Bob presents root's ETag: he gets his own data, never a 304 on root's version.
    const bob = await exchange(fast.listening.url + url, as('bob', { 'if-none-match': rootTag }));
    expect(bob.status).toBe(200);
    expect(bob.body).toContain('"user":"bob"');
    expect(bob).toEqual(await exchange(control.listening.url + url, as('bob', { 'if-none-match': rootTag })));
    // Root presents root's own ETag on a 203: whatever the regular handler answers, the fast path answers.
    const again = as('root', { 'if-none-match': rootTag });
    expect(await exchange(fast.listening.url + url, again)).toEqual(await exchange(control.listening.url + url, again));
  });

  it('answers a revoked user who presents the ETag of their still-cached entry with tRPC’s 401, never a 304', async () => {
    const { fast, control } = await pair();
    const url = `/trpc/mine?input=${q({ json: 'r' })}`;
    await exchange(fast.listening.url + url, as('dave'));
    await exchange(control.listening.url + url, as('dave'));
    const hit = await exchange(fast.listening.url + url, as('dave'));
    const etag = hit.headers.find((h) => h.startsWith('etag: '))?.slice(6) as string;
    expect((await exchange(fast.listening.url + url, as('dave', { 'if-none-match': etag }))).status).toBe(304);
    revoked.add('dave');
    try {
      const refused = await exchange(fast.listening.url + url, as('dave', { 'if-none-match': etag }));
      expect(refused.status).toBe(401);
      expect(refused).toEqual(await exchange(control.listening.url + url, as('dave', { 'if-none-match': etag })));
    } finally {
      revoked.delete('dave');
    }
  });

  it('keeps serving after clients abort requests before the answer is written', async () => {
    const { fast, control } = await pair();
    const url = `/trpc/mine?input=${q({ json: 'abort' })}`;
    await exchange(fast.listening.url + url, as('erin'));
    await exchange(control.listening.url + url, as('erin'));
    const { request } = await import('node:http');
    await Promise.all(
      Array.from(
        { length: 30 },
        () =>
          new Promise<void>((resolve) => {
            const req = request(fast.listening.url + url, { headers: as('erin').headers, agent: false });
            req.on('error', () => resolve());
            req.on('response', (res) => {
              res.destroy();
              resolve();
            });
            req.end();
            // Gone before the server could answer (or just after): either way the server must carry on.
            setImmediate(() => req.destroy());
          }),
      ),
    );
    expect(await exchange(fast.listening.url + url, as('erin'))).toEqual(await exchange(control.listening.url + url, as('erin')));
  });

  // Known gap, left open: freezing the hit (src/trpc/hit-only.ts) stops in-place changes to plain objects and arrays,
  // not to a Map, Set or Date, which stay mutable through their methods. A middleware that deletes a Map key in place
  // has its change dropped: the fast path writes the stored text. Fixing it costs a serialization on every hit with
  // a Map, Set or Date (see the report); apps redact by returning a new value, which the fast path does send.
  it.fails('keeps what a middleware before the cache removed from a Map in a hit in place', async () => {
    const { fast, control } = await pair();
    const url = '/trpc/perms';
    await exchange(fast.listening.url + url, as('root'));
    await exchange(control.listening.url + url, as('root'));
    const member = await exchange(fast.listening.url + url, as('mallory'));
    expect(member.body).not.toContain('"admin"');
    expect(member).toEqual(await exchange(control.listening.url + url, as('mallory')));
  });

  it.each(KINDS)('never answers a hit from before a mutation that returned, across two servers on $name', async (kind) => {
    const store = await kind.fresh();
    // One prefix: the two servers are two processes of one app.
    const { fast, control } = await pair(store as ReturnType<typeof createMemoryStore>, true);
    let stale = 0;
    for (let i = 0; i < 30; i++) {
      const url = `/trpc/mine?input=${q({ json: i % 3 })}`;
      const before = await exchange(fast.listening.url + url, as('alice'));
      await exchange(fast.listening.url + url, as('alice'));
      // The mutation on the other server (its own caching instance), then the very next read through the fast path.
      const bumped = await exchange(`${control.listening.url}/trpc/bump`, {
        method: 'POST',
        headers: { ...as('alice').headers, 'content-type': 'application/json' },
      });
      expect(bumped.status).toBe(200);
      const after = await exchange(fast.listening.url + url, as('alice'));
      if (after.body === before.body) stale++;
      expect(after.headers).toContain('x-cache: MISS');
    }
    expect(stale).toBe(0);
  });
});

describe('the fast path with a context whose fields live outside its own enumerable properties', () => {
  it('answers a signed-in caller with that caller’s entry, not the anonymous one, when the user is a getter on a class', async () => {
    const store = createMemoryStore({ maxEntries: 1_000 });
    const servers: Array<{ listening: Listening; caching: { close(): void } }> = [];
    try {
      for (const fast of [true, false]) {
        const { t, caching } = harness<Ctx>(store, { prefix: fast ? 'fast' : 'control', timeout: 5_000 });
        // A session store keyed by the context object, read through a getter: the context's user is no own field.
        const sessions = new WeakMap<object, string | null>();
        class RequestCtx {
          get user(): string | null {
            return sessions.get(this) ?? null;
          }
        }
        const router = t.router({
          whoami: caching
            .cachedQuery(t.procedure)
            .meta({ cache: { ttl: 60_000 } })
            .query(({ ctx }) => ({ me: ctx.user })),
        });
        caching.validateRouter(router);
        const createContext = withCacheHeaders(({ req }: { req: IncomingMessage }): Ctx => {
          const ctx = new RequestCtx();
          sessions.set(ctx, bearer(req));
          return ctx;
        });
        const responseMeta = cacheResponseMeta();
        const trpc = createHTTPHandler({ router, createContext, responseMeta, basePath: '/trpc/' });
        const front = fastPath({ router, createContext, responseMeta, basePath: '/trpc/' });
        const listening = await listen((req, res) => (fast ? front(req, res, () => trpc(req, res)) : trpc(req, res)));
        servers.push({ listening, caching });
      }
      const [fast, control] = servers.map((s) => s.listening.url) as [string, string];
      // An anonymous caller fills the anonymous entry on both servers.
      for (const base of [fast, control]) await exchange(`${base}/trpc/whoami`);
      for (const base of [fast, control]) await exchange(`${base}/trpc/whoami`, as('alice'));
      const alice = await exchange(`${fast}/trpc/whoami`, as('alice'));
      expect(alice.body).toContain('"me":"alice"');
      expect(alice).toEqual(await exchange(`${control}/trpc/whoami`, as('alice')));
    } finally {
      for (const server of servers) {
        await server.listening.close();
        server.caching.close();
      }
    }
  });
});

describe('the fast path beside mutations on one Redis', () => {
  it('never serves, to a read sent after a mutation returned, a hit from before it, with reads and mutations concurrent', async () => {
    const kind = KINDS.find((k) => k.name === 'redis');
    if (kind === undefined) throw new Error('no redis store kind');
    const store = await kind.fresh();
    const db = { v: 0 };
    const servers: Array<{ listening: Listening; caching: { close(): void }; regular: () => number }> = [];
    try {
      for (const fast of [true, false]) {
        // Two servers of one app (one prefix, one store): reads through the fast path on one, mutations on the other.
        const { t, authed, caching } = harness<Ctx>(store, { prefix: 'race', timeout: 5_000 });
        const router = t.router({
          ver: caching
            .cachedQuery(authed)
            .meta({ cache: { ttl: 60_000, tags: ['ver'] } })
            .query(async () => ({ v: db.v })),
          inc: caching
            .invalidatingMutation(authed)
            .meta({ invalidate: { tags: ['ver'] } })
            .mutation(() => {
              db.v++;
              return db.v;
            }),
        });
        caching.validateRouter(router);
        const createContext = withCacheHeaders(({ req }: { req: IncomingMessage }): Ctx => ({ user: bearer(req) }));
        const responseMeta = cacheResponseMeta();
        const trpc = createHTTPHandler({ router, createContext, responseMeta, basePath: '/trpc/' });
        const front = fastPath({ router, createContext, responseMeta, basePath: '/trpc/' });
        let regular = 0;
        const listening = await listen((req, res) =>
          fast
            ? front(req, res, () => {
                regular++;
                trpc(req, res);
              })
            : trpc(req, res),
        );
        servers.push({ listening, caching, regular: () => regular });
      }
      const [reader, writer] = servers as [(typeof servers)[0], (typeof servers)[0]];
      let returned = 0;
      let done = false;
      let reads = 0;
      const stale: string[] = [];
      const readLoop = async () => {
        while (!done) {
          const floor = returned;
          const answer = await exchange(`${reader.listening.url}/trpc/ver`, as('alice'));
          reads++;
          const v = (JSON.parse(answer.body) as { result: { data: { json?: { v: number }; v?: number } } }).result.data;
          const seen = v.json?.v ?? v.v ?? -1;
          if (seen < floor) stale.push(`read ${seen} after mutation ${floor} returned`);
        }
      };
      const writeLoop = async () => {
        for (let i = 0; i < 25; i++) {
          const response = await exchange(`${writer.listening.url}/trpc/inc`, {
            method: 'POST',
            headers: { ...as('alice').headers, 'content-type': 'application/json' },
          });
          expect(response.status).toBe(200);
          returned = i + 1;
          // Let the readers fill and hit the entry between moves.
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        done = true;
      };
      await Promise.all([readLoop(), readLoop(), readLoop(), writeLoop()]);
      expect(stale).toEqual([]);
      // The fast path answered most reads by itself: the race was between its hits and the moves.
      expect(reader.regular()).toBeLessThan(reads);
    } finally {
      for (const server of servers) {
        await server.listening.close();
        server.caching.close();
      }
    }
  });
});
