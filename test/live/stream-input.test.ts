// The live stream as an app serves it (createCaching + invalidationStream + createCaller): malformed resume input,
// and what bob's stream tells him of alice's mutations that invalidate per-user tags.
import { initTRPC, TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { type CachingMeta, createCaching } from '../../src/index.js';

type Ctx = { user: string | null };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();

function app() {
  const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
  const router = t.router({
    inbox: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { tags: ({ ctx }) => [`inbox:${(ctx as Ctx).user}`] } })
      .query(({ ctx }) => `inbox of ${ctx.user}`),
    // A private action of alice's whose invalidation is keyed by a per-user tag (a common pattern).
    readMessage: caching
      .invalidatingMutation(t.procedure)
      .meta({ invalidate: { self: false, tags: ({ ctx }) => [`inbox:${(ctx as Ctx).user}`] } })
      .mutation(() => true),
    touch: caching.invalidatingMutation(t.procedure).mutation(() => true),
    invalidations: caching.invalidationStream(t.procedure),
  });
  caching.validateRouter(router);
  return { caching, caller: (user: string | null) => t.createCallerFactory(router)({ user }) };
}

/** The event of a tracked value: `[id, data, marker]` on a server-side caller, `{ id, data }` over a link. */
const dataOf = (value: unknown): unknown => (Array.isArray(value) ? value[1] : (value as { data?: unknown } | undefined)?.data);

async function firstEvents(iterable: AsyncIterable<unknown>, count: number, after: () => Promise<unknown>) {
  const iterator = iterable[Symbol.asyncIterator]();
  const out: unknown[] = [];
  out.push(dataOf((await iterator.next()).value));
  await after();
  while (out.length < count) out.push(dataOf((await iterator.next()).value));
  await iterator.return?.();
  return out;
}

describe('malformed lastEventId input', () => {
  for (const input of [{ lastEventId: 5 }, { lastEventId: {} }, 'x', [1], { lastEventId: ['a'] }]) {
    it(`answers ${JSON.stringify(input)} as a bad request, never a 500`, async () => {
      const { caching, caller } = app();
      const subscribe = async () => (caller('bob') as unknown as { invalidations: (i: unknown) => Promise<unknown> }).invalidations(input);
      const error = await subscribe().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TRPCError);
      expect((error as TRPCError).code).toBe('BAD_REQUEST');
      caching.close();
    });
  }

  it('answers a 1 MB string id with ready and reset, not a crash', async () => {
    const { caching, caller } = app();
    const stream = await caller('bob').invalidations({ lastEventId: 'a'.repeat(1_000_000) });
    expect(await firstEvents(stream, 2, async () => {})).toEqual([
      { v: 1, type: 'ready' },
      { v: 1, type: 'reset', reason: 'resume' },
    ]);
    caching.close();
  });
});

describe("bob's stream and alice's private actions", () => {
  it("does not show bob alice's own-scope moves (the guarantee of part 3)", async () => {
    const { caching, caller } = app();
    const stream = await caller('bob').invalidations();
    const events = await firstEvents(stream, 2, async () => {
      await caller('alice').touch();
      await caller('bob').touch();
    });
    expect(events[1]).toMatchObject({ type: 'moved', moved: { self: true } });
    caching.close();
  });

  // Found by this review: a tag names whatever the app puts in it, and every connection gets every tag move, so a
  // per-user tag tells bob alice's user id and when she acted. Not a scope move, so outside part 3's test; recorded
  // here as it is today (see the report for the options).
  it("shows bob the per-user tag of alice's private action, with her user id in it (documented leak)", async () => {
    const { caching, caller } = app();
    const stream = await caller('bob').invalidations();
    const events = await firstEvents(stream, 2, async () => caller('alice').readMessage());
    expect(events[1]).toMatchObject({ type: 'moved', moved: { tags: ['inbox:alice'] } });
    caching.close();
  });
});
