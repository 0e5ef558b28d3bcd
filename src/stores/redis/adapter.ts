import { EventEmitter } from 'node:events';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import type { RedisBackend } from './backend.js';

/**
 * The Keyv adapter over a {@link RedisBackend}: keys reach Redis exactly as
 * Keyv passes them (the Keyv around it adds no namespace), values are stored
 * as they are, and a failed command becomes an `error` event, as Keyv's own
 * adapters do, with an empty answer.
 *
 * `getMany` is the read path of every cache hit: {@link RedisAdapter.read}.
 */
export class RedisAdapter extends EventEmitter implements KeyvStoreAdapter {
  /** Keyv reads `opts`; `dialect` tells createRawStringStore and others that this speaks Redis. */
  readonly opts = { dialect: 'redis' } as const;
  namespace?: string | undefined;

  constructor(private readonly backend: RedisBackend) {
    super();
  }

  /**
   * The read path: the rows of `keys`, in order, undefined where absent. One
   * MGET on a node; one MGET per slot, all at once, on a Cluster.
   */
  read(keys: string[]): Promise<Array<string | undefined>> {
    return this.backend.read(keys);
  }

  /**
   * Rejects when Redis did not answer: the failure belongs to this call alone (an `error` event would make the store
   * guard count every call in flight as failed, and on a Cluster one dead node would fail reads from healthy ones).
   */
  getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    return this.read(keys) as Promise<Array<StoredData<Value | undefined>>>;
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return (await this.getMany<Value>([key]))[0] as StoredData<Value> | undefined;
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  /** Writes one key; false (and an `error` event) when Redis did not take it. */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    try {
      await this.backend.set(key, String(value), ttl);
      return true;
    } catch (error) {
      this.emit('error', error);
      return false;
    }
  }

  /** Writes keys; rejects unless every one landed (Keyv then emits the error and answers `false` for each). */
  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    await this.backend.setMany(entries.map(({ key, value, ttl }) => ({ key, value: String(value), ttl })));
  }

  async delete(key: string): Promise<boolean> {
    return this.deleteMany([key]);
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    try {
      return (await this.backend.delete(keys)) > 0;
    } catch (error) {
      this.emit('error', error);
      return false;
    }
  }

  /**
   * Refused: the store cannot tell trpc-caching's keys from others without a
   * scan, and flushing the database would take the app's other data with it.
   */
  async clear(): Promise<void> {
    throw new Error('createRedisStore does not clear: call caching.invalidate({ all: true }), which makes every entry a miss in one write');
  }

  async disconnect(): Promise<void> {
    await this.backend.close();
  }
}
