import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.js';
import { storeKinds } from '../support/stores.js';

describe.each(storeKinds())('procedure builders on $name', (kind) => {
  it("runs the base procedure's auth middleware before any cache read, so a rejected caller never touches the store", async () => {
    const keyv = await kind.fresh();
    let reads = 0;
    keyv.hooks.addHandler('preGetMany', () => {
      reads++;
    });
    const app = createTestApp(keyv);
    await app.caller({ id: 'alice' }).post.byId({ id: 1 });
    expect(reads).toBe(1);
    await expect(app.caller(null).post.byId({ id: 1 })).rejects.toThrow(TRPCError);
    await expect(app.caller(null).post.list()).rejects.toThrow(expect.objectContaining({ code: 'UNAUTHORIZED' }));
    expect(reads).toBe(1);
    expect(app.db.calls['post.byId']).toBe(1);
  });

  it('keeps the types and behaviour of the base builder: input parsing, output and meta work as on a plain procedure', async () => {
    const app = createTestApp(await kind.fresh());
    const alice = app.caller({ id: 'alice' });
    const post = await alice.post.byId({ id: 1 });
    // Inferred from the resolver through the builder: no cast needed.
    const title: string = post.title;
    const readAt: Date = post.readAt;
    expect(title).toBe('Alice one');
    expect(readAt).toBeInstanceOf(Date);
    await expect(alice.post.byId({ id: 'x' as unknown as number })).rejects.toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});
