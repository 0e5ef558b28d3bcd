import * as newest from '@trpc/server';
import * as lowest from 'trpc-server-lowest';
import lowestPackage from 'trpc-server-lowest/package.json' with { type: 'json' };
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createCaching } from '../../src/index.js';
import {
  callProcedure,
  endChain,
  isProcedure,
  isProcedureBuilder,
  lazyPrefixesOf,
  loadedProcedureAt,
  metaOf,
  middlewareRole,
  middlewaresOf,
  proceduresOf,
  procedureType,
  routerHttpConfigOf,
} from '../../src/trpc/internals.js';

interface Ctx {
  user: string | null;
}
interface Meta {
  cache?: { ttl?: number; scope?: 'user' | 'public' };
  label?: string;
}

// Typed as the newest release; at run time each case uses its own release's code, which is what internals.ts reads.
type Trpc = Pick<typeof newest, 'initTRPC' | 'lazy'>;
const RELEASES: Array<{ name: string; trpc: Trpc }> = [
  { name: `@trpc/server ${lowestPackage.version} (lowest in the peer range)`, trpc: lowest as unknown as Trpc },
  { name: '@trpc/server newest installed', trpc: newest },
];

/** A small app with each thing internals.ts reads: nested and lazy routers, parsers, meta, every procedure type. */
function build({ initTRPC, lazy }: Trpc) {
  const t = initTRPC.context<Ctx>().meta<Meta>().create();
  const authenticate = t.middleware(function authenticate({ next }) {
    return next();
  });
  const base = t.procedure.use(authenticate).meta({ label: 'base' });
  const builder = base.input(z.object({ id: z.number() })).use(function audit({ next }) {
    return next();
  });
  let resolved = 0;
  const router = t.router({
    post: t.router({
      byId: builder
        .output(z.object({ id: z.number() }))
        .meta({ cache: { ttl: 5 } })
        .query(({ input }) => {
          resolved++;
          return { id: input.id };
        }),
      create: base.mutation(() => 'created'),
    }),
    events: base.subscription(async function* () {
      yield 1;
    }),
    short: base
      .use(() => Promise.resolve(endChain('from the cache')))
      .query(() => {
        resolved++;
        return 'from the resolver';
      }),
    slow: lazy(async () => t.router({ ping: t.procedure.query(() => 'pong') })),
  });
  return { t, router, builder, base, authenticate, resolved: () => resolved };
}

describe.each(RELEASES)('tRPC internals on $name', ({ trpc }) => {
  it('lists every procedure of nested routers by its dotted path', () => {
    const { router } = build(trpc);
    const procedures = proceduresOf(router);
    expect([...procedures.keys()].sort()).toEqual(['events', 'post.byId', 'post.create', 'short']);
    expect(procedures.get('post.byId')).toBe(router.post.byId);
  });

  it('names lazy routers until they load, then lists their procedures instead', async () => {
    const { router, t } = build(trpc);
    expect(lazyPrefixesOf(router)).toEqual(['slow']);
    expect(await t.createCallerFactory(router)({ user: null }).slow.ping()).toBe('pong');
    expect(lazyPrefixesOf(router)).toEqual([]);
    expect(proceduresOf(router).has('slow.ping')).toBe(true);
  });

  it('tells a query, a mutation and a subscription apart, and a builder from a procedure', () => {
    const { router, builder } = build(trpc);
    expect(procedureType(router.post.byId)).toBe('query');
    expect(procedureType(router.post.create)).toBe('mutation');
    expect(procedureType(router.events)).toBe('subscription');
    expect(procedureType(builder)).toBeUndefined();
  });

  it("reads the meta that a procedure's .meta() calls merged, on builders and procedures", () => {
    const { router, base } = build(trpc);
    expect(metaOf(router.post.byId)).toEqual({ label: 'base', cache: { ttl: 5 } });
    expect(metaOf(router.post.create)).toEqual({ label: 'base' });
    expect(metaOf(base)).toEqual({ label: 'base' });
  });

  it("lists a procedure's middlewares in run order, with tRPC's parsers tagged and its resolver step left out", () => {
    const { router, builder, authenticate } = build(trpc);
    const chain = middlewaresOf(router.post.byId);
    expect(chain.map(middlewareRole)).toEqual(['other', 'input', 'other', 'output']);
    expect(chain[0]).toBe(authenticate._middlewares[0]);
    expect((chain[2] as () => unknown).name).toBe('audit');
    // A builder has no resolver step yet: its list is the same up to where the builder stopped.
    expect(middlewaresOf(builder)).toEqual(chain.slice(0, 3));
    expect(middlewaresOf(router.post.create)).toEqual([chain[0]]);
  });

  it('loads a lazy router to find a procedure, as a call does, and finds nothing where there is nothing', async () => {
    const { router } = build(trpc);
    const ping = await loadedProcedureAt(router, 'slow.ping');
    expect(procedureType(ping)).toBe('query');
    expect(lazyPrefixesOf(router)).toEqual([]);
    expect(await loadedProcedureAt(router, 'post.byId')).toBe(router.post.byId);
    expect(await loadedProcedureAt(router, 'post.nothing')).toBeUndefined();
  });

  it('calls a procedure as the HTTP handler does, and reads the transformer the handler serializes with', async () => {
    const { router, resolved } = build(trpc);
    const before = resolved();
    const ctx = { user: null };
    const opts = { path: 'short', getRawInput: async () => undefined, ctx, type: 'query' as const, signal: undefined, batchIndex: 0 };
    expect(await callProcedure(router.short, opts)).toBe('from the cache');
    expect(resolved()).toBe(before);
    const config = routerHttpConfigOf(router);
    expect(config.output.serialize({ a: 1 })).toEqual({ a: 1 });
    expect(config.input.deserialize('x')).toBe('x');
  });

  it('tells a builder from a procedure from anything else', () => {
    const { router, builder, base } = build(trpc);
    expect([builder, base].map(isProcedureBuilder)).toEqual([true, true]);
    expect([router.post.byId, router.events].map(isProcedure)).toEqual([true, true]);
    expect([isProcedureBuilder(router.post.byId), isProcedure(builder), isProcedureBuilder(router), isProcedure(() => 1)]).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  it("seals this release's builder behind cachedQuery: .use() throws, .input()/.meta() keep it sealed, .query() serves", async () => {
    const { t, base } = build(trpc);
    const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
    const cached = caching.cachedQuery(base).input(z.object({ id: z.number() }));
    expect(() => (cached as unknown as typeof base).use(({ next }) => next())).toThrow(/after the cache/);
    expect(() => (cached.meta({}) as unknown as typeof base).use(({ next }) => next())).toThrow(/after the cache/);
    const byId = cached.query(({ input }) => input.id);
    expect(await t.createCallerFactory(t.router({ byId }))({ user: 'alice' }).byId({ id: 7 })).toBe(7);
  });

  it('ends the chain with a value from a middleware, without running the resolver', async () => {
    const { router, t, resolved } = build(trpc);
    expect(await t.createCallerFactory(router)({ user: null }).short()).toBe('from the cache');
    expect(resolved()).toBe(0);
  });

  it('refuses a value that is not a router or a procedure instead of reading it as empty', () => {
    expect(() => proceduresOf({})).toThrow(/tRPC v11 router/);
    expect(() => proceduresOf({ _def: {} })).toThrow(/procedures is missing/);
    expect(() => middlewaresOf(() => 1)).toThrow(/tRPC v11 procedure/);
    expect(middlewareRole('not a function')).toBe('other');
  });
});

describe('tRPC releases under test', () => {
  it('include 11.0.0, the lowest release the peer range allows, and a newer one', () => {
    expect(lowestPackage.version).toBe('11.0.0');
    expect(newest.TRPCError).not.toBe(lowest.TRPCError);
  });
});
