import { TRPCError } from '@trpc/server';
import type { Keyv } from 'keyv';
import { z } from 'zod';
import type { CachingOptions } from '../../../src/index.js';
import { type HarnessCtx, harness } from './harness.js';

/** Context of the counter app: a signed-in user record, or null. */
export type CounterCtx = HarnessCtx<{ id: string }>;

/**
 * The data behind the counter app: one monotonic counter per user and name.
 * A response carries the path and user it was computed for and the counter's value, so
 * a test can tell another user's data (wrong `user`) and data from before a
 * write (a value below what a finished bump returned).
 */
export class CounterDb {
  private readonly values = new Map<string, number>();
  /** Users the auth middleware rejects (a revoked session, a ban). */
  readonly banned = new Set<string>();
  /** Resolver runs per procedure path. */
  readonly runs: Record<string, number> = {};

  private static slot(user: string, name: string): string {
    return JSON.stringify([user, name]);
  }

  ran(path: string): void {
    this.runs[path] = (this.runs[path] ?? 0) + 1;
  }

  get(user: string, name: string): number {
    return this.values.get(CounterDb.slot(user, name)) ?? 0;
  }

  bump(user: string, name: string): number {
    const value = this.get(user, name) + 1;
    this.values.set(CounterDb.slot(user, name), value);
    return value;
  }

  /** Sum of every counter: what the public board shows. */
  total(): number {
    let sum = 0;
    for (const value of this.values.values()) sum += value;
    return sum;
  }
}

/**
 * A caching app over a {@link CounterDb}: user-scoped counters at two paths (one
 * nested), a public board, and a bump that invalidates its user and the board.
 * Several apps may share one db and one store, like processes behind a load balancer.
 */
export function createCounterApp(db: CounterDb, store: Keyv | undefined, options: Partial<CachingOptions<CounterCtx>> = {}) {
  const { t, authed, caching, errors } = harness<CounterCtx>(store, {
    ...options,
    authorize: (user) => {
      if (db.banned.has(user.id)) throw new TRPCError({ code: 'FORBIDDEN', message: 'session revoked' });
    },
  });
  const cachedQuery = caching.cachedQuery(authed);
  const invalidatingMutation = caching.invalidatingMutation(authed);
  const named = z.object({ name: z.string() });
  const read = (path: string) =>
    cachedQuery.input(named).query(({ ctx, input }) => {
      db.ran(path);
      return { path, user: ctx.user.id, name: input.name, value: db.get(ctx.user.id, input.name) };
    });

  const router = t.router({
    counter: t.router({
      get: read('counter.get'),
      bump: invalidatingMutation
        .meta({ invalidate: { tags: ['board'] } })
        .input(named)
        .mutation(({ ctx, input }) => ({ user: ctx.user.id, name: input.name, value: db.bump(ctx.user.id, input.name) })),
    }),
    deep: t.router({ nested: t.router({ get: read('deep.nested.get') }) }),
    board: caching
      .cachedQuery(authed)
      .meta({ cache: { scope: 'public', tags: ['board'] } })
      .query(() => {
        db.ran('board');
        return { total: db.total() };
      }),
  });
  const createCaller = t.createCallerFactory(router);
  const caller = (user: string | null) => createCaller({ user: user === null ? null : { id: user } });
  return { caching, router, caller, errors, t };
}

export type CounterRouter = ReturnType<typeof createCounterApp>['router'];
