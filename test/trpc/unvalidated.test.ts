import { initTRPC, TRPCError } from '@trpc/server';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CachingMeta, createCaching } from '../../src/index.js';
import { refusal } from '../support/rejection.js';

// Its own file: what the app is told once a process is told once a test file (vitest isolates each file's modules).

type Ctx = { user: string | null };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
const authed = t.procedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED' });
  return next({ ctx: { user: ctx.user } });
});

describe('an app that never calls validateRouter', () => {
  let warnings: string[] = [];
  beforeEach(() => {
    warnings = [];
    vi.spyOn(console, 'warn').mockImplementation((message: unknown) => {
      warnings.push(String(message));
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('is told once, on the console, that a misspelt invalidate.paths was not checked, naming the mutation and its paths', async () => {
    const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
    const router = t.router({
      post: t.router({
        list: caching.cachedQuery(authed).query(() => ['one']),
        rename: caching
          .invalidatingMutation(authed)
          .meta({ invalidate: { paths: ['post.lst'] } })
          .mutation(() => true),
      }),
    });
    const caller = t.createCallerFactory(router)({ user: 'alice' });
    for (let round = 0; round < 3; round++) {
      await caller.post.list();
      await caller.post.rename();
    }
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('validateRouter(appRouter) was not called before "post.list"');
    expect(warnings[1]).toContain('"post.rename" was first called, so its invalidate.paths (post.lst) were not checked');
  });

  it("still refuses, at every call, meta that the procedure's builder would ignore", async () => {
    const caching = createCaching<Ctx>({ user: (ctx) => ctx.user, onError: () => {} });
    const router = t.router({
      list: caching
        .cachedQuery(authed)
        .meta({ invalidate: { all: true } })
        .query(() => ['one']),
    });
    const caller = t.createCallerFactory(router)({ user: 'alice' });
    for (let round = 0; round < 2; round++) {
      expect((await refusal(caller.list())).message).toContain('meta.invalidate of "list": is ignored');
    }
  });
});
