import { describe, expect, it } from 'vitest';
import { memoryStoreSize } from '../../src/stores/memory.js';
import { createContractApp, queryAcrossMutation } from '../support/apps/contract.js';

// Inherently memory-only: the bound belongs to the default store; Redis is bounded by its own maxmemory.
describe('the default in-memory store', () => {
  it('keeps its size at maxEntries under a flood of 5 000 distinct inputs', async () => {
    const app = createContractApp(undefined, { maxEntries: 500 });
    const flooder = app.caller('mallory');
    let largest = 0;
    for (let i = 0; i < 5_000; i++) {
      await flooder.echo({ page: i });
      largest = Math.max(largest, memoryStoreSize(app.caching.store) ?? Number.POSITIVE_INFINITY);
    }
    expect(memoryStoreSize(app.caching.store)).toBe(500);
    expect(largest).toBe(500);
    expect(app.errors).toEqual([]);
  });

  it('still serves recent entries from the cache after a flood evicted the old ones', async () => {
    const app = createContractApp(undefined, { maxEntries: 500 });
    const alice = app.caller('alice');
    await alice.echo('oldest');
    for (let i = 0; i < 1_000; i++) await app.caller('mallory').echo(i);
    await alice.echo('recent');
    await alice.echo('recent');
    expect(app.runs('echo', 'alice', 'recent')).toBe(1);
    await alice.echo('oldest');
    expect(app.runs('echo', 'alice', 'oldest')).toBe(2);
  });

  it('keeps version keys apart from entries, so a flood cannot bring back an entry from before a mutation', async () => {
    // A query that read its versions before alice's mutation stores its entry after it, under the old tokens.
    // That entry is more recent than the version the mutation moved: in one shared LRU a flood would evict the
    // version first, the version would read as its initial token again and the stale entry would match.
    const app = createContractApp(undefined, { maxEntries: 500 });
    const alice = app.caller('alice');
    expect((await queryAcrossMutation(app, 'alice')).rev).toBe(0);
    for (let i = 0; i < 499; i++) await app.caller('mallory').echo(i);
    expect((await alice.gated()).rev).toBe(1);
    expect(app.runs('gated', 'alice')).toBe(2);
  });
});
