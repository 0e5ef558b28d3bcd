import * as newest from '@trpc/server';
import { TRPCError } from '@trpc/server';
import type { Keyv } from 'keyv';
import * as lowest from 'trpc-server-lowest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CacheEngine, Computed, QueryPlan } from '../../src/engine/engine.js';
import { formatEntry, readEntry } from '../../src/engine/entry.js';
import type { ReadEvent } from '../../src/engine/events.js';
import { CachingConfigError, type CachingError } from '../../src/errors.js';
import { type CachingMeta, createCaching, createMemoryStore } from '../../src/index.js';
import { harness } from '../support/apps/harness.js';
import { failed, ok, query, type TestEngineOptions, testEngine } from '../support/engine.js';
// Aliased: the linter takes a use* call for a React hook.
import { useFakeClock as fakeEveryClock } from '../support/fake-clock.js';
import { Gate } from '../support/gate.js';
import { storedRows } from '../support/inspect.js';
import { refusal } from '../support/rejection.js';
import { type StoreKind, storeKinds } from '../support/stores.js';

const TTL = 1_000;
const WINDOW = 5_000;

/**
 * A fake wall clock. On memory the store's own expiry follows it too (see fakeEveryClock). On Redis only `Date`
 * is faked: the client keeps its real timers, and Redis expires keys in real time, so an entry is still in
 * Redis after the fake window and the engine's own check of the window is what is tested there.
 */
function fakeClock(kind: StoreKind): { advance(ms: number): void; restore(): void } {
  if (kind.name === 'memory') return fakeEveryClock();
  vi.useFakeTimers({ toFake: ['Date'] });
  return {
    advance: (ms) => vi.setSystemTime(Date.now() + ms),
    restore: () => vi.useRealTimers(),
  };
}

let clock: { advance(ms: number): void; restore(): void } | undefined;
afterEach(() => {
  clock?.restore();
  clock = undefined;
});

/** An engine on a store, as createCaching builds one, recording faults and read events. */
function engineOn(keyv: Keyv, overrides: TestEngineOptions = {}) {
  const reads: ReadEvent['status'][] = [];
  const made = testEngine(keyv, {
    // Generous: a loaded machine must not turn a hit into a bypass here.
    timeout: 5_000,
    invalidationTimeout: 5_000,
    events: { onRead: (event) => reads.push(event.status) },
    ...overrides,
  });
  return { ...made, reads };
}

const alice = { kind: 'user', id: 'alice' } as const;

function planFor(engine: CacheEngine, stale: { window?: number; ifError?: boolean } = {}): QueryPlan {
  return engine.plan({
    path: 'post.list',
    scope: alice,
    input: { page: 1 },
    tags: ['post:1'],
    ttl: TTL,
    staleWhileRevalidate: stale.window ?? WINDOW,
    staleIfError: stale.ifError ?? false,
  });
}

/** A resolver that counts its runs and returns `v<run>`; with a gate, each run passes it first. */
function counter(gate?: Gate) {
  const state = { runs: 0 };
  if (gate === undefined) return { state, compute: async () => ok(`v${++state.runs}`) };
  const compute = async () => {
    state.runs++;
    await gate.pass();
    return ok(`v${state.runs}`);
  };
  return { state, compute };
}

/**
 * An engine holding `v1`, the counter's first run, `by` ms later (default: its TTL has just passed, well within the
 * window); `clock` is fake from here on. With a gate, every run of the counter passes it.
 */
async function expiredEntry(kind: StoreKind, { gate, ifError, by = TTL + 1 }: { gate?: Gate; ifError?: boolean; by?: number } = {}) {
  const fake = fakeClock(kind);
  clock = fake;
  const keyv = await kind.fresh();
  const { engine, errors } = engineOn(keyv);
  const plan = planFor(engine, { ifError });
  const { state, compute } = counter(gate);
  await query(engine, plan, compute);
  fake.advance(by);
  return { clock: fake, keyv, engine, errors, plan, state, compute };
}

describe.each(storeKinds())('stale-while-revalidate in the engine on $name', (kind) => {
  it('serves an expired entry once, at once, and then the entry its single background refresh stored', async () => {
    clock = fakeClock(kind);
    const { engine, errors, reads } = engineOn(await kind.fresh());
    const plan = planFor(engine);
    const { state, compute } = counter();
    expect(await query(engine, plan, compute)).toEqual({ how: 'computed', value: 'v1' });
    clock.advance(TTL - 1);
    expect(await query(engine, plan, compute)).toEqual({ how: 'hit', value: 'v1' });
    clock.advance(2);
    expect(await query(engine, plan, compute)).toEqual({ how: 'stale', value: 'v1' });
    await engine.idle();
    expect(state.runs).toBe(2);
    expect(await query(engine, plan, compute)).toEqual({ how: 'hit', value: 'v2' });
    expect(state.runs).toBe(2);
    // The refresh is not a second read: observers see the stale read once.
    expect(reads).toEqual(['miss', 'hit', 'stale', 'hit']);
    expect(errors).toEqual([]);
  });

  it('refreshes once for concurrent readers, serving every one of them the old value meanwhile', async () => {
    const gate = new Gate();
    const { engine, plan, state, compute } = await expiredEntry(kind, { gate });
    gate.close();
    const readers = await Promise.all(Array.from({ length: 8 }, () => query(engine, plan, compute)));
    expect(readers).toEqual(Array.from({ length: 8 }, () => ({ how: 'stale', value: 'v1' })));
    await gate.arrivals(2);
    // A reader that comes while the refresh runs is answered at once too, and starts nothing.
    expect(await query(engine, plan, compute)).toEqual({ how: 'stale', value: 'v1' });
    gate.open();
    await engine.idle();
    expect(state.runs).toBe(2);
    expect(await query(engine, plan, compute)).toEqual({ how: 'hit', value: 'v2' });
  });

  it.each([
    ['a tag', { tags: ['post:1'] }],
    ['the user', { users: ['alice'] }],
    ['the path', { paths: ['post'] }],
    ['everything', { all: true }],
  ] as const)('never serves an expired entry stale once %s it depends on was invalidated', async (_name, target) => {
    const { engine, plan, compute } = await expiredEntry(kind);
    expect(await engine.invalidate(engine.planMove(target))).toBe(true);
    // The window only stretches expiry; a move means the data changed, so the caller waits for the resolver.
    expect(await query(engine, plan, compute)).toEqual({ how: 'computed', value: 'v2' });
  });

  it('never serves an expired entry stale once one of its version keys is gone from the store', async () => {
    const { keyv, engine, plan, compute } = await expiredEntry(kind);
    expect(await keyv.delete(plan.keys.at(-1) as string)).toBe(true);
    expect(await query(engine, plan, compute)).toEqual({ how: 'computed', value: 'v2' });
  });

  it('stores a refresh under the versions read before it ran, so that a move during the refresh makes it a miss', async () => {
    const gate = new Gate();
    const { engine, plan, compute } = await expiredEntry(kind, { gate });
    gate.close();
    expect(await query(engine, plan, compute)).toEqual({ how: 'stale', value: 'v1' });
    await gate.arrivals(2);
    await engine.invalidate(engine.planMove({ tags: ['post:1'] }));
    gate.open();
    await engine.idle();
    // v2 was computed from data read before the move: stored, but under the old versions.
    expect(await query(engine, plan, compute)).toEqual({ how: 'computed', value: 'v3' });
  });

  it('stops serving stale once the window has passed', async () => {
    const { clock, engine, plan, compute } = await expiredEntry(kind, { by: TTL + WINDOW - 1 });
    expect(await query(engine, plan, compute)).toEqual({ how: 'stale', value: 'v1' });
    await engine.idle();
    clock.advance(TTL + WINDOW);
    expect(await query(engine, plan, compute)).toEqual({ how: 'computed', value: 'v3' });
  });

  it('reports a failed refresh to onError and then lets the next caller run the resolver and see its failure', async () => {
    const { clock, engine, errors, plan } = await expiredEntry(kind);
    expect(await query(engine, plan, async () => failed('database down'))).toEqual({ how: 'stale', value: 'v1' });
    await engine.idle();
    expect(errors.map((error) => [error.operation, error.path, (error.cause as Error).message])).toEqual([
      ['refresh', 'post.list', 'database down'],
    ]);
    expect(await query(engine, plan, async () => failed('still down'))).toEqual({ how: 'computed', value: 'still down' });
    // A success ends it: the next expiry is served stale again.
    expect(await query(engine, plan, async () => ok('v2'))).toEqual({ how: 'computed', value: 'v2' });
    clock.advance(TTL + 1);
    expect(await query(engine, plan, async () => ok('v3'))).toEqual({ how: 'stale', value: 'v2' });
  });

  it('reports a refresh whose resolver throws instead of letting it become an unhandled rejection', async () => {
    const { engine, errors, plan } = await expiredEntry(kind);
    const throwing = async (): Promise<Computed<string>> => {
      throw new Error('resolver crashed');
    };
    expect(await query(engine, plan, throwing)).toEqual({ how: 'stale', value: 'v1' });
    await engine.idle();
    expect(errors.map((error) => [error.operation, (error.cause as Error).message])).toEqual([['refresh', 'resolver crashed']]);
  });

  it('with staleIfError keeps serving the old value while the resolver fails, until the window ends', async () => {
    const { clock, engine, errors, plan } = await expiredEntry(kind, { ifError: true });
    expect(await query(engine, plan, async () => failed('down'))).toEqual({ how: 'stale', value: 'v1' });
    await engine.idle();
    clock.advance(WINDOW - 2);
    expect(await query(engine, plan, async () => failed('down'))).toEqual({ how: 'stale', value: 'v1' });
    await engine.idle();
    expect(errors.map((error) => error.operation)).toEqual(['refresh', 'refresh']);
    clock.advance(2);
    expect(await query(engine, plan, async () => failed('down'))).toEqual({ how: 'computed', value: 'down' });
  });

  it('moves the fresh/stale boundary with clock skew but never revives an invalidated entry', async () => {
    clock = fakeClock(kind);
    const { engine } = engineOn(await kind.fresh());
    const plan = planFor(engine);
    const { compute } = counter();
    await query(engine, plan, compute);
    // A reader whose clock is a minute behind the writer's sees the entry fresh (the store still bounds its life).
    vi.setSystemTime(Date.now() - 60_000);
    expect(await query(engine, plan, compute)).toEqual({ how: 'hit', value: 'v1' });
    await engine.invalidate(engine.planMove({ paths: ['post.list'] }));
    expect(await query(engine, plan, compute)).toEqual({ how: 'computed', value: 'v2' });
    // A reader a minute ahead finds the new entry past its window: a miss, never something older.
    vi.setSystemTime(Date.now() + 120_000);
    expect(await query(engine, plan, compute)).toEqual({ how: 'computed', value: 'v3' });
  });

  it('reads entries written without a window as before, and serves a windowed entry to a procedure without one only while fresh', async () => {
    clock = fakeClock(kind);
    const { engine } = engineOn(await kind.fresh());
    const windowed = planFor(engine);
    const plain = planFor(engine, { window: 0 });
    const { compute } = counter();
    expect(await query(engine, plain, compute)).toEqual({ how: 'computed', value: 'v1' });
    expect(await query(engine, windowed, compute)).toEqual({ how: 'hit', value: 'v1' });
    await engine.invalidate(engine.planMove({ tags: ['post:1'] }));
    expect(await query(engine, windowed, compute)).toEqual({ how: 'computed', value: 'v2' });
    expect(await query(engine, plain, compute)).toEqual({ how: 'hit', value: 'v2' });
    clock.advance(TTL + 1);
    // The window belongs to the procedure: one that no longer has one treats the expired entry as a miss.
    expect(await query(engine, plain, compute)).toEqual({ how: 'computed', value: 'v3' });
  });
});

describe.each(storeKinds().filter((kind) => kind.name === 'redis'))('stale-while-revalidate on $name in real time', (kind) => {
  it('stores a windowed entry for its ttl plus the window, and seeds its tag version for as long', async () => {
    const keyv = await kind.fresh();
    const { engine } = engineOn(keyv);
    const plan = planFor(engine);
    await query(engine, plan, async () => ok('v1'));
    const entryTtl = Number(await kind.redis?.command('PTTL', plan.entryKey));
    expect(entryTtl).toBeGreaterThan(TTL);
    expect(entryTtl).toBeLessThanOrEqual(TTL + WINDOW);
    // Seeded just before the entry was written, for the entry's whole life (an absent version only costs a miss).
    const versionTtl = Number(await kind.redis?.command('PTTL', plan.keys.at(-1) as string));
    expect(versionTtl).toBeGreaterThan(TTL);
    expect(versionTtl).toBeLessThanOrEqual(TTL + WINDOW);
  });
});

describe('the entry format', () => {
  it('reads format 1 (0.1.0) and records in format 2 when an entry stops being fresh', () => {
    expect(formatEntry('a b', '"x"').text.startsWith('1 ')).toBe(true);
    const windowed = formatEntry('a b', '"x"', 1_700_000_000_123);
    expect(windowed.text.startsWith(`2 ${windowed.etag} 1700000000123 a b\n`)).toBe(true);
    expect(readEntry(windowed.text, 'a b')).toEqual({ payload: '"x"', etag: windowed.etag, freshUntil: 1_700_000_000_123 });
    expect(readEntry(formatEntry('a b', '"x"').text, 'a b')).toMatchObject({ payload: '"x"', freshUntil: undefined });
  });

  it('reads a windowed entry with other tokens, a damaged time or an unknown marker as nothing', () => {
    const { text, etag } = formatEntry('a b', '"x"', 1_700_000_000_123);
    expect(readEntry(text, 'a c')).toBeUndefined();
    expect(readEntry(text.replace('1700000000123', '17000000x0123'), 'a b')).toBeUndefined();
    expect(readEntry(text.replace('1700000000123 ', ''), 'a b')).toBeUndefined();
    expect(readEntry(`3 ${etag} 1 a b\n"x"`, 'a b')).toBeUndefined();
  });
});

describe.each(storeKinds())('stale-while-revalidate through tRPC on $name', (kind) => {
  /** A cached query whose resolver counts its runs, waits on a gate, and fails while `down`. */
  async function app(cache: { staleWhileRevalidate: number; staleIfError?: boolean }) {
    const keyv = await kind.fresh();
    const { t, caching, errors } = harness<{ user: string | null }>(keyv, { timeout: 5_000 });
    const state = { rev: 0, down: false, seen: [] as { user: unknown; input: unknown; signal: AbortSignal | undefined }[] };
    const gate = new Gate();
    const router = t.router({
      list: caching
        .cachedQuery(t.procedure)
        .meta({ cache: { ttl: TTL, ...cache } })
        .input((raw) => raw as { page: number })
        .query(async ({ ctx, input, signal }) => {
          const rev = state.rev;
          state.seen.push({ user: ctx.user, input, signal });
          await gate.pass();
          if (state.down) throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'database down' });
          return { rev };
        }),
    });
    caching.validateRouter(router);
    const createCaller = t.createCallerFactory(router);
    /** Resolves once an entry holding `rev` is in the store, read from the store itself (a read through the cache could start a refresh). */
    const stored = (rev: number) =>
      settle(async () => (await storedRows(kind, keyv)).some((row) => new RegExp(`rev\\\\?":${rev}\\b`).test(row.text)));
    return { createCaller, state, gate, errors, stored };
  }

  /** Lets I/O and promises run until `condition` holds (timers may be fake: bounded by the real clock). */
  async function settle(condition: () => boolean | Promise<boolean>): Promise<void> {
    const end = process.hrtime.bigint() + 10_000_000_000n;
    while (!(await condition())) {
      if (process.hrtime.bigint() > end) throw new Error('condition not reached in 10 s');
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Alice's page 1 cached, then the database down and the entry expired: her next read is answered stale and its refresh fails. */
  async function failedRefresh(cache: { staleWhileRevalidate: number; staleIfError?: boolean }) {
    const fake = fakeClock(kind);
    clock = fake;
    const made = await app(cache);
    const alice = made.createCaller({ user: 'alice' });
    expect(await alice.list({ page: 1 })).toEqual({ rev: 0 });
    made.state.down = true;
    fake.advance(TTL + 1);
    expect(await alice.list({ page: 1 })).toEqual({ rev: 0 });
    await settle(() => made.errors.length === 1);
    return { ...made, alice, clock: fake };
  }

  it('answers at once with the expired value and runs the resolver after the answer, with the caller’s ctx and input', async () => {
    clock = fakeClock(kind);
    const { createCaller, state, gate, stored } = await app({ staleWhileRevalidate: WINDOW });
    const alice = createCaller({ user: 'alice' });
    expect(await alice.list({ page: 2 })).toEqual({ rev: 0 });
    state.rev = 1;
    clock.advance(TTL + 1);
    gate.close();
    // Answered while the resolver is held: the refresh runs tRPC's next() after the middleware has returned.
    expect(await alice.list({ page: 2 })).toEqual({ rev: 0 });
    await gate.arrivals(2);
    expect(state.seen[1]).toMatchObject({ user: 'alice', input: { page: 2 } });
    gate.open();
    await stored(1);
    expect(await alice.list({ page: 2 })).toEqual({ rev: 1 });
    expect(state.seen).toHaveLength(2);
  });

  it('finishes a refresh whose caller aborted its request after the stale answer', async () => {
    clock = fakeClock(kind);
    const { createCaller, state, gate, errors, stored } = await app({ staleWhileRevalidate: WINDOW });
    expect(await createCaller({ user: 'alice' }).list({ page: 1 })).toEqual({ rev: 0 });
    state.rev = 1;
    clock.advance(TTL + 1);
    gate.close();
    const controller = new AbortController();
    expect(await createCaller({ user: 'alice' }, { signal: controller.signal }).list({ page: 1 })).toEqual({ rev: 0 });
    await gate.arrivals(2);
    controller.abort();
    gate.open();
    await stored(1);
    expect(await createCaller({ user: 'alice' }).list({ page: 1 })).toEqual({ rev: 1 });
    expect(state.seen).toHaveLength(2);
    // The resolver saw its caller's signal aborted and finished anyway: nothing of the cache's stopped it.
    expect(state.seen[1]?.signal?.aborted).toBe(true);
    expect(errors).toEqual([]);
  });

  it('with staleIfError answers with the old value while the resolver throws within the window, and with the error after it', async () => {
    const { alice, errors, clock } = await failedRefresh({ staleWhileRevalidate: WINDOW, staleIfError: true });
    expect(await alice.list({ page: 1 })).toEqual({ rev: 0 });
    await settle(() => errors.length === 2);
    expect(errors.map((error) => [error.operation, error.path])).toEqual([
      ['refresh', 'list'],
      ['refresh', 'list'],
    ]);
    expect(errors[0]?.cause).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    clock.advance(WINDOW);
    expect((await refusal(alice.list({ page: 1 }))).code).toBe('SERVICE_UNAVAILABLE');
  });

  it('without staleIfError answers with the error once a background refresh has failed', async () => {
    const { alice, errors } = await failedRefresh({ staleWhileRevalidate: WINDOW });
    expect(errors[0]?.operation).toBe('refresh');
    expect((await refusal(alice.list({ page: 1 }))).code).toBe('SERVICE_UNAVAILABLE');
  });
});

// Typed as the newest release; at run time each case builds its procedure with its own release's code.
const RELEASES = [
  { name: '@trpc/server 11.0.0 (lowest in the peer range)', initTRPC: (lowest as unknown as typeof newest).initTRPC },
  { name: '@trpc/server newest installed', initTRPC: newest.initTRPC },
];

describe.each(RELEASES)('a background refresh on $name', ({ initTRPC }) => {
  it('runs the rest of the chain after the cache middleware has returned the stale value', async () => {
    clock = fakeEveryClock();
    const t = initTRPC.context<{ user: string }>().meta<CachingMeta>().create();
    const errors: CachingError[] = [];
    const caching = createCaching<{ user: string }>({
      user: (ctx) => ctx.user,
      store: createMemoryStore(),
      onError: (e) => errors.push(e),
    });
    const gate = new Gate();
    let rev = 0;
    let finished = 0;
    const router = t.router({
      list: caching
        .cachedQuery(t.procedure)
        .meta({ cache: { ttl: TTL, staleWhileRevalidate: WINDOW } })
        .query(async () => {
          const seen = rev;
          await gate.pass();
          finished++;
          return { rev: seen };
        }),
    });
    const alice = t.createCallerFactory(router)({ user: 'alice' });
    expect(await alice.list()).toEqual({ rev: 0 });
    rev = 1;
    clock.advance(TTL + 1);
    gate.close();
    expect(await alice.list()).toEqual({ rev: 0 });
    await gate.arrivals(2);
    gate.open();
    while (finished < 2) await new Promise((resolve) => setImmediate(resolve));
    // The memory store answers within a turn of the event loop: a few turns let the refresh's write land.
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(await alice.list()).toEqual({ rev: 1 });
    expect(errors).toEqual([]);
  });
});

describe('meta.cache.staleWhileRevalidate and staleIfError validation', () => {
  function validate(cache: object, versionTtl = 60_000) {
    const { t, caching } = harness<{ user: string | null }>(undefined, { ttl: 1_000, versionTtl });
    const router = t.router({
      list: caching
        .cachedQuery(t.procedure)
        .meta({ cache })
        .query(() => 1),
    });
    return () => caching.validateRouter(router);
  }

  it('refuses a window that would keep entries longer than versions, naming the option', () => {
    expect(validate({ ttl: 10_000, staleWhileRevalidate: 50_000 })).not.toThrow();
    expect(validate({ ttl: 10_000, staleWhileRevalidate: 50_001 })).toThrow(CachingConfigError);
    expect(validate({ ttl: 10_000, staleWhileRevalidate: 50_001 })).toThrow(/staleWhileRevalidate.*versionTtl/);
  });

  it('refuses a negative or non-numeric window, a non-boolean staleIfError, and staleIfError without a window', () => {
    expect(validate({ staleWhileRevalidate: -1 })).toThrow(/staleWhileRevalidate/);
    expect(validate({ staleWhileRevalidate: '5s' })).toThrow(/staleWhileRevalidate/);
    expect(validate({ staleWhileRevalidate: 1_000, staleIfError: 'yes' })).toThrow(/staleIfError: expected a boolean/);
    expect(validate({ staleIfError: true })).toThrow(/staleIfError: needs a staleWhileRevalidate window/);
    expect(validate({ staleWhileRevalidate: 0, staleIfError: false })).not.toThrow();
  });
});
