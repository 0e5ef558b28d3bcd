import { Keyv, type KeyvOptions, type KeyvStoreAdapter, type StoredData } from 'keyv';
import { LRUCache } from 'lru-cache';
import { positiveInteger } from '../options.js';

/** Entries the default store holds unless told otherwise. */
export const DEFAULT_MAX_ENTRIES = 10_000;

type Stored = StoredData<unknown> & object;

/** Tells a version key from an entry key, for {@link partitionVersions}. */
export type VersionKeyTest = (key: string) => boolean;

/**
 * The default store: a Keyv adapter over two bounded LRUs, one for entries
 * and one for version keys, so that a flood of distinct inputs evicts old
 * entries instead of growing the heap, and never evicts the versions that
 * other entries are checked against. Only a flood of distinct invalidated
 * users or tags can evict a version, and an evicted version costs misses.
 * It offers `getMany` and `setMany`, so a hit is one synchronous lookup pass
 * rather than one promise per key.
 *
 * The adapter knows nothing of the key layout: until {@link partitionVersions}
 * tells it which keys are versions, every key goes to the entry LRU.
 */
class BoundedMemoryAdapter implements KeyvStoreAdapter {
  opts: { maxEntries: number; maxVersions: number };
  /** Set by Keyv to its own namespace, which it then puts before every key (`{namespace}:{key}`). */
  namespace?: string | undefined;
  private readonly entries: LRUCache<string, Stored>;
  private readonly versions: LRUCache<string, Stored>;
  private isVersion: VersionKeyTest | undefined;

  constructor(maxEntries: number, maxVersions: number) {
    this.opts = { maxEntries, maxVersions };
    this.entries = new LRUCache({ max: maxEntries });
    this.versions = new LRUCache({ max: maxVersions });
  }

  /** Adds a test of version keys; with several caching instances on one store, a key is a version if any test says so. */
  addVersionKeyTest(test: VersionKeyTest): void {
    const before = this.isVersion;
    this.isVersion = before === undefined ? test : (key) => before(key) || test(key);
  }

  /** Entries held (version keys not counted). */
  get size(): number {
    return this.entries.size;
  }

  /** Every key and value held, entries first: for inspection, not for the hot path. */
  *rows(): Generator<[string, unknown]> {
    yield* this.entries.entries();
    yield* this.versions.entries();
  }

  private lruOf(key: string): LRUCache<string, Stored> {
    const isVersion = this.isVersion;
    if (isVersion === undefined) return this.entries;
    if (isVersion(key)) return this.versions;
    // Under a Keyv namespace the adapter sees `{namespace}:{key}`; the test knows only the cache's own keys.
    const namespace = this.namespace;
    const under = namespace !== undefined && namespace !== '' && key.startsWith(namespace) && key.charCodeAt(namespace.length) === 58; // ':'
    return under && isVersion(key.slice(namespace.length + 1)) ? this.versions : this.entries;
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.lruOf(key).get(key) as StoredData<Value> | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    return this.rowsNow(keys) as Array<StoredData<Value | undefined>>;
  }

  /** The rows of `keys`, read at once (what getMany resolves to). */
  rowsNow(keys: readonly string[]): unknown[] {
    const rows: unknown[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      rows[i] = this.lruOf(key).get(key);
    }
    return rows;
  }

  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    this.lruOf(key).set(key, value as Stored, ttl ? { ttl } : undefined);
    return true;
  }

  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    for (const { key, value, ttl } of entries) {
      this.lruOf(key).set(key, value as Stored, ttl ? { ttl } : undefined);
    }
  }

  async delete(key: string): Promise<boolean> {
    return this.lruOf(key).delete(key);
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    let any = false;
    for (const key of keys) any = this.lruOf(key).delete(key) || any;
    return any;
  }

  async has(key: string): Promise<boolean> {
    return this.lruOf(key).has(key);
  }

  async clear(): Promise<void> {
    this.entries.clear();
    this.versions.clear();
  }

  /** Keyv's adapter type asks for `on`, to forward `error` events; an LRU in the process has none to forward. */
  on(): this {
    return this;
  }
}

/**
 * Options of {@link createMemoryStore}.
 *
 * @example
 * ```ts
 * // Many users invalidated per day, few distinct inputs each: room for more versions than entries.
 * const store = createMemoryStore({ maxEntries: 20_000, maxVersions: 100_000 });
 * ```
 */
export interface MemoryStoreOptions {
  /**
   * Most cached results held; the least recently used go first.
   * @default 10_000
   */
  maxEntries?: number;
  /**
   * Most version keys held, apart from the entries: one per user, tag or path
   * that was invalidated within `versionTtl`. An evicted version costs misses, never stale data.
   * @default maxEntries
   */
  maxVersions?: number;
}

/**
 * Creates the bounded in-memory Keyv store that `createCaching` uses when no
 * `store` is given. Exported so that an app can size it or share it between
 * caching instances (each keeps its version keys apart from the entries).
 *
 * @example
 * ```ts
 * const caching = createCaching({ store: createMemoryStore({ maxEntries: 50_000 }), user: (ctx) => ctx.user?.id });
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Keyv {
  const maxEntries = positiveInteger('maxEntries', options.maxEntries ?? DEFAULT_MAX_ENTRIES);
  const maxVersions = positiveInteger('maxVersions', options.maxVersions ?? maxEntries);
  // Values stay objects in memory (no JSON round trip); entries are immutable strings, so nothing is shared.
  // `serialize: undefined` is how Keyv 5 is told not to serialize; its option types do not spell that out.
  const keyvOptions = {
    store: new BoundedMemoryAdapter(maxEntries, maxVersions),
    serialize: undefined,
    deserialize: undefined,
    namespace: '',
  };
  return new Keyv(keyvOptions as unknown as KeyvOptions);
}

/**
 * Tells a store made by {@link createMemoryStore} which keys are versions, so that it keeps them in their own LRU;
 * does nothing to any other store. createCaching calls it with its own key test before the store is used: keys
 * already held stay where they are. Several caching instances on one store each add their test.
 */
export function partitionVersions(store: Keyv, isVersionKey: VersionKeyTest): void {
  const adapter: unknown = store.store;
  if (adapter instanceof BoundedMemoryAdapter) adapter.addVersionKeyTest(isVersionKey);
}

/** Number of entries (cached results, not version keys) held by a store made by {@link createMemoryStore}; undefined for other stores. */
export function memoryStoreSize(store: Keyv): number | undefined {
  const adapter: unknown = store.store;
  return adapter instanceof BoundedMemoryAdapter ? adapter.size : undefined;
}

/** Every key and value held by a store made by {@link createMemoryStore}, versions included; undefined for other stores. */
export function memoryStoreRows(store: Keyv): Array<[string, unknown]> | undefined {
  const adapter: unknown = store.store;
  return adapter instanceof BoundedMemoryAdapter ? [...adapter.rows()] : undefined;
}

/**
 * Reads keys of a store made by {@link createMemoryStore} at once: the values `store.getMany(keys)` would resolve to,
 * without Keyv's promise chain (on a hit, Keyv's own work cost more than the read). Undefined for any other store.
 * The reader answers undefined, so that the caller asks Keyv, whenever Keyv would add something to the read: a key
 * prefix (a namespace), hooks on getMany, its stats, or a row it must handle itself (expired, which Keyv deletes, or
 * serialized text).
 *
 * @example
 * ```ts
 * const readNow = memoryReader(store);
 * const rows = readNow?.(keys) ?? (await store.getMany(keys));
 * ```
 */
export function memoryReader(store: Keyv): ((keys: readonly string[]) => unknown[] | undefined) | undefined {
  const adapter: unknown = store.store;
  if (!(adapter instanceof BoundedMemoryAdapter)) return undefined;
  return (keys) => {
    if (store.store !== adapter || (store.namespace && store.useKeyPrefix) || store.stats.enabled) return undefined;
    // Keyv 5 keeps its hooks in this map; a Keyv without it (another major) is always asked.
    const hooks = (store.hooks as unknown as { _hookHandlers?: unknown })._hookHandlers;
    if (!(hooks instanceof Map) || hooks.has('preGetMany') || hooks.has('postGetMany')) return undefined;
    const rows = adapter.rowsNow(keys);
    const now = Date.now();
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (row === undefined || row === null) {
        rows[i] = undefined;
        continue;
      }
      if (typeof row !== 'object') return undefined;
      const { expires, value } = row as { expires?: unknown; value?: unknown };
      if (typeof expires === 'number' && now > expires) return undefined;
      rows[i] = value;
    }
    return rows;
  };
}
