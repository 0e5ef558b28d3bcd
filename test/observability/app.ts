import type { Keyv } from 'keyv';
import { z } from 'zod';
import type { CachingOptions } from '../../src/index.js';
import { type HarnessCtx, harness } from '../support/apps/harness.js';
import { Gate } from '../support/gate.js';

/** Context of the notes app: a signed-in user record, or null. */
export type NotesCtx = HarnessCtx<{ id: string }>;

/** A user id no observability message may ever show (entries are scoped by a hash of it). */
export const SECRET_USER = 'user-7f3e-private-id';
/** Marks an input value no observability message may ever show. */
export const SECRET_INPUT = 'input-b9d1-private-text';

/**
 * A small app with one procedure per outcome the observers count: user-scoped notes (with a tag per note), a
 * public feed, a procedure with caching disabled, one that takes any input (an input holding a function cannot
 * be keyed), one whose resolver waits at a gate (so that identical calls coalesce), and a mutation that
 * invalidates its user.
 */
export function createNotesApp(store: Keyv | undefined, options: Partial<CachingOptions<NotesCtx>> = {}) {
  // A generous store timeout: on a loaded machine a healthy Redis can take longer than the 100 ms default, and
  // faults are not the subject unless a test says so (faults.test.ts passes its own).
  const { t, authed, caching, errors } = harness<NotesCtx>(store, { timeout: 5_000, ...options });
  const cachedQuery = caching.cachedQuery(authed);
  const gate = new Gate();
  const runs: Record<string, number> = {};
  const ran = (path: string) => {
    runs[path] = (runs[path] ?? 0) + 1;
  };
  const router = t.router({
    notes: t.router({
      list: cachedQuery.input(z.object({ q: z.string() }).optional()).query(({ ctx, input }) => {
        ran('notes.list');
        return { user: ctx.user.id, q: input?.q ?? '' };
      }),
      byId: cachedQuery
        .meta({ cache: { tags: ({ input }) => [`note:${String(input.id)}`] } })
        .input(z.object({ id: z.number() }))
        .query(({ input }) => {
          ran('notes.byId');
          return { id: input.id };
        }),
      add: caching
        .invalidatingMutation(authed)
        .input(z.object({ text: z.string() }))
        .mutation(({ input }) => ({ added: input.text })),
    }),
    feed: caching
      .cachedQuery(authed)
      .meta({ cache: { scope: 'public' } })
      .query(() => {
        ran('feed');
        return ['post'];
      }),
    live: cachedQuery.meta({ cache: { enabled: false } }).query(() => {
      ran('live');
      return Date.now();
    }),
    search: cachedQuery.input(z.unknown()).query(() => {
      ran('search');
      return [];
    }),
    slow: cachedQuery.query(async () => {
      ran('slow');
      await gate.pass();
      return 'done';
    }),
  });
  const createCaller = t.createCallerFactory(router);
  const caller = (user: string | null) => createCaller({ user: user === null ? null : { id: user } });
  return { caching, router, caller, errors, gate, runs };
}

/**
 * Runs the known sequence the stats, channel and OpenTelemetry tests assert on: 4 misses, 3 hits,
 * 1 coalesced call, 2 bypasses (disabled, input not keyable) and 1 written invalidation.
 *
 * | call                                   | outcome            |
 * | -------------------------------------- | ------------------ |
 * | secret user: notes.list (secret input) | miss               |
 * | secret user: notes.list (secret input) | hit                |
 * | bob: notes.list                        | miss               |
 * | bob: feed, alice: feed                 | miss, hit          |
 * | secret user: live                      | bypass (disabled)  |
 * | secret user: search (holds a function) | bypass (input)     |
 * | bob: slow, twice at once               | miss, coalesced    |
 * | bob: notes.list                        | hit                |
 * | secret user: notes.add                 | invalidation       |
 */
/** Resolves a macrotask after the store's next read was answered, once every continuation of that read has run. */
function storeReadDone(keyv: Keyv): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    keyv.hooks.addHandler('postGetMany', () => {
      if (done) return;
      done = true;
      setImmediate(resolve);
    });
  });
}

export async function knownSequence(app: ReturnType<typeof createNotesApp>): Promise<void> {
  const secret = app.caller(SECRET_USER);
  const bob = app.caller('bob');
  await secret.notes.list({ q: SECRET_INPUT });
  await secret.notes.list({ q: SECRET_INPUT });
  await bob.notes.list();
  await bob.feed();
  await app.caller('alice').feed();
  await secret.live();
  // The fault names where the function sits, here under a key that is itself private text: onError is told, no channel.
  await secret.search({ q: SECRET_INPUT, [SECRET_INPUT]: () => SECRET_INPUT });
  app.gate.close();
  const first = bob.slow();
  await app.gate.arrivals(1);
  const read = storeReadDone(app.caching.store);
  const second = bob.slow();
  // Once its read is answered, the second call joins the first one's flight (no further I/O): then open the gate.
  await read;
  await new Promise((resolve) => setImmediate(resolve));
  app.gate.open();
  await Promise.all([first, second]);
  await bob.notes.list();
  await secret.notes.add({ text: SECRET_INPUT });
}
