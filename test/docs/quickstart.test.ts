import { describe, expect, it } from 'vitest';
import { caching, createCaller } from '../../docs/quickstart.js';

describe("README's quickstart", () => {
  it('caches per user and shows a rename to the next read', async () => {
    const alice = createCaller({ user: { id: 'alice' } });
    expect((await alice.post.byId({ id: 1 }))?.title).toBe('Hello');
    const hit = await alice.post.byId({ id: 1 });
    if (hit) hit.title = 'changed by the caller, not in the cache';
    expect((await alice.post.byId({ id: 1 }))?.title).toBe('Hello');
    await alice.post.rename({ id: 1, title: 'Renamed' });
    expect((await alice.post.byId({ id: 1 }))?.title).toBe('Renamed');
    expect(await createCaller({ user: null }).feed()).toEqual(['Renamed']);
    await expect(createCaller({ user: null }).post.list({ page: 1 })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    caching.close();
  });
});
