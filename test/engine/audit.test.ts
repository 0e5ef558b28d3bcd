import type { Keyv } from 'keyv';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditSettings } from '../../src/engine/audit.js';
import type { CacheEngine, Computed, QueryPlan, ReadOutcome } from '../../src/engine/engine.js';
import type { AuditEvent, Divergence } from '../../src/engine/events.js';
import { ok, testEngine } from '../support/engine.js';
import { fileRedis } from '../support/redis-file.js';
import { destroyStore, readyRedisStore } from '../support/redis-store.js';
import { storeKinds } from '../support/stores.js';
import { until } from '../support/until.js';

const alice = { kind: 'user', id: 'alice' } as const;
const AUDIT: AuditSettings = { sampleRate: 1, maxConcurrent: 4, window: 5, maxLag: 10_000, onDivergence: undefined };

/** An auditing engine on `keyv`, and every audit event it tells. */
function auditing(keyv: Keyv, options: { breakerThreshold?: number } = {}) {
  const heard: Array<AuditEvent | Divergence> = [];
  const { engine } = testEngine(keyv, { audit: AUDIT, events: { onAudit: (event) => heard.push(event) }, ...options });
  return { engine, heard };
}

function planFor(engine: CacheEngine): QueryPlan {
  return engine.plan({ path: 'post.byId', scope: alice, input: { id: 1 }, tags: ['post:1'], ttl: 60_000 });
}

/** Stores `value` for the plan, and returns the hit that reads it back. */
async function hitOf(engine: CacheEngine, plan: QueryPlan, value: unknown): Promise<Extract<ReadOutcome, { kind: 'hit' }>> {
  const miss = await engine.read(plan);
  if (miss.kind !== 'miss') throw new Error(`expected a miss, got ${miss.kind}`);
  await engine.fill(plan, miss, async () => ok(value));
  const hit = await engine.read(plan);
  if (hit.kind !== 'hit') throw new Error(`expected a hit, got ${hit.kind}`);
  return hit;
}

describe.each(storeKinds())('the auditor of the engine on $name', (kind) => {
  it('agrees with a fresh result that differs from the entry only in the order of its object keys', async () => {
    const { engine, heard } = auditing(await kind.fresh());
    const plan = planFor(engine);
    const hit = await hitOf(engine, plan, { id: 1, title: 'one', at: new Date(0) });
    engine.audit(plan, hit, async () => ok({ at: new Date(0), title: 'one', id: 1 }));
    await engine.idle();
    expect(heard).toEqual([expect.objectContaining({ outcome: 'agreed', path: 'post.byId' })]);
  });

  it('names only the mutations that ran since the entry was stored, most recent first', async () => {
    const { engine, heard } = auditing(await kind.fresh());
    const plan = planFor(engine);
    await engine.invalidate(engine.planMove({ tags: ['other'] }), 'post.before');
    // Entry times are wall-clock ms: a later move must be recorded in a later ms to count as after it.
    const storedAfter = Date.now();
    await until(() => Date.now() > storedAfter);
    const hit = await hitOf(engine, plan, { title: 'one' });
    await engine.invalidate(engine.planMove({ paths: ['post.list'] }), 'post.rename');
    await engine.invalidate(engine.planMove({ tags: ['feed'] }), 'post.publish');
    await engine.invalidate(engine.planMove({ paths: ['post.list'] }), 'post.rename');
    engine.audit(plan, hit, async () => ok({ title: 'renamed' }));
    await engine.idle();
    expect(heard).toEqual([
      expect.objectContaining({ outcome: 'diverged', tags: ['post:1'], scope: 'user', mutations: ['post.rename', 'post.publish'] }),
    ]);
  });

  it('discards, never reports, a check whose resolver fails', async () => {
    const { engine, heard } = auditing(await kind.fresh());
    const plan = planFor(engine);
    const hit = await hitOf(engine, plan, 'one');
    engine.audit(plan, hit, async (): Promise<Computed<unknown>> => ({ result: 'x', ok: false, data: undefined, error: new Error('x') }));
    engine.audit(plan, hit, async () => {
      throw new Error('thrown');
    });
    await engine.idle();
    expect(heard.map((event) => [event.outcome, event.reason])).toEqual([
      ['discarded', 'resolver'],
      ['discarded', 'resolver'],
    ]);
  });
});

describe('the auditor of the engine on Redis with its breaker open', () => {
  const redis = fileRedis();
  const opened: Keyv[] = [];
  afterEach(async () => {
    for (const keyv of opened.splice(0)) await destroyStore(keyv);
  });

  it('runs no check, and not the resolver, while the store breaker is open', async () => {
    await redis.server.command('FLUSHALL');
    await redis.server.command('ACL', 'SETUSER', 'auditor', 'reset', 'on', '>auditor-secret', '~*', '&*', '+@all');
    const keyv = await readyRedisStore(redis.url.replace('redis://', 'redis://auditor:auditor-secret@'));
    opened.push(keyv);
    const { engine, heard } = auditing(keyv, { breakerThreshold: 1 });
    const plan = planFor(engine);
    const hit = await hitOf(engine, plan, 'one');
    // The account loses its read rights: the next read fails at once (NOPERM) and opens the breaker.
    await redis.server.command('ACL', 'SETUSER', 'auditor', '-@read');
    expect(await engine.read(plan)).toEqual({ kind: 'bypass', reason: 'store-error' });
    expect(await engine.read(plan)).toEqual({ kind: 'bypass', reason: 'breaker-open' });
    let ran = 0;
    engine.audit(plan, hit, async () => {
      ran++;
      return ok('changed');
    });
    await engine.idle();
    expect(ran).toBe(0);
    expect(heard).toEqual([expect.objectContaining({ outcome: 'skipped', reason: 'breaker-open' })]);
  });
});
