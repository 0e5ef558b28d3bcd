import KeyvRedis, { createCluster } from '@keyv/redis';
import { Keyv, type KeyvStoreAdapter } from 'keyv';
import { describe, expect, it } from 'vitest';
import { type CachingConfigError, createCaching, createRawStringStore } from '../../src/index.js';
import { configRefusal } from '../support/rejection.js';

/** The shape of the SQL adapters (`@keyv/sqlite`, `@keyv/postgres`): strings kept as written, TTLs left to Keyv's envelope. */
class SqlLikeAdapter {
  readonly ttlSupport = false;
  readonly opts = { dialect: 'sqlite', url: 'sqlite://:memory:' };
  namespace?: string | undefined;
  private readonly rows = new Map<string, unknown>();
  async get(key: string) {
    return this.rows.get(key);
  }
  async set(key: string, value: unknown) {
    this.rows.set(key, value);
  }
  async delete(key: string) {
    return this.rows.delete(key);
  }
  async clear() {
    this.rows.clear();
  }
  on() {
    return this;
  }
}

const refusalOf = (adapter: unknown): CachingConfigError =>
  configRefusal(() => createRawStringStore(adapter as KeyvStoreAdapter), 'expected createRawStringStore to refuse the adapter');

describe('createRawStringStore', () => {
  it('accepts @keyv/redis, whose strings come back as written and expire by Redis PX', () => {
    const adapter = new KeyvRedis('redis://127.0.0.1:1');
    expect(createRawStringStore(adapter)).toBeInstanceOf(Keyv);
  });

  it('refuses an adapter that keeps keys for ever, saying to pass a plain Keyv instead', () => {
    const error = refusalOf(new SqlLikeAdapter());
    expect(error.option).toBe('createRawStringStore(adapter)');
    expect(error.message).toMatch(/SqlLikeAdapter is not a Redis adapter.*new Keyv\(adapter\)/);
  });

  it('refuses a Map, which applies no TTL, pointing to createMemoryStore', () => {
    expect(refusalOf(new Map()).message).toMatch(/a Map applies no TTL.*createMemoryStore\(\)/);
  });

  it('refuses a Keyv given in place of its adapter, saying to pass the Keyv as the store instead', () => {
    expect(refusalOf(new Keyv()).message).toMatch(/got a Keyv, expected the adapter inside it.*pass that Keyv as `store`/);
  });

  it('refuses what is not an adapter at all', () => {
    expect(refusalOf('redis://localhost').message).toMatch(/expected a Keyv store adapter/);
    expect(refusalOf(null).message).toMatch(/expected a Keyv store adapter/);
  });

  it('refuses @keyv/redis on a Redis Cluster client, whose writes do not follow a reshard, naming createRedisStore({ cluster })', () => {
    // Never connected: the refusal comes from the client's shape, at construction.
    const cluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:1' }] });
    expect(refusalOf(new KeyvRedis(cluster)).message).toMatch(
      /Redis Cluster client.*MOVED.*createRedisStore\(\{ cluster: \{ rootNodes \} \}\)/,
    );
    expect(refusalOf(new KeyvRedis({ rootNodes: [{ url: 'redis://127.0.0.1:1' }] })).message).toMatch(/Redis Cluster client/);
  });
});

describe('createCaching({ store })', () => {
  it('refuses a plain Keyv on a Redis Cluster client, naming createRedisStore({ cluster })', () => {
    const cluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:1' }] });
    const store = new Keyv(new KeyvRedis(cluster as ConstructorParameters<typeof KeyvRedis>[0]));
    const error = configRefusal(() => createCaching({ user: () => null, store }), 'expected createCaching to refuse the store');
    expect(error.option).toBe('store');
    expect(error.message).toMatch(/createRedisStore\(\{ cluster: \{ rootNodes \} \}\)/);
  });

  it('accepts a plain Keyv on one Redis server', () => {
    expect(() => createCaching({ user: () => null, store: new Keyv(new KeyvRedis('redis://127.0.0.1:1')) })).not.toThrow();
  });
});
