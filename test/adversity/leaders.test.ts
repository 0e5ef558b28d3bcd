import { initTRPC, TRPCError } from '@trpc/server';
import type { Keyv } from 'keyv';
import { describe, expect, it } from 'vitest';
import { type CachingError, type CachingMeta, createCaching } from '../../src/index.js';
import { storeKinds } from '../support/stores.js';
import { until } from '../support/until.js';

interface Ctx {
  readonly user: string | null;
}

/**
 * A public search whose resolver the test steers per caller: it can fail with
 * the caller's own message, wait for the caller's abort, or answer.
 */
function searchApp(keyv: Keyv) {
  const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
  const errors: CachingError[] = [];
  const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, store: keyv, timeout: 2_000, onError: (error) => errors.push(error) });
  const behaviour = new Map<string, 'fail' | 'hang' | 'answer'>();
  const started: string[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const router = t.router({
    search: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { scope: 'public' } })
      .input((raw) => raw as { q: string })
      .query(async ({ ctx, input, signal }) => {
        const who = ctx.user ?? 'anonymous';
        started.push(who);
        const how = behaviour.get(who) ?? 'answer';
        if (how === 'hang') {
          await new Promise<void>((_, reject) =>
            signal?.addEventListener('abort', () => reject(new Error(`${who}'s request was aborted`))),
          );
        }
        await gate;
        if (how === 'fail') throw new TRPCError({ code: 'FORBIDDEN', message: `${who}'s private reason` });
        return { q: input.q, hits: 3 };
      }),
  });
  caching.validateRouter(router);
  const caller = (user: string | null, signal?: AbortSignal) => t.createCallerFactory(router)({ user }, signal ? { signal } : {});
  // Store reads answered so far: a miss joins the flight in progress in the turn its read is answered.
  let reads = 0;
  keyv.hooks.addHandler('postGetMany', () => {
    reads++;
  });
  /** Resolves once `n` reads were answered and a macrotask has let each reader act on its answer. */
  const readsAnswered = async (n: number) => {
    await until(() => reads >= n);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { caller, behaviour, started, release, errors, readsAnswered };
}

async function outcome(call: Promise<unknown>): Promise<unknown> {
  try {
    return await call;
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe.each(storeKinds())('identical concurrent misses on $name', (kind) => {
  it("never hands a follower the leader's error: in public scope that is another user's message", async () => {
    const app = searchApp(await kind.fresh());
    app.behaviour.set('alice', 'fail');
    const alice = outcome(app.caller('alice').search({ q: 'tea' }));
    await until(() => app.started.length === 1);
    const others = ['bob', 'carol', null].map((user) => outcome(app.caller(user).search({ q: 'tea' })));
    // The leader's read and the three followers': every follower has joined the failing flight.
    await app.readsAnswered(4);
    expect(app.started).toHaveLength(1);
    app.release();
    expect(await alice).toEqual({ error: "alice's private reason" });
    for (const answer of await Promise.all(others)) expect(answer).toEqual({ q: 'tea', hits: 3 });
    // After the failure one follower ran the resolver; the others shared its success (or hit its entry).
    expect(app.started).toHaveLength(2);
  });

  it("never hands a follower the leader's abort, and honours a follower's own abort", async () => {
    const app = searchApp(await kind.fresh());
    app.behaviour.set('alice', 'hang');
    const aliceAbort = new AbortController();
    const alice = outcome(app.caller('alice', aliceAbort.signal).search({ q: 'coffee' }));
    await until(() => app.started.length === 1);
    const bob = outcome(app.caller('bob').search({ q: 'coffee' }));
    const carolAbort = new AbortController();
    const carol = outcome(app.caller('carol', carolAbort.signal).search({ q: 'coffee' }));
    // Bob and carol have joined alice's flight before carol aborts.
    await app.readsAnswered(3);
    expect(app.started).toHaveLength(1);
    carolAbort.abort();
    expect(await carol).toEqual({ error: '"search" was aborted by its caller' });
    app.release();
    aliceAbort.abort();
    expect(await alice).toEqual({ error: "alice's request was aborted" });
    expect(await bob).toEqual({ q: 'coffee', hits: 3 });
  });
});
