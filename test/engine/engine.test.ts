import type { Keyv } from 'keyv';
import { afterEach, describe, expect, it } from 'vitest';
import type { CacheEngine, Computed, QueryPlan } from '../../src/engine/engine.js';
import { failed, ok, query, testEngine } from '../support/engine.js';
import { Gate } from '../support/gate.js';
import { fileRedis } from '../support/redis-file.js';
import { destroyStore, readyRedisStore } from '../support/redis-store.js';
import { storeKinds } from '../support/stores.js';
import { until } from '../support/until.js';

const alice = { kind: 'user', id: 'alice' } as const;

function planFor(engine: CacheEngine, input: unknown = { page: 1 }, tags: readonly string[] = ['post:1']): QueryPlan {
  return engine.plan({ path: 'post.list', scope: alice, input, tags, ttl: 60_000 });
}

describe.each(storeKinds())('the engine on $name', (kind) => {
  it('serves an entry only while every version it recorded is current', async () => {
    const { engine } = testEngine(await kind.fresh());
    const plan = planFor(engine);
    expect(await query(engine, plan, async () => ok('v1'))).toEqual({ how: 'computed', value: 'v1' });
    expect(await query(engine, plan, async () => ok('unused'))).toEqual({ how: 'hit', value: 'v1' });
    expect(await engine.invalidate(engine.planMove({ tags: ['post:1'] }))).toBe(true);
    expect(await query(engine, plan, async () => ok('v2'))).toEqual({ how: 'computed', value: 'v2' });
    // Another tag, user or path leaves it alone.
    await engine.invalidate(engine.planMove({ tags: ['post:2'], users: ['bob'], paths: ['user'] }));
    expect(await query(engine, plan, async () => ok('unused'))).toEqual({ how: 'hit', value: 'v2' });
  });

  it('never serves an entry again once one of its version keys was lost, and seeds a fresh version instead', async () => {
    const keyv = await kind.fresh();
    const { engine } = testEngine(keyv);
    const plan = planFor(engine);
    await query(engine, plan, async () => ok('before'));
    expect(await query(engine, plan, async () => ok('unused'))).toMatchObject({ how: 'hit' });
    for (const versionKey of plan.keys.slice(1)) {
      // Eviction, FLUSH, expiry or a clock-skewed Keyv deleting it: the key is simply gone.
      await keyv.delete(versionKey);
      expect(await query(engine, plan, async () => ok(`after ${versionKey}`))).toEqual({ how: 'computed', value: `after ${versionKey}` });
      expect(await keyv.get(versionKey)).toEqual(expect.any(String));
      expect(await query(engine, plan, async () => ok('unused'))).toEqual({ how: 'hit', value: `after ${versionKey}` });
    }
  });

  it('treats an entry past its TTL as a miss even while the store still holds it', async () => {
    const { engine } = testEngine(await kind.fresh());
    const plan = engine.plan({ path: 'post.list', scope: alice, input: { page: 13 }, tags: undefined, ttl: 60_000 });
    await query(engine, plan, async () => ok('old'));
    expect(await query(engine, plan, async () => ok('unused'))).toEqual({ how: 'hit', value: 'old' });
    // The wall clock moves past the TTL while the store (a near cache between expiries, an adapter that rounds
    // TTLs up, a store whose clock lags) still answers with the entry.
    const realNow = Date.now;
    Date.now = () => realNow() + 61_000;
    try {
      expect(await query(engine, plan, async () => ok('new'))).toEqual({ how: 'computed', value: 'new' });
    } finally {
      Date.now = realNow;
    }
  });

  it('writes the versions a miss found absent before the resolver runs', async () => {
    const keyv = await kind.fresh();
    const { engine } = testEngine(keyv);
    const plan = planFor(engine);
    const seen: unknown[] = [];
    await query(engine, plan, async () => {
      for (const key of plan.keys.slice(1)) seen.push(await keyv.get(key));
      return ok('v');
    });
    expect(seen).toHaveLength(plan.keys.length - 1);
    for (const token of seen) expect(token).toEqual(expect.any(String));
  });

  it.runIf(kind.name === 'redis')('seeds tag versions for as long as the entry lives, other versions for versionTtl', async () => {
    const { engine } = testEngine(await kind.fresh());
    // Tags come from inputs: a flood of made-up ids must not leave a day-long key behind each.
    const plan = engine.plan({ path: 'post.byId', scope: alice, input: { id: 404 }, tags: ['post:404'], ttl: 5_000 });
    await query(engine, plan, async () => ok(null));
    const ttlOf = async (key: string) => Number(await kind.redis?.command('PTTL', key));
    const tagKey = plan.keys.at(-1) as string;
    expect(tagKey).toContain(':v:t:');
    expect(await ttlOf(tagKey)).toBeLessThanOrEqual(5_000);
    expect(await ttlOf(plan.keys[1] as string)).toBeGreaterThan(50_000);
  });

  it('gives followers of a failed leader their own resolver run, one at a time, and never the failure', async () => {
    const { engine } = testEngine(await kind.fresh());
    const plan = planFor(engine, { page: 9 });
    let runs = 0;
    const gate = new Gate();
    gate.close();
    const compute = async (): Promise<Computed<string>> => {
      runs++;
      const mine = runs;
      if (mine === 1) {
        await gate.pass();
        return failed("alice's secret error");
      }
      return ok(`run ${mine}`);
    };
    const leader = query(engine, plan, compute);
    await until(() => runs === 1);
    let read = 0;
    const followers = Array.from({ length: 8 }, () => query(engine, plan, compute, undefined, () => read++));
    // Every follower has read (and so joined the failing flight: fill runs in the same turn) before it fails.
    await until(() => read === 8);
    gate.open();
    expect(await leader).toEqual({ how: 'computed', value: "alice's secret error" });
    const answers = await Promise.all(followers);
    expect(answers.map((answer) => answer.value)).not.toContain("alice's secret error");
    // One follower ran its own resolver after the failure; the rest shared its success.
    expect(runs).toBe(2);
    expect(answers.filter((answer) => answer.how === 'computed')).toHaveLength(1);
    expect(new Set(answers.map((answer) => answer.value))).toEqual(new Set(['run 2']));
  });

  it("lets a follower stop waiting when its own caller aborts, without touching the leader's run", async () => {
    const { engine } = testEngine(await kind.fresh());
    const plan = planFor(engine, { page: 10 });
    const gate = new Gate();
    gate.close();
    let started = false;
    const leader = query(engine, plan, async () => {
      started = true;
      await gate.pass();
      return ok('done');
    });
    await until(() => started);
    const controller = new AbortController();
    const follower = query(engine, plan, async () => ok('follower ran'), controller.signal);
    controller.abort(new Error('client went away'));
    await expect(follower).rejects.toThrow('client went away');
    gate.open();
    expect(await leader).toEqual({ how: 'computed', value: 'done' });
  });

  it('never lets a query that starts after a mutation join a run from before it, even once the moved version is lost', async () => {
    const keyv = await kind.fresh();
    const { engine } = testEngine(keyv);
    const plan = planFor(engine, { page: 12 });
    let db = 'before';
    const gate = new Gate();
    gate.close();
    let started = false;
    // A reads the database, then takes its time: its result is from before the mutation.
    const slow = query(engine, plan, async () => {
      const seen = db;
      started = true;
      await gate.pass();
      return ok(seen);
    });
    await until(() => started);
    db = 'after';
    expect(await engine.invalidate(engine.planMove({ scopes: [alice] }))).toBe(true);
    // The moved key is lost (eviction, FLUSHALL, a restart without persistence): B reads it absent, as A did.
    for (const key of plan.keys.slice(1)) await keyv.delete(key);
    const fresh = query(engine, plan, async () => ok(db));
    gate.open();
    expect(await slow).toEqual({ how: 'computed', value: 'before' });
    expect(await fresh).toEqual({ how: 'computed', value: 'after' });
  });

  it('shares a successful result as a fresh copy that no follower can change for another', async () => {
    const { engine } = testEngine(await kind.fresh());
    const plan = planFor(engine, { page: 11 });
    const gate = new Gate();
    gate.close();
    let runs = 0;
    const compute = async () => {
      runs++;
      await gate.pass();
      return ok({ items: [1, 2, 3] });
    };
    const leader = query(engine, plan, compute);
    await until(() => runs === 1);
    let read = 0;
    const followers = [1, 2].map(() => query(engine, plan, compute, undefined, () => read++));
    // Both followers have read (and so joined the flight: fill runs in the same turn) before the leader finishes.
    await until(() => read === 2);
    gate.open();
    await leader;
    const [first, second] = await Promise.all(followers);
    if (first === undefined || second === undefined) throw new Error('two followers expected');
    expect(first.how).toBe('shared');
    (first.value as { items: number[] }).items.push(4);
    expect(second.value).toEqual({ items: [1, 2, 3] });
  });
});

describe('the engine on Redis under faults', () => {
  const redis = fileRedis();
  const opened: Keyv[] = [];
  afterEach(async () => {
    await redis.server.command('CLIENT', 'UNPAUSE').catch(() => {});
    for (const keyv of opened.splice(0)) await destroyStore(keyv);
  });
  async function store(url = redis.url): Promise<Keyv> {
    const keyv = await readyRedisStore(url);
    opened.push(keyv);
    return keyv;
  }

  it('writes an invalidation while the circuit breaker is open, so other processes see it', async () => {
    await redis.server.command('FLUSHALL');
    // The writer logs in with an account of its own, so that its reads can fail while everyone else's work.
    await redis.server.command('ACL', 'SETUSER', 'writer', 'reset', 'on', '>writer-secret', '~*', '&*', '+@all');
    const writer = testEngine(await store(redis.url.replace('redis://', 'redis://writer:writer-secret@')), { breakerThreshold: 1 });
    const reader = testEngine(await store());
    const plan = planFor(reader.engine);
    await query(reader.engine, plan, async () => ok('before'));
    expect(await query(reader.engine, plan, async () => ok('unused'))).toEqual({ how: 'hit', value: 'before' });
    // The writer's reads fail at once (its account lost its read rights: NOPERM), and its breaker opens. An error
    // rather than a timeout: a timer that fires late on a loaded machine is blamed on the loop and opens nothing.
    await redis.server.command('ACL', 'SETUSER', 'writer', '-@read');
    expect(await writer.engine.read(planFor(writer.engine))).toEqual({ kind: 'bypass', reason: 'store-error' });
    expect(await writer.engine.read(planFor(writer.engine))).toEqual({ kind: 'bypass', reason: 'breaker-open' });
    // The breaker is open for reads, but a move is never skipped by it.
    expect(await writer.engine.invalidate(writer.engine.planMove({ tags: ['post:1'] }))).toBe(true);
    expect(writer.engine.pendingInvalidations).toBe(0);
    expect(await query(reader.engine, plan, async () => ok('after'))).toEqual({ how: 'computed', value: 'after' });
  });

  it('does not open the breaker when its own event loop stalls with reads in flight', async () => {
    await redis.server.command('FLUSHALL');
    // The stall outlasts the timeout by far more than a loaded machine delays a timer, and the timeout leaves a
    // healthy Redis time to answer once the loop turns again.
    const { engine, errors } = testEngine(await store(), { timeout: 200, breakerThreshold: 5 });
    const plans = Array.from({ length: 8 }, (_, page) => planFor(engine, { page }));
    const reads = plans.map((plan) => engine.read(plan));
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // A synchronous stall, as a big JSON.parse or a CPU-bound request would cause.
    }
    const outcomes = await Promise.all(reads);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(Array(8).fill('miss'));
    expect(errors).toEqual([]);
    expect(await engine.read(plans[0] as QueryPlan)).toMatchObject({ kind: 'miss' });
  });

  it('writes a move whose process stalled longer than invalidationTimeout right after queueing it', async () => {
    await redis.server.command('FLUSHALL');
    const { engine } = testEngine(await store(), { invalidationTimeout: 300 });
    for (let round = 0; round < 3; round++) {
      const move = engine.invalidate(engine.planMove({ tags: [`stalled:${round}`] }));
      const until = Date.now() + 450;
      while (Date.now() < until) {
        // The client sends the command on a later tick: nothing left this process while it was blocked.
      }
      expect(await move).toBe(true);
      expect(engine.pendingInvalidations).toBe(0);
    }
  });

  it('collapses an oversized backlog into one move of everything, and writes it once the store answers', async () => {
    await redis.server.command('FLUSHALL');
    const reader = testEngine(await store());
    const plan = planFor(reader.engine);
    await query(reader.engine, plan, async () => ok('before'));
    const writer = testEngine(await store(), { maxPendingInvalidations: 50, invalidationTimeout: 100 });
    await redis.server.command('CLIENT', 'PAUSE', '1500', 'WRITE');
    const moves = await Promise.all(
      Array.from({ length: 200 }, (_, i) => writer.engine.invalidate(writer.engine.planMove({ tags: [`other:${i}`] }))),
    );
    expect(moves.every((written) => written === false)).toBe(true);
    // 200 distinct keys became one move of the global version: bounded, and it covers everything here.
    expect(writer.engine.pendingInvalidations).toBe(1);
    expect(await writer.engine.read(planFor(writer.engine))).toEqual({ kind: 'bypass', reason: 'pending-invalidation' });
    expect(writer.errors.some((error) => /maxPendingInvalidations/.test(error.message))).toBe(true);
    await redis.server.command('CLIENT', 'UNPAUSE');
    expect(await writer.engine.flush(5_000)).toBe(true);
    // Coarse but correct: the reader's entry, which no named tag touched, is invalidated too.
    expect(await query(reader.engine, plan, async () => ok('after'))).toEqual({ how: 'computed', value: 'after' });
  });
});
