import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.js';
import { storeKinds } from '../support/stores.js';

describe.each(storeKinds())('smoke on $name', (kind) => {
  it('serves a hit without running the resolver and invalidates on update', async () => {
    const app = createTestApp(await kind.fresh());
    const alice = app.caller({ id: 'alice' });
    const first = await alice.post.byId({ id: 1 });
    const second = await alice.post.byId({ id: 1 });
    expect(second).toEqual(first);
    expect(second.readAt).toBeInstanceOf(Date);
    expect(app.db.calls['post.byId']).toBe(1);
    await alice.post.update({ id: 1, title: 'changed' });
    expect((await alice.post.byId({ id: 1 })).title).toBe('changed');
    expect(app.db.calls['post.byId']).toBe(2);
    expect(app.errors).toEqual([]);
  });
});
