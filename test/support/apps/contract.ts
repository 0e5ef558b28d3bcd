import { TRPCError } from '@trpc/server';
import type { Keyv } from 'keyv';
import { z } from 'zod';
import type { CachingOptions } from '../../../src/index.js';
import { Gate } from '../gate.js';
import { type HarnessCtx, harness } from './harness.js';

/** Context of the contract app: who is calling (null = anonymous). */
export type ContractCtx = HarnessCtx<string | number>;

/** Values the `value` query returns by name: falsy ones, and types a JSON round trip would lose. */
export const SAMPLE_VALUES = {
  null: null,
  zero: 0,
  false: false,
  empty: '',
  emptyArray: [],
  emptyObject: {},
  rich: () => ({
    when: new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123)),
    tags: new Set(['a', 'b']),
    byId: new Map<number, { name: string }>([[1, { name: 'one' }]]),
    big: 12345678901234567890n,
    missing: undefined,
    nested: { list: [1, { deep: true }], nothing: null },
  }),
  /** Numbers and shapes where plain JSON and superjson part ways. */
  edge: () => {
    const shared = { n: 1 };
    return {
      negativeZero: -0,
      notANumber: Number.NaN,
      infinity: Number.NEGATIVE_INFINITY,
      holes: [1, undefined, 3],
      datesInside: [new Date(0), { at: new Date(1) }],
      pattern: /a+b/gi,
      shared: { left: shared, right: shared },
      text: 'quote " backslash \\ line\nbreak \u2028 emoji 🎉',
    };
  },
  // Each of these is otherwise plain JSON, so a codec that special-cases plain values must still get it right.
  plainNegativeZero: { n: -0 },
  plainHoles: [1, undefined, 3],
  plainUndefinedField: { a: 1, b: undefined },
  plainNaN: { n: Number.NaN },
  plainShared: () => {
    const shared = { n: 1 };
    return { left: shared, right: shared };
  },
  plainText: 'quote " backslash \\ line\nbreak \u2028 emoji 🎉 lone \ud800',
} as const;

export type SampleName = keyof typeof SAMPLE_VALUES;

/**
 * The app the contract suites drive. Every resolver counts its runs per
 * `path|user|input`, so a test sees exactly which entries missed. Data carries
 * a revision that every mutation bumps, so a test sees when a query returns
 * data from before a mutation. No resolver echoes the caller's id, so a scan
 * of the store for raw ids finds only what the library itself wrote.
 */
export function createContractApp(store: Keyv | undefined, options: Partial<CachingOptions<ContractCtx>> = {}) {
  const state = { rev: 0 };
  const calls = new Map<string, number>();
  /** Calls of the `gated` resolver wait on this gate while it is closed. */
  const gate = new Gate();
  /** Longest random delay in ms (0 = none) of `post.list`, `comment.list` and `post.touch`, to interleave concurrent requests. */
  const jitter = { maxMs: 0 };

  const count = (path: string, ctx: ContractCtx, input?: unknown): number => {
    const key = runKey(path, ctx.user, input);
    const n = (calls.get(key) ?? 0) + 1;
    calls.set(key, n);
    return n;
  };
  const wait = async (): Promise<void> => {
    if (jitter.maxMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * jitter.maxMs));
  };

  // The contract is about semantics, not about a loaded CI box: a slow store call must not turn a hit into a bypass.
  const { t, caching, errors } = harness<ContractCtx>(store, { timeout: 5_000, ...options });
  const cachedQuery = caching.cachedQuery(t.procedure);
  const invalidatingMutation = caching.invalidatingMutation(t.procedure);
  const bump = () => {
    state.rev++;
    return { rev: state.rev };
  };
  const idList = z.array(z.union([z.string(), z.number()]));

  const router = t.router({
    post: t.router({
      list: cachedQuery.input(z.object({ page: z.number().int().min(1) }).optional()).query(async ({ ctx, input }) => {
        const rev = state.rev;
        count('post.list', ctx, input);
        await wait();
        return { rev, page: input?.page ?? 1 };
      }),
      byId: cachedQuery
        .meta({ cache: { tags: ({ input }) => [`post:${String(input.id)}`] } })
        .input(z.object({ id: z.number() }))
        .query(({ ctx, input }) => {
          count('post.byId', ctx, input);
          return { rev: state.rev, id: input.id };
        }),
      /** Public scope under the `post` router: reached by `paths: ['post']`, never by a user's invalidation. */
      top: cachedQuery.meta({ cache: { scope: 'public' } }).query(() => {
        count('post.top', { user: null });
        return { rev: state.rev };
      }),
      /** Default target: the acting user's own entries. */
      touch: invalidatingMutation.mutation(async () => {
        await wait();
        return bump();
      }),
      /** `users`: the users linked to the change (adrf-caching's invalidate_fields). */
      share: invalidatingMutation
        .meta({ invalidate: { self: false, users: ({ input }) => input.with as (string | number)[] } })
        .input(z.object({ with: idList }))
        .mutation(bump),
      /** `paths` with a router prefix: every `post.*` entry of every user and of the public scope. */
      reset: invalidatingMutation.meta({ invalidate: { self: false, paths: ['post'] } }).mutation(bump),
      /** `paths` with one procedure path. */
      relist: invalidatingMutation.meta({ invalidate: { self: false, paths: ['post.list'] } }).mutation(bump),
      /** `tags` computed from the input. */
      retag: invalidatingMutation
        .meta({ invalidate: { self: false, tags: ({ input }) => [`post:${String(input.id)}`] } })
        .input(z.object({ id: z.number() }))
        .mutation(bump),
      /** A mutation whose input validation fails for short titles. */
      rename: invalidatingMutation
        .meta({ invalidate: { all: true } })
        .input(z.object({ title: z.string().min(3) }))
        .mutation(bump),
      /** A mutation whose resolver throws after deciding to. */
      explode: invalidatingMutation.meta({ invalidate: { all: true } }).mutation(() => {
        throw new TRPCError({ code: 'CONFLICT', message: 'refused' });
      }),
    }),
    comment: t.router({
      list: cachedQuery.query(async ({ ctx }) => {
        const rev = state.rev;
        count('comment.list', ctx);
        await wait();
        return { rev };
      }),
    }),
    /** Shares the first letters of `post` but is not under the `post` router. */
    postal: t.router({
      list: cachedQuery.query(({ ctx }) => {
        count('postal.list', ctx);
        return { rev: state.rev };
      }),
    }),
    feed: cachedQuery.meta({ cache: { scope: 'public', tags: ['feed'] } }).query(() => {
      count('feed', { user: null });
      return { rev: state.rev };
    }),
    /** One entry per input; returns how often it ran for this user and input, and no id. */
    echo: cachedQuery.input(z.unknown()).query(({ ctx, input }) => ({ run: count('echo', ctx, input) })),
    /** An entry with its own TTL (meta.cache.ttl), shorter than the default. */
    brief: cachedQuery.meta({ cache: { ttl: 250 } }).query(({ ctx }) => {
      count('brief', ctx);
      return { rev: state.rev };
    }),
    /** Returns a sample value by name. */
    value: cachedQuery.input(z.enum(Object.keys(SAMPLE_VALUES) as [SampleName, ...SampleName[]])).query(({ ctx, input }) => {
      count('value', ctx, input);
      const sample = SAMPLE_VALUES[input];
      return typeof sample === 'function' ? sample() : sample;
    }),
    /** A query with a validated input, and one whose resolver throws. */
    strict: cachedQuery.input(z.object({ id: z.number().int().positive() })).query(({ ctx, input }) => {
      count('strict', ctx, input);
      return { id: input.id };
    }),
    broken: cachedQuery.input(z.object({ id: z.number() })).query(({ ctx, input }) => {
      count('broken', ctx, input);
      throw new TRPCError({ code: 'NOT_FOUND', message: 'no such thing' });
    }),
    /** Reads the revision, then waits on the gate: a query that starts before a mutation and ends after it. */
    gated: cachedQuery.input(z.object({ id: z.number() }).optional()).query(async ({ ctx, input }) => {
      const rev = state.rev;
      count('gated', ctx, input);
      await gate.pass();
      return { rev, items: [{ n: 1 }] };
    }),
    jobs: t.router({
      /** Changes data without invalidating anything (`invalidate: false`). */
      audit: invalidatingMutation.meta({ invalidate: false }).mutation(bump),
      wipe: invalidatingMutation.meta({ invalidate: { self: false, all: true } }).mutation(bump),
      publish: invalidatingMutation.meta({ invalidate: { self: false, tags: ['feed'] } }).mutation(bump),
    }),
  });
  caching.validateRouter(router);
  const createCaller = t.createCallerFactory(router);
  const caller = (user: ContractCtx['user']) => createCaller({ user });

  /** How often a resolver ran for this path, user and input (input as passed to the resolver). */
  const runs = (path: string, user: ContractCtx['user'], input?: unknown): number => calls.get(runKey(path, user, input)) ?? 0;
  /** Total runs of a path over every user and input. */
  const totalRuns = (path: string): number => {
    let total = 0;
    for (const [key, n] of calls) if (key.startsWith(`${path}|`)) total += n;
    return total;
  };
  return { caching, router, caller, errors, state, gate, jitter, runs, totalRuns, t };
}

export type ContractApp = ReturnType<typeof createContractApp>;
export type ContractRouter = ContractApp['router'];

function runKey(path: string, user: ContractCtx['user'], input: unknown): string {
  return `${path}|${typeof user}:${String(user)}|${input === undefined ? '' : stableText(input)}`;
}

/** JSON with sorted keys, enough to tell test inputs apart. */
function stableText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
    }
    return v;
  });
}

/**
 * A `gated` query of `user` that reads its versions before the user's own mutation (`post.touch`) and stores its
 * entry after that mutation returned: an entry written under tokens that have since moved. Resolves to what the
 * query answered (data from before the mutation).
 */
export async function queryAcrossMutation(app: ContractApp, user: ContractCtx['user']): Promise<{ rev: number }> {
  const caller = app.caller(user);
  app.gate.close();
  const before = caller.gated();
  await app.gate.arrivals(app.gate.arrived + 1);
  await caller.post.touch();
  app.gate.open();
  return before;
}
