import { Keyv, type KeyvStoreAdapter, type StoredData } from 'keyv';
import { LRUCache } from 'lru-cache';

/**
 * The default store: a Keyv adapter over a bounded LRU, so that a flood of
 * distinct inputs evicts old entries instead of growing the heap. It offers
 * `getMany` and `setMany`, so a hit is one synchronous lookup pass rather than
 * one promise per key.
 */
class BoundedMemoryAdapter implements KeyvStoreAdapter {
  opts: { maxEntries: number };
  namespace?: string | undefined;
  private readonly lru: LRUCache<string, StoredData<unknown> & object>;
  private readonly listeners = new Map<string, Array<(...args: unknown[]) => void>>();

  constructor(maxEntries: number) {
    this.opts = { maxEntries };
    this.lru = new LRUCache({ max: maxEntries });
  }

  get size(): number {
    return this.lru.size;
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.lru.get(key) as StoredData<Value> | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const rows: Array<StoredData<Value | undefined>> = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) rows[i] = this.lru.get(keys[i] as string) as StoredData<Value | undefined>;
    return rows;
  }

  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    this.lru.set(key, value as StoredData<unknown> & object, ttl ? { ttl } : undefined);
    return true;
  }

  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    for (const { key, value, ttl } of entries) {
      this.lru.set(key, value as StoredData<unknown> & object, ttl ? { ttl } : undefined);
    }
  }

  async delete(key: string): Promise<boolean> {
    return this.lru.delete(key);
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    let any = false;
    for (const key of keys) any = this.lru.delete(key) || any;
    return any;
  }

  async has(key: string): Promise<boolean> {
    return this.lru.has(key);
  }

  async clear(): Promise<void> {
    this.lru.clear();
  }

  on(event: string, listener: (...args: unknown[]) => void): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return this;
  }
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
export function createMemoryStore(options: { maxEntries?: number } = {}): Keyv {
  const maxEntries = options.maxEntries ?? 10_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError(`trpc-caching: maxEntries must be a positive integer, got ${String(maxEntries)}`);
  }
  // Values stay objects in memory (no JSON round trip); entries are immutable strings, so nothing is shared.
  return new Keyv({ store: new BoundedMemoryAdapter(maxEntries), serialize: undefined, deserialize: undefined, namespace: '' });
}

/** Number of keys held by a store made by {@link createMemoryStore}; undefined for other stores. */
export function memoryStoreSize(store: Keyv): number | undefined {
  const adapter: unknown = store.store;
  return adapter instanceof BoundedMemoryAdapter ? adapter.size : undefined;
}
