import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/index.js';
import { createContractApp } from '../support/apps/contract.js';

describe('hits on the default memory store, read without a trip through Keyv', () => {
  it("still run the Keyv's getMany hooks and count its stats when the app adds them, and still serve hits", async () => {
    const store = createMemoryStore();
    const app = createContractApp(store);
    const alice = app.caller('alice');
    await alice.post.list({ page: 1 });
    await alice.post.list({ page: 1 });
    // Added after the cache has served hits without Keyv: from now on every read must go through Keyv again.
    const seen: unknown[][] = [];
    store.hooks.addHandler('postGetMany', (rows: unknown[]) => seen.push(rows));
    store.stats.enabled = true;
    const hits = store.stats.hits;
    const hit = await alice.post.list({ page: 1 });
    expect(hit).toEqual({ rev: 0, page: 1 });
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(1);
    expect(seen).toHaveLength(1);
    expect(store.stats.hits).toBe(hits + 1);
  });

  it('miss an entry whose Keyv TTL is over, as Keyv itself would', async () => {
    const store = createMemoryStore();
    const app = createContractApp(store);
    const alice = app.caller('alice');
    await alice.post.list({ page: 1 });
    // The stored entry as Keyv keeps it ({ value, expires }), with its expiry moved into the past.
    const adapter = store.store as { rowsNow(keys: string[]): unknown[] };
    const entryKey = [...(store.store as { rows(): Iterable<[string, unknown]> }).rows()].find(([key]) => key.includes(':q:'))?.[0];
    if (entryKey === undefined) throw new Error('expected a stored entry');
    const [row] = adapter.rowsNow([entryKey]) as Array<{ expires?: number }>;
    if (row === undefined) throw new Error('expected the entry row');
    row.expires = Date.now() - 1;
    await alice.post.list({ page: 1 });
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(2);
  });
});
