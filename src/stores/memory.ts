import { Keyv, type KeyvStoreAdapter, type StoredData } from 'keyv';
import { LRUCache } from 'lru-cache';
import { positiveInteger } from '../options.js';

/** Entries the default store holds unless told otherwise. */
export const DEFAULT_MAX_ENTRIES = 10_000;

type Stored = StoredData<unknown> & object;

/**
 * Version keys are `{prefix}:v:…`, and a prefix never holds `:` (createCaching
 * checks it), so the second segment alone tells a version from an entry.
 */
function isVersionKey(key: string): boolean {
  const at = key.indexOf(':');
  return at !== -1 && key.startsWith(':v:', at);
}

/**
 * The default store: a Keyv adapter over two bounded LRUs, one for entries
 * and one for version keys, so that a flood of distinct inputs evicts old
 * entries instead of growing the heap, and never evicts the versions that
 * other entries are checked against. A version that went missing would read
 * as its initial token again; keeping versions apart means only a flood of
 * distinct invalidated users or tags can evict one, never a flood of inputs.
 * It offers `getMany` and `setMany`, so a hit is one synchronous lookup pass
 * rather than one promise per key.
 */
class BoundedMemoryAdapter implements KeyvStoreAdapter {
  opts: { maxEntries: number; maxVersions: number };
  namespace?: string | undefined;
  private readonly entries: LRUCache<string, Stored>;
  private readonly versions: LRUCache<string, Stored>;
  private readonly listeners = new Map<string, Array<(...args: unknown[]) => void>>();

  constructor(maxEntries: number, maxVersions: number) {
    this.opts = { maxEntries, maxVersions };
    this.entries = new LRUCache({ max: maxEntries });
    this.versions = new LRUCache({ max: maxVersions });
  }

  /** Entries held (version keys not counted). */
  get size(): number {
    return this.entries.size;
  }

  /** Version keys held. */
  get versionCount(): number {
    return this.versions.size;
  }

  /** Every key and value held, entries first: for inspection, not for the hot path. */
  *rows(): Generator<[string, unknown]> {
    yield* this.entries.entries();
    yield* this.versions.entries();
  }

  private lruOf(key: string): LRUCache<string, Stored> {
    return isVersionKey(key) ? this.versions : this.entries;
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.lruOf(key).get(key) as StoredData<Value> | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const rows: Array<StoredData<Value | undefined>> = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      rows[i] = this.lruOf(key).get(key) as StoredData<Value | undefined>;
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

  on(event: string, listener: (...args: unknown[]) => void): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return this;
  }
}

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /** Most cached results held; the least recently used go first. Default 10 000. */
  maxEntries?: number;
  /**
   * Most version keys held, apart from the entries: one per user, tag or path
   * that was invalidated within `versionTtl`. Default: `maxEntries`.
   */
  maxVersions?: number;
}

/**
 * Creates the bounded in-memory Keyv store that `createCaching` uses when no
 * `store` is given. Exported so that an app can size it, share it, or inspect it.
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
  return new Keyv({
    store: new BoundedMemoryAdapter(maxEntries, maxVersions),
    serialize: undefined,
    deserialize: undefined,
    namespace: '',
  });
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
