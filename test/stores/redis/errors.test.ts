import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import type { CachingError } from '../../../src/errors.js';
import { GuardedStore } from '../../../src/stores/guard.js';
import { createRedisStore } from '../../../src/stores/redis/index.js';
import { fileRedis } from '../../support/redis-file.js';
import { eventually } from '../../support/redis-store.js';

const redis = fileRedis();

/** A read through the store guard during which the store reports a connection error that is not this read's. */
async function readDuringBackgroundError(keyv: Keyv): Promise<{ rows: unknown[] | undefined; faults: CachingError[] }> {
  const faults: CachingError[] = [];
  keyv.on('error', () => {});
  const guard = new GuardedStore(keyv, { timeout: 2_000, breakerThreshold: 5, breakerCooldown: 5_000, report: (e) => faults.push(e) });
  await keyv.set('present', 'yes');
  const reading = guard.getMany(['present', 'absent'], 'post.list');
  // Another node of a Cluster went down, a reconnect failed: news about the connections, not about this read.
  keyv.emit('error', new Error('node 127.0.0.1:7003 is unreachable'));
  return { rows: await reading, faults };
}

describe('a background connection error while a read is in flight', () => {
  it('does not fail a read of createRedisStore that Redis answered, nor count towards the breaker', async () => {
    await redis.server.command('FLUSHALL');
    const store = redis.track(createRedisStore({ url: redis.url }));
    await eventually('the store answers', async () => {
      await store.set('ready', 'yes').catch(() => {});
      return (await store.get('ready').catch(() => undefined)) === 'yes';
    });
    const { rows, faults } = await readDuringBackgroundError(store);
    expect(faults.map((fault) => fault.message)).toEqual([]);
    expect(rows).toEqual(['yes', undefined]);
    expect(faults).toEqual([]);
  });

  it('does fail a read of an adapter that reports failures only as events (the plain @keyv/redis Keyv)', async () => {
    await redis.server.command('FLUSHALL');
    const store = redis.track(new Keyv({ store: new KeyvRedis(redis.url), namespace: '' }));
    const { rows, faults } = await readDuringBackgroundError(store);
    // Such an adapter answers as if it succeeded, so an error seen meanwhile has to count: conservative, never wrong.
    expect(rows).toBeUndefined();
    expect(faults.map((fault) => fault.operation)).toEqual(['read']);
  });
});
