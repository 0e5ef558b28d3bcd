import type { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/index.js';
import { memoryStoreRows, memoryStoreSize } from '../../src/stores/memory.js';
import { type ContractApp, createContractApp } from '../support/apps/contract.js';

/** Version keys of one caching prefix that the store holds, whatever namespace Keyv put before them. */
const versionKeys = (store: Keyv, prefix = 'trpc-caching'): string[] =>
  (memoryStoreRows(store) ?? []).map(([key]) => key).filter((key) => key.includes(`${prefix}:v:`));

/** Alice reads, mutates and reads again: her scope version is written and her fresh entry depends on it. */
async function aliceAfterHerMutation(app: ContractApp): Promise<number> {
  const alice = app.caller('alice');
  await alice.post.list({ page: 1 });
  await alice.post.touch();
  return (await alice.post.list({ page: 1 })).rev;
}

describe('the default memory store keeps version keys apart from entries', () => {
  it.each([
    { name: 'without a namespace', namespace: undefined },
    { name: 'under a Keyv namespace', namespace: 'app' },
  ])('never evicts a version key under a flood of distinct inputs, $name', async ({ namespace }) => {
    const store = createMemoryStore({ maxEntries: 500 });
    if (namespace !== undefined) store.namespace = namespace;
    const app = createContractApp(store);
    const rev = await aliceAfterHerMutation(app);
    const versionsBefore = versionKeys(store);
    expect(versionsBefore.some((key) => key.includes(':v:s:'))).toBe(true);
    // Just enough to fill the entry LRU with alice's entry still in it: one version key in it would evict something.
    for (let i = 0; i < 499; i++) await app.caller('mallory').echo(i);
    expect(memoryStoreSize(store)).toBe(500);
    expect(versionKeys(store)).toEqual(expect.arrayContaining(versionsBefore));
    expect(await app.caller('alice').post.list({ page: 1 })).toEqual({ rev, page: 1 });
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(2);
    expect(app.errors).toEqual([]);
  });

  it('holds at most maxVersions version keys however many tags are invalidated, and no entry makes room for them', async () => {
    const store = createMemoryStore({ maxEntries: 100, maxVersions: 50 });
    const app = createContractApp(store);
    for (let i = 0; i < 20; i++) await app.caller('alice').echo(i);
    for (let i = 0; i < 300; i++) await app.caller('bob').post.retag({ id: i });
    expect(versionKeys(store).length).toBe(50);
    expect(memoryStoreSize(store)).toBe(20);
    expect(app.errors).toEqual([]);
  });

  it('keeps the version keys of two caching instances that share one store apart from entries', async () => {
    const store = createMemoryStore({ maxEntries: 300 });
    const first = createContractApp(store, { prefix: 'first' });
    const second = createContractApp(store, { prefix: 'second' });
    const revs = [await aliceAfterHerMutation(first), await aliceAfterHerMutation(second)];
    const versionsBefore = [...versionKeys(store, 'first'), ...versionKeys(store, 'second')];
    for (let i = 0; i < 298; i++) await (i % 2 ? first : second).caller('mallory').echo(i);
    expect(memoryStoreSize(store)).toBe(300);
    expect([...versionKeys(store, 'first'), ...versionKeys(store, 'second')]).toEqual(expect.arrayContaining(versionsBefore));
    expect(await first.caller('alice').post.list({ page: 1 })).toEqual({ rev: revs[0], page: 1 });
    expect(await second.caller('alice').post.list({ page: 1 })).toEqual({ rev: revs[1], page: 1 });
    expect(first.runs('post.list', 'alice', { page: 1 }) + second.runs('post.list', 'alice', { page: 1 })).toBe(4);
  });
});
