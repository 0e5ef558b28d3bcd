/**
 * The procedures compared, side by side in one router: trpc-caching, the
 * peers a user would pick instead (bentocache, cacheable) wrapped in an
 * equivalent procedure keyed by user and input, an adrf-caching-style lookup
 * (read the version, then the entry), and the limits (a precomputed constant,
 * the uncached resolver).
 */
import { createHash } from 'node:crypto';
import type { Keyv } from 'keyv';
import { type CachingError, type CachingOptions, createCaching } from '../src/index.js';
import { authed, type BenchCtx, createT, listInput, makeDatedList, makeList, peerKey } from './fixtures.js';

const TTL = 5 * 60_000;

/** The part of bentocache's API the peer procedure uses. */
export interface BentoLike {
  getOrSet<T>(options: { key: string; factory: () => T; ttl: number }): Promise<T>;
}

/** The part of cacheable's API the peer procedure uses. */
export interface CacheableLike {
  getOrSet<T>(key: string, factory: () => Promise<T>, options: { ttl: number }): Promise<T | undefined>;
}

/** The stores of one side of the comparison (all in memory, or all on one Redis). */
export interface BenchStores {
  /** The Keyv store trpc-caching uses; the adrf-style lookup uses it too. */
  readonly keyv: Keyv;
  readonly bento: BentoLike;
  readonly cacheable: CacheableLike;
}

/**
 * adrf-caching's read path, on a Keyv: one round trip for the user's version,
 * a second one for the entry whose key embeds that version.
 */
async function adrfLookup<T>(keyv: Keyv, user: string, input: unknown, resolve: () => T): Promise<T> {
  const version = ((await keyv.get<string>(`adrf:v:${user}`)) as string | undefined) ?? '0';
  const key = `adrf:q:list:${user}:${createHash('md5').update(JSON.stringify(input)).digest('hex')}:${version}`;
  const cached = (await keyv.get<string>(key)) as string | undefined;
  if (cached !== undefined) return JSON.parse(cached) as T;
  const data = resolve();
  await keyv.set(key, JSON.stringify(data), TTL);
  return data;
}

/**
 * Stores for a benchmark of trpc-caching alone: `keyv`, and peers that throw `unused` if a peer's procedure
 * is called.
 */
export function keyvOnly(keyv: Keyv, unused: string): BenchStores {
  const peer = {
    getOrSet(): never {
      throw new Error(unused);
    },
  };
  return { keyv, bento: peer, cacheable: peer };
}

/** Waits until a store's connection takes writes (calls before would bypass the cache); `ttl` is the probe key's. */
export async function storeConnected(store: Keyv, ttl?: number): Promise<void> {
  for (let i = 0; i < 500 && !(await store.set('bench:probe', '1', ttl)); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** A router with every variant of the list procedure on `stores`, and a caller factory; `options` are createCaching's. */
export function createBenchApp(stores: BenchStores, options: Partial<CachingOptions<BenchCtx>> = {}) {
  const t = createT();
  const base = authed(t);
  const errors: CachingError[] = [];
  const caching = createCaching<BenchCtx>({
    user: (ctx) => ctx.user?.id,
    store: stores.keyv,
    onError: (error) => errors.push(error),
    ...options,
  });
  const cachedQuery = caching.cachedQuery(base);
  const CONSTANT = makeList(1);
  // The limit on a remote store: the same procedure doing one raw read of the entry, set once the entry exists.
  let rawRead: () => Promise<unknown> = async () => CONSTANT;
  // While set, the `stale` resolver waits on it: its background refresh stays in flight and every read is served STALE.
  let refreshHeld: Promise<void> | undefined;
  let staleRuns = 0;

  const router = t.router({
    constant: base.input(listInput).query(() => CONSTANT),
    rawRead: base.input(listInput).query(() => rawRead()),
    uncached: base.input(listInput).query(({ input }) => makeList(input.page)),
    cached: cachedQuery.input(listInput).query(({ input }) => makeList(input.page)),
    cachedDates: cachedQuery.input(listInput).query(({ input }) => makeDatedList(input.page)),
    stale: cachedQuery
      .meta({ cache: { ttl: 1, staleWhileRevalidate: 10 * 60_000 } })
      .input(listInput)
      .query(async ({ input }) => {
        staleRuns++;
        await refreshHeld;
        return makeList(input.page);
      }),
    bento: base
      .input(listInput)
      .query(({ ctx, input }) =>
        stores.bento.getOrSet({ key: peerKey('list', ctx.user.id, input), factory: () => makeList(input.page), ttl: TTL }),
      ),
    cacheable: base
      .input(listInput)
      .query(({ ctx, input }) =>
        stores.cacheable.getOrSet(peerKey('list', ctx.user.id, input), async () => makeList(input.page), { ttl: TTL }),
      ),
    adrf: base.input(listInput).query(({ ctx, input }) => adrfLookup(stores.keyv, ctx.user.id, input, () => makeList(input.page))),
    save: base.input(listInput).mutation(() => ({ saved: true })),
    saveInvalidating: caching
      .invalidatingMutation(base)
      .input(listInput)
      .mutation(() => ({ saved: true })),
  });
  const caller = (userId: string) => t.createCallerFactory(router)({ user: { id: userId } });
  const setRawRead = (read: () => Promise<unknown>) => {
    rawRead = read;
  };
  /** Holds the `stale` resolver until the returned release is called; `staleRuns` counts its runs. */
  const holdRefreshes = (): (() => void) => {
    let release = () => {};
    refreshHeld = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      refreshHeld = undefined;
      release();
    };
  };
  return { router, caller, caching, errors, setRawRead, holdRefreshes, staleRuns: () => staleRuns };
}

export type BenchCaller = ReturnType<ReturnType<typeof createBenchApp>['caller']>;
