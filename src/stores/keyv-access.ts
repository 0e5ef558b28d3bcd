import type { Keyv } from 'keyv';

/** One string to store and how long the store keeps it, in ms. */
export interface StoreWrite {
  readonly key: string;
  readonly value: string;
  readonly ttl: number;
}

/** The three Keyv calls the cache makes, each addressing the same stored key for the same cache key. */
export interface KeyvAccess {
  /** Reads keys in one call (one MGET on Redis); a row is undefined when its key is absent. */
  getMany(keys: string[]): Promise<unknown[]>;
  /** Writes one key. Resolves to false when Keyv knows the write failed. */
  set(key: string, value: string, ttl: number): Promise<boolean>;
  /** Writes keys in one call where the adapter can; Keyv answers booleans for some adapters, nothing for others. */
  setMany(entries: readonly StoreWrite[]): Promise<boolean[] | undefined>;
}

/**
 * Calls a Keyv so that reads and writes of a cache key reach one stored key,
 * whatever the Keyv's `namespace`.
 *
 * Keyv 5 prefixes keys with `{namespace}:` in two ways: `getMany` always adds
 * the prefix, while `set` and `setMany` leave a key alone when it already
 * starts with `{namespace}:`. A cache key that starts that way (the prefix
 * equal to the namespace: `trpc-caching` under `namespace: 'trpc-caching'`)
 * would be written where no read ever looks, and every read would miss
 * without an error. Writes therefore pass the key `getMany` reads,
 * `{namespace}:{key}`, which `set` keeps as it is. Reads go through untouched,
 * so a hit costs what it did: one `getMany`, no extra round trip and no
 * allocation here. Keys whose stored address was already the same on both
 * paths (every key that does not start with `{namespace}:`) keep it, so a
 * deployment's existing entries stay readable.
 */
export function keyvAccess(keyv: Keyv): KeyvAccess {
  // Read at each write: `keyv.namespace` and `keyv.useKeyPrefix` have setters, and the app owns the Keyv.
  const address = (key: string): string => {
    const namespace = keyv.namespace;
    return namespace && keyv.useKeyPrefix ? `${namespace}:${key}` : key;
  };
  return {
    getMany: (keys) => keyv.getMany(keys),
    set: (key, value, ttl) => keyv.set(address(key), value, ttl),
    setMany: (entries) => keyv.setMany(entries.map(({ key, value, ttl }) => ({ key: address(key), value, ttl }))),
  };
}
