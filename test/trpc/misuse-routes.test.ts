// Adversarial review of issue 16 part 2: every route a hostile or careless user could take to get a middleware
// after the cache. Each test builds `me` some way, lets alice fill the cache, then asks as bob: bob must never get
// alice's data (an error is fine, a throw at build time is fine).
import { type AnyRouter, initTRPC, lazy, TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { type CachingMeta, createCaching } from '../../src/index.js';

type Ctx = { token: string | null; user?: string };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
const isAuthed = t.middleware(function isAuthed({ ctx, next }) {
  if (!ctx.token) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { user: ctx.token } });
});
const authed = t.procedure.use(isAuthed);
// biome-ignore lint/suspicious/noExplicitAny: hostile code, written in JS or cast away from the types
type Any = any;

const resolve = ({ ctx }: { ctx: { user?: string } }) => `private data of ${ctx.user}`;

function newCaching() {
  return createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
}

/** Alice then bob then alice through `router`'s caller at `path`: what each got (value or error message). */
async function aliceBob(router: AnyRouter, path: string[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const token of ['alice', 'bob', 'alice']) {
    const me = path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], t.createCallerFactory(router)({ token }));
    out.push(await (me as () => Promise<unknown>)().catch((error: Error) => `error: ${error.message}`));
  }
  return out;
}

/** Builds with `build`; a throw at build time is a refusal (safe). */
async function attempt(build: (caching: ReturnType<typeof newCaching>) => unknown, validate: boolean): Promise<unknown[]> {
  const caching = newCaching();
  let router: AnyRouter;
  try {
    router = t.router({ me: build(caching) as Any });
    if (validate) caching.validateRouter(router);
  } catch (error) {
    return [`refused when built: ${(error as Error).message.slice(0, 60)}`];
  }
  return aliceBob(router, ['me']);
}

const leaked = (outcomes: unknown[]) => outcomes[1] === 'private data of alice';

describe('routes to a middleware after the cache', () => {
  const routes: Record<string, (caching: ReturnType<typeof newCaching>) => unknown> = {
    'JS .use() after .input()': (c) => (c.cachedQuery(t.procedure).input((x: unknown) => x) as Any).use(isAuthed).query(resolve),
    'JS .use() after .meta().meta()': (c) => (c.cachedQuery(t.procedure).meta({}).meta({}) as Any).use(isAuthed).query(resolve),
    'JS .use() after .output() and .experimental_caller()': (c) =>
      (c.cachedQuery(t.procedure).output((x: unknown) => x) as Any)
        .experimental_caller(async ({ invoke, args }: Any) => invoke(args[0]))
        .use(isAuthed)
        .query(resolve),
    'spread of the sealed builder, then .use()': (c) => ({ ...(c.cachedQuery(t.procedure) as Any) }).use(isAuthed).query(resolve),
    'Object.assign(t.procedure-like, sealed) then .use()': (c) =>
      Object.assign(Object.create(null), t.procedure, c.cachedQuery(t.procedure) as Any)
        .use(isAuthed)
        .query(resolve),
    't.procedure.use.call(sealed, ...) (tRPC reads its closure, not this)': (c) =>
      ((t.procedure as Any).use.call(c.cachedQuery(t.procedure), isAuthed) as Any).query(resolve),
    'unstable_concat of the caching builder into a base, then .use()': (c) =>
      (t.procedure as Any).unstable_concat(c.cachedQuery(t.procedure)).use(isAuthed).query(resolve),
    'concat into a builder of another initTRPC instance, then .use()': (c) => {
      const t2 = initTRPC.context<Ctx>().create();
      return (t2.procedure as Any).concat(c.cachedQuery(t.procedure)).use(isAuthed).query(resolve);
    },
    'a finished cached procedure concatenated into a base, then .use()': (c) =>
      (t.procedure as Any)
        .concat(c.cachedQuery(t.procedure).query(() => 'never'))
        .use(isAuthed)
        .query(resolve),
    "the cache middleware lifted from a finished procedure's _def into t.procedure.use({ _middlewares })": (c) => {
      const finished = c.cachedQuery(t.procedure).query(resolve) as Any;
      const chain = finished._def.middlewares.slice(0, -1);
      return (t.procedure as Any).use({ _middlewares: chain }).use(isAuthed).query(resolve);
    },
    "the cache middleware lifted from experimental_caller's _def": (c) => {
      let lifted: Any;
      const probe = (c.cachedQuery(t.procedure) as Any)
        .experimental_caller(async ({ _def }: Any) => {
          lifted = _def.middlewares;
        })
        .query(resolve);
      probe({});
      return (t.procedure as Any)
        .use({ _middlewares: lifted.slice(0, -1) })
        .use(isAuthed)
        .query(resolve);
    },
    'cachedQuery(cachedQuery(base)) (two caches)': (c) => (c.cachedQuery(c.cachedQuery(authed) as Any) as Any).query(resolve),
    'another instance caching a sealed builder': (c) =>
      (newCaching().cachedQuery(c.cachedQuery(t.procedure) as Any) as Any).use(isAuthed).query(resolve),
  };
  // Known limitation, found by this review: code that reads tRPC's internal `_def` of a finished procedure can lift the
  // real cache middleware out of it and put a middleware after it; only validateRouter (or a first call of a validated
  // router) sees the chain. `it.fails` keeps the leak on record: it turns red once it is refused without validateRouter.
  const internals = (name: string) => name.includes('_def');
  for (const [name, build] of Object.entries(routes)) {
    for (const validate of [false, true]) {
      const test = internals(name) && !validate ? it.fails : it;
      test(`${name}, validateRouter ${validate}: bob never gets alice's data`, async () => {
        const outcomes = await attempt(build, validate);
        expect(leaked(outcomes)).toBe(false);
      });
    }
  }
});

describe('legitimate compositions keep working', () => {
  it('a middleware in the base after auth that changes ctx.user is keyed by the changed user', async () => {
    const caching = newCaching();
    const impersonate = t.middleware(({ ctx, next }) => next({ ctx: { user: ctx.user === 'admin' ? 'alice' : ctx.user } }));
    const me = caching.cachedQuery(authed.use(impersonate)).query(resolve);
    const router = t.router({ me });
    caching.validateRouter(router);
    const call = (token: string) => t.createCallerFactory(router)({ token }).me();
    expect(await call('bob')).toBe('private data of bob');
    expect(await call('admin')).toBe('private data of alice');
    expect(await call('bob')).toBe('private data of bob');
  });

  it('a sub-router createCaller, a lazy router merging another lazy router, nested twice: each user gets their own', async () => {
    const caching = newCaching();
    const inner = t.router({ me: caching.cachedQuery(authed).query(resolve) });
    const lazyInner = lazy(async () => t.mergeRouters(t.router({ deep: lazy(async () => inner) })));
    const root = t.router({ a: lazyInner });
    caching.validateRouter(root);
    const served = t.mergeRouters(t.router({ api: t.router({ v1: root }) }));
    expect(await aliceBob(served, ['api', 'v1', 'a', 'deep', 'me'])).toEqual([
      'private data of alice',
      'private data of bob',
      'private data of alice',
    ]);
    expect(await aliceBob(inner, ['me'])).toEqual(['private data of alice', 'private data of bob', 'private data of alice']);
  });
});
