import { type Deserialize, Keyv, type KeyvStoreAdapter, type Serialize } from 'keyv';
import { CachingConfigError } from '../errors.js';
import { clusterRefusal } from './cluster-clients.js';

// Keyv types its (de)serializers as generic in the value; trpc-caching's values are always strings, stored as they are.
export const serialize: Serialize = (data) => (typeof data.value === 'string' ? data.value : JSON.stringify(data.value));
export const deserialize = ((text: string) => ({ value: text })) as Deserialize;

const OPTION = 'createRawStringStore(adapter)';
const INSTEAD = 'pass `new Keyv(adapter)` as `store` instead: any Keyv works, its envelope carries the expiry';

/**
 * Why an adapter cannot hold raw strings, or undefined when it can. Only the Redis-protocol adapters qualify:
 * they return a string exactly as it was written and expire it by themselves (`PX`). Others are refused rather
 * than guessed at: some apply no TTL (SQL, Mongo, a Map: keys would never expire), `@keyv/memcache` parses what
 * it reads as JSON inside its client's callback (a raw entry would crash the process, out of the cache's reach)
 * and rounds TTLs down to whole seconds (under one second: never expires).
 */
function refusal(adapter: unknown): string | undefined {
  if (adapter instanceof Keyv) {
    return 'got a Keyv, expected the adapter inside it (`new KeyvRedis(client)`); or pass that Keyv as `store` as it is';
  }
  if (adapter instanceof Map) return `a Map applies no TTL, so entries would never expire; use createMemoryStore() or ${INSTEAD}`;
  const candidate = adapter as { opts?: { dialect?: unknown; useRedisSets?: unknown }; get?: unknown; set?: unknown } | null;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.get !== 'function' || typeof candidate.set !== 'function') {
    return 'expected a Keyv store adapter such as `new KeyvRedis(client)`';
  }
  const onCluster = clusterRefusal(adapter);
  if (onCluster !== undefined) return onCluster;
  const name = (candidate as { constructor?: { name?: unknown } }).constructor?.name;
  const called = typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'this adapter';
  if (candidate.opts?.useRedisSets === true) {
    return `${called} with \`useRedisSets: true\` adds every key it writes to a Redis set that never expires, so the set grows for ever; create it with \`{ useRedisSets: false }\``;
  }
  if (candidate.opts?.dialect === 'redis') return undefined;
  if (name === 'KeyvMemcache') {
    return `@keyv/memcache parses every value it reads as JSON, and a raw entry would throw inside its client, crashing the process; ${INSTEAD}`;
  }
  return `${called} is not a Redis adapter (\`opts.dialect\` is not 'redis'): raw strings need an adapter that returns them unchanged and expires them itself, as @keyv/redis and @keyv/valkey do; ${INSTEAD}`;
}

/**
 * Wraps a Redis adapter (`@keyv/redis`'s `KeyvRedis`, `@keyv/valkey` with
 * `useRedisSets: false`) in the Keyv that trpc-caching reads fastest: its
 * strings are stored as they are, and TTLs are left to the adapter.
 *
 * trpc-caching only ever stores strings (entries with their own header, and
 * version tokens), and passes every TTL to the adapter. Keyv's default
 * serializer would wrap each string in a JSON envelope with an `expires`
 * field and parse the whole entry back out of it on every hit; here the
 * string goes to the store as it is and the adapter's own TTL (`PX` on Redis)
 * expires it. A hit then parses nothing but the entry itself.
 *
 * Throws a {@link CachingConfigError} for any other adapter, and for one on a
 * Redis Cluster client (use `createRedisStore({ cluster })`), saying what to use
 * instead: a plain `new Keyv(adapter)` works with every Keyv adapter. Use the
 * returned Keyv only for trpc-caching's keys: values written through it carry
 * no `expires` of Keyv's.
 *
 * @example
 * ```ts
 * import KeyvRedis, { createClient } from '@keyv/redis';
 * const redis = createClient({ url: process.env.REDIS_URL, disableOfflineQueue: true });
 * const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, store: createRawStringStore(new KeyvRedis(redis)) });
 * redis.connect().catch(() => {});
 * ```
 */
export function createRawStringStore(adapter: KeyvStoreAdapter): Keyv {
  const refused = refusal(adapter);
  if (refused !== undefined) throw new CachingConfigError(OPTION, refused);
  return new Keyv({
    store: adapter,
    namespace: '',
    serialize,
    deserialize,
  });
}
