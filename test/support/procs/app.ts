import { initTRPC, TRPCError } from '@trpc/server';
import type { Keyv } from 'keyv';
import { z } from 'zod';
import { type CachingError, type CachingMeta, type CachingOptions, createCaching } from '../../../src/index.js';
import type { MutateReply, ReadReply, ReadSpec, WorkerCachingOptions } from './protocol.js';

/**
 * The adversity app's database: monotonic counters by slot. Every process of a
 * scenario shares one (a Redis of its own, which no cache fault touches), so a
 * counter is the truth every answer is judged against.
 */
export interface CounterDb {
  get(slot: string): Promise<number>;
  /** Increments every slot at once and answers their new values, in order. */
  bump(slots: readonly string[]): Promise<number[]>;
}

/** A {@link CounterDb} in this process, for single-process scenarios. */
export function memoryCounterDb(): CounterDb {
  const counters = new Map<string, number>();
  return {
    async get(slot) {
      return counters.get(slot) ?? 0;
    },
    async bump(slots) {
      return slots.map((slot) => {
        const value = (counters.get(slot) ?? 0) + 1;
        counters.set(slot, value);
        return value;
      });
    },
  };
}

export interface AdversityCtx {
  user: string | null;
  /** Set by a resolver when it runs, so the caller knows whether its answer came from the cache. */
  trace: { ran: boolean };
}

export const noteSlot = (user: string, id: number): string => `note:${user}:${id}`;
export const revSlot = (user: string): string => `rev:${user}`;
/** The tag of one note: dashes, not colons, so that the version key `{prefix}:v:t:note-{user}-{id}` is written as it reads. */
export const noteTag = (owner: string, id: number): string => `note-${owner}-${id}`;

/** The slot a read is computed from: what its answer must name. */
export function slotOf(spec: ReadSpec): string {
  if (spec.kind === 'note') return noteSlot(spec.user, spec.id);
  if (spec.kind === 'board') return noteSlot(spec.owner, spec.id);
  return revSlot(spec.user);
}

/**
 * A tRPC app over a {@link CounterDb} with one query of each scope the engine
 * keys differently (a user's own note, a user's paged list, a public tagged
 * board) and one invalidating mutation that moves a user scope and a tag.
 */
export function createAdversityApp(db: CounterDb, store: Keyv | undefined, options: WorkerCachingOptions = {}) {
  const errors: CachingError[] = [];
  const t = initTRPC.context<AdversityCtx>().meta<CachingMeta>().create();
  const authed = t.procedure.use(({ ctx, next }) => {
    if (ctx.user === null) throw new TRPCError({ code: 'UNAUTHORIZED' });
    return next({ ctx: { user: ctx.user, trace: ctx.trace } });
  });
  // Options the engine does not know yet (invalidationTimeout, maxPendingInvalidations) pass through untouched:
  // today's createCaching ignores them, the fixed one reads them.
  const given: Partial<CachingOptions<AdversityCtx>> = options;
  const caching = createCaching<AdversityCtx>({
    ...given,
    user: (ctx) => ctx.user,
    onError: (error) => errors.push(error),
    ...(store ? { store } : {}),
  });
  const cachedQuery = caching.cachedQuery(authed);
  const id = z.number().int().min(1);
  const counted = async (trace: { ran: boolean }, slot: string) => {
    trace.ran = true;
    return { slot, value: await db.get(slot) };
  };

  const router = t.router({
    note: t.router({
      get: cachedQuery.input(z.object({ id })).query(({ ctx, input }) => counted(ctx.trace, noteSlot(ctx.user, input.id))),
      bump: caching
        .invalidatingMutation(authed)
        .meta({ invalidate: { tags: ({ input, ctx }) => [noteTag((ctx as AdversityCtx).user ?? '', Number(input.id))] } })
        .input(z.object({ id }))
        .mutation(async ({ ctx, input }) => {
          const slots = [noteSlot(ctx.user, input.id), revSlot(ctx.user)];
          const values = await db.bump(slots);
          return { writes: slots.map((slot, i) => ({ slot, value: values[i] ?? 0 })) };
        }),
    }),
    list: t.router({
      page: cachedQuery.input(z.object({ page: id })).query(({ ctx }) => counted(ctx.trace, revSlot(ctx.user))),
    }),
    board: t.router({
      get: caching
        .cachedQuery(authed)
        .meta({ cache: { scope: 'public', tags: ({ input }) => [noteTag(String(input.owner), Number(input.id))] } })
        .input(z.object({ owner: z.string(), id }))
        .query(({ ctx, input }) => counted(ctx.trace, noteSlot(input.owner, input.id))),
    }),
  });
  caching.validateRouter(router);
  const createCaller = t.createCallerFactory(router);

  return {
    caching,
    errors,
    async read(spec: ReadSpec): Promise<ReadReply> {
      const trace = { ran: false };
      const caller = createCaller({ user: spec.user, trace });
      const answer =
        spec.kind === 'note'
          ? await caller.note.get({ id: spec.id })
          : spec.kind === 'board'
            ? await caller.board.get({ owner: spec.owner, id: spec.id })
            : await caller.list.page({ page: spec.page });
      return { slot: answer.slot, value: answer.value, cached: !trace.ran };
    },
    async mutate(user: string, id: number): Promise<MutateReply> {
      const started = performance.now();
      const { writes } = await createCaller({ user, trace: { ran: false } }).note.bump({ id });
      return { writes, ms: performance.now() - started };
    },
  };
}

export type AdversityApp = ReturnType<typeof createAdversityApp>;
