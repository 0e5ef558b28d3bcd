import { spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import type { Keyv } from 'keyv';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { type AuditOptions, type CacheDivergenceMessage, cachingChannels } from '../../src/index.js';
import { type HarnessCtx, harness } from '../support/apps/harness.js';
import { Gate } from '../support/gate.js';
import { storeKinds } from '../support/stores.js';
import { until } from '../support/until.js';

type Ctx = HarnessCtx<string>;

/**
 * A blog whose `post.rename` forgets (or, with `correct`, remembers) the tag `post.byId` entries depend on: the bug
 * the auditor is for. `clock` and `frozen` return the time: by design never the same twice.
 */
function blogApp(store: Keyv, options: { correct?: boolean; audit?: AuditOptions | boolean } = {}) {
  const titles = new Map<number, string>([
    [1, 'one'],
    [2, 'two'],
  ]);
  const gate = new Gate();
  const runs = { byId: 0, clock: 0, frozen: 0 };
  const { t, authed, caching, errors } = harness<Ctx>(store, {
    // maxLag far above any stall of a loaded machine: these tests are about what a check finds, not when it is skipped.
    audit: typeof options.audit === 'boolean' ? options.audit : { sampleRate: 1, window: 10, maxLag: 60_000, ...options.audit },
    timeout: 2_000,
  });
  const cachedQuery = caching.cachedQuery(authed);
  const id = z.object({ id: z.number().int() });
  const router = t.router({
    post: t.router({
      byId: cachedQuery
        .meta({ cache: { tags: ({ input }) => [`post:${String(input.id)}`] } })
        .input(id)
        .query(async ({ input }) => {
          runs.byId++;
          await gate.pass();
          return { id: input.id, title: titles.get(input.id) ?? null };
        }),
      list: cachedQuery.query(() => [...titles.values()]),
      rename: caching
        .invalidatingMutation(authed)
        .meta({
          invalidate: {
            self: false,
            paths: ['post.list'],
            ...(options.correct ? { tags: ({ input }) => [`post:${String(input.id)}`] } : {}),
          },
        })
        .input(z.object({ id: z.number().int(), title: z.string() }))
        .mutation(({ input }) => {
          titles.set(input.id, input.title);
          return { ok: true };
        }),
    }),
    clock: cachedQuery.query(() => ({ tick: ++runs.clock })),
    frozen: cachedQuery.meta({ cache: { audit: false } }).query(() => ({ tick: ++runs.frozen })),
  });
  caching.validateRouter(router);
  const caller = (user: string) => t.createCallerFactory(router)({ user });
  afterEach(() => caching.close());
  return { caching, caller, gate, runs, errors };
}

const audited = (app: ReturnType<typeof blogApp>, checks: number) => until(() => app.caching.stats().audit.checks >= checks);

describe.each(storeKinds())('the consistency auditor on $name', (kind) => {
  it('reports a divergence on the path a mutation forgot to invalidate, naming that mutation, at the first sampled read', async () => {
    const app = blogApp(await kind.fresh());
    const messages: CacheDivergenceMessage[] = [];
    const listen = (message: unknown) => messages.push(message as CacheDivergenceMessage);
    subscribe(cachingChannels.divergence, listen);
    try {
      const alice = app.caller('alice');
      expect(await alice.post.byId({ id: 1 })).toEqual({ id: 1, title: 'one' });
      await alice.post.rename({ id: 1, title: 'renamed' });
      // The forgotten tag: the cache still serves the old title.
      expect(await alice.post.byId({ id: 1 })).toEqual({ id: 1, title: 'one' });
      await audited(app, 1);
    } finally {
      unsubscribe(cachingChannels.divergence, listen);
    }
    const { audit } = app.caching.stats();
    expect(audit).toMatchObject({ checks: 1, discarded: 0, divergences: 1, consistency: 0 });
    expect(audit.paths).toEqual([
      expect.objectContaining({ path: 'post.byId', divergences: 1, culprits: [{ mutation: 'post.rename', divergences: 1 }] }),
    ]);
    expect(messages).toEqual([
      expect.objectContaining({ path: 'post.byId', scope: 'user', tags: ['post:1'], mutations: ['post.rename'], outcome: 'diverged' }),
    ]);
    // Never a user id, an input or a value.
    expect(JSON.stringify(messages)).not.toMatch(/alice|renamed|"one"/);
    expect(messages[0]?.ageMs).toBeGreaterThanOrEqual(0);
  });

  it('finds every hit of a correct app in agreement with its resolver, including hits after a mutation', async () => {
    const app = blogApp(await kind.fresh(), { correct: true });
    const alice = app.caller('alice');
    await alice.post.byId({ id: 1 });
    await alice.post.byId({ id: 1 });
    // Its check ends before the mutation (one that overlapped it would be discarded: see the next test).
    await audited(app, 1);
    await alice.post.rename({ id: 1, title: 'renamed' });
    expect(await alice.post.byId({ id: 1 })).toEqual({ id: 1, title: 'renamed' });
    expect(await alice.post.byId({ id: 1 })).toEqual({ id: 1, title: 'renamed' });
    await audited(app, 2);
    expect(app.caching.stats().audit).toMatchObject({ checks: 2, discarded: 0, divergences: 0, consistency: 1 });
  });

  it('discards a check whose entry was invalidated while the resolver ran again, instead of reporting the change', async () => {
    const app = blogApp(await kind.fresh(), { correct: true });
    const alice = app.caller('alice');
    await alice.post.byId({ id: 1 });
    app.gate.close();
    // A hit: its check runs the resolver again, which waits at the gate.
    expect(await alice.post.byId({ id: 1 })).toEqual({ id: 1, title: 'one' });
    await app.gate.arrivals(2);
    // The data changes, and the invalidation says so, while the check's resolver is in flight: it reads the new title.
    await alice.post.rename({ id: 1, title: 'renamed' });
    app.gate.open();
    await audited(app, 1);
    const { audit } = app.caching.stats();
    expect(audit).toMatchObject({ checks: 1, discarded: 1, divergences: 0, consistency: null });
    expect(audit.reasons).toEqual({ moved: 1 });
  });

  it('never checks a procedure with meta.cache.audit false, while the same clock without it diverges', async () => {
    const app = blogApp(await kind.fresh());
    const alice = app.caller('alice');
    for (let i = 0; i < 3; i++) {
      await alice.frozen();
      await alice.clock();
    }
    await audited(app, 2);
    await until(() => app.runs.clock === 3);
    const { audit } = app.caching.stats();
    // The exempt procedure's resolver ran once (its miss); no check, no skip.
    expect(app.runs.frozen).toBe(1);
    expect(audit.paths.map((path) => path.path)).toEqual(['clock']);
    expect(audit).toMatchObject({ checks: 2, divergences: 2 });
  });

  it('checks no hit at sample rate 0, and every hit at 1', async () => {
    const never = blogApp(await kind.fresh(), { audit: { sampleRate: 0, window: 10 } });
    for (let i = 0; i < 5; i++) await never.caller('alice').post.byId({ id: 2 });
    expect(never.runs.byId).toBe(1);
    expect(never.caching.stats().audit).toMatchObject({ checks: 0, skipped: 0 });
    const always = blogApp(await kind.fresh(), { audit: { sampleRate: 1, window: 10, maxConcurrent: 10 } });
    for (let i = 0; i < 5; i++) await always.caller('alice').post.byId({ id: 2 });
    await audited(always, 4);
    expect(always.caching.stats().audit).toMatchObject({ checks: 4, skipped: 0, divergences: 0 });
  });

  it('skips sampled hits beyond maxConcurrent checks, without running their resolver', async () => {
    const app = blogApp(await kind.fresh(), { audit: { sampleRate: 1, window: 10, maxConcurrent: 1 } });
    const alice = app.caller('alice');
    await alice.post.byId({ id: 1 });
    app.gate.close();
    await alice.post.byId({ id: 1 });
    await app.gate.arrivals(2);
    await alice.post.byId({ id: 1 });
    await alice.post.byId({ id: 1 });
    expect(app.runs.byId).toBe(2);
    app.gate.open();
    await audited(app, 1);
    expect(app.caching.stats().audit).toMatchObject({ checks: 1, skipped: 2, reasons: { busy: 2 } });
  });

  it("logs a divergence loudly in development mode ('log'), naming the procedure and the mutation", async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const app = blogApp(await kind.fresh(), { audit: { sampleRate: 1, window: 10, onDivergence: 'log' } });
      const alice = app.caller('alice');
      await alice.post.byId({ id: 2 });
      await alice.post.rename({ id: 2, title: 'renamed' });
      await alice.post.byId({ id: 2 });
      await audited(app, 1);
      expect(logged).toHaveBeenCalledTimes(1);
      expect(String(logged.mock.calls[0]?.[0])).toMatch(/"post\.byId" served data its resolver no longer returns.*post\.rename/);
    } finally {
      logged.mockRestore();
    }
  });
});

describe("the auditor's development mode", () => {
  it("ends the process with the divergence (as a test run fails) when onDivergence is 'throw'", async () => {
    const script = fileURLToPath(new URL('../support/procs/audit-throw.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: fileURLToPath(new URL('../../', import.meta.url)) });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/CachingError: trpc-caching: "byId" served data its resolver no longer returns.*rename/);
    // A child process loading TypeScript through tsx on a busy machine takes a while to start.
  }, 90_000);
});
