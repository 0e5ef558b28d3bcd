import { type Deserialize, Keyv, type KeyvStoreAdapter, type Serialize } from 'keyv';

// Keyv types its (de)serializers as generic in the value; trpc-caching's values are always strings.
const serialize: Serialize = (data) => (typeof data.value === 'string' ? data.value : JSON.stringify(data.value));
const deserialize = ((text: string) => ({ value: text })) as Deserialize;

/**
 * Wraps a Keyv store adapter that expires keys by itself (`@keyv/redis`'s
 * `KeyvRedis`, `@keyv/valkey`) in the Keyv that trpc-caching reads fastest.
 *
 * trpc-caching only ever stores strings (entries with their own header, and
 * version tokens), and passes every TTL to the adapter. Keyv's default
 * serializer would wrap each string in a JSON envelope with an `expires`
 * field and parse the whole entry back out of it on every hit; here the
 * string goes to the store as it is and the adapter's own TTL (`PX` on Redis)
 * expires it. A hit then parses nothing but the entry itself.
 *
 * Use it only for trpc-caching's keys and only with an adapter that applies
 * TTLs itself: values written through it carry no `expires` of Keyv's.
 *
 * @example
 * ```ts
 * import KeyvRedis, { createClient } from '@keyv/redis';
 * const redis = createClient({ url: process.env.REDIS_URL, disableOfflineQueue: true });
 * const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, store: createAdapterStore(new KeyvRedis(redis)) });
 * redis.connect().catch(() => {});
 * ```
 */
export function createAdapterStore(adapter: KeyvStoreAdapter): Keyv {
  return new Keyv({
    store: adapter,
    namespace: '',
    serialize,
    deserialize,
  });
}
