import { describe, expect, it } from 'vitest';
import { caching, createCaller } from '../../docs/quickstart.js';

describe("README's quickstart", () => {
  it('caches per user and shows a rename to the next read, in the post and in the public feed', async () => {
    const alice = createCaller({ user: { id: 'alice' } });
    const anonymous = createCaller({ user: null });
    expect((await alice.post.byId({ id: 1 }))?.title).toBe('Hello');
    const hit = await alice.post.byId({ id: 1 });
    if (hit) hit.title = 'changed by the caller, not in the cache';
    expect((await alice.post.byId({ id: 1 }))?.title).toBe('Hello');
    // The feed is cached (one public entry) before the rename: the rename must move it.
    expect(await anonymous.feed()).toEqual(['Hello']);
    expect(await createCaller({ user: { id: 'bob' } }).feed()).toEqual(['Hello']);
    await alice.post.rename({ id: 1, title: 'Renamed' });
    expect((await alice.post.byId({ id: 1 }))?.title).toBe('Renamed');
    expect(await anonymous.feed()).toEqual(['Renamed']);
    await expect(anonymous.post.list({ page: 1 })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    caching.close();
  });
});
