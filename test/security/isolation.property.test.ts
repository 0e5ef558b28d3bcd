import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CounterDb, createCounterApp } from '../support/apps/counter.js';
import { storeKinds } from '../support/stores.js';

/** Ids and inputs chosen to collide if any separator were not escaped or hashed. */
const USERS = ['alice', 'bob', 'a', 'a:b', 'b:a', 'a%3Ab', 'x\0y', 'u.0', 'anon', 'public', '42'];
const NAMES = ['n', 'n:1', 'n%3A1', 'n%1', '', ':', '\0', 'a:b', 'u.x', '"n"'];

type Operation =
  | { readonly kind: 'get'; readonly user: string; readonly name: string; readonly nested: boolean }
  | { readonly kind: 'bump'; readonly user: string; readonly name: string }
  | { readonly kind: 'board'; readonly user: string };

/**
 * Each run draws a few users and names, so that operations often hit the same
 * counter (a read, a write, a read again), and the separators in them get the
 * chance to collide.
 */
const schedule = fc
  .tuple(
    fc.subarray(USERS, { minLength: 1, maxLength: 3 }),
    fc.array(fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 3 }),
  )
  .chain(([users, names]) => {
    const user = fc.constantFrom(...users);
    const name = fc.constantFrom(...names);
    const operation: fc.Arbitrary<Operation> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('get' as const), user, name, nested: fc.boolean() }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('bump' as const), user, name }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('board' as const), user }) },
    );
    // Batches run one after the other; the operations of a batch run concurrently, so they interleave.
    return fc.array(fc.array(operation, { minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 6 });
  });

const slot = (user: string, name: string): string => JSON.stringify([user, name]);

describe.each(storeKinds())('isolation and read-your-writes under random interleavings, on $name', (kind) => {
  it("never answers with another user's data or with data older than a mutation that had returned", async () => {
    await fc.assert(
      fc.asyncProperty(schedule, async (batches) => {
        const db = new CounterDb();
        // Faults are not the subject here: a generous timeout keeps a loaded machine from producing any.
        const app = createCounterApp(db, await kind.fresh(), { timeout: 2_000 });
        // The model: per counter, the highest value a finished bump returned, and how many bumps started.
        const finished = new Map<string, number>();
        const started = new Map<string, number>();
        let finishedTotal = 0;
        let startedTotal = 0;

        const run = async (op: Operation): Promise<void> => {
          const caller = app.caller(op.user);
          if (op.kind === 'bump') {
            const key = slot(op.user, op.name);
            started.set(key, (started.get(key) ?? 0) + 1);
            startedTotal++;
            const answer = await caller.counter.bump({ name: op.name });
            expect(answer).toMatchObject({ user: op.user, name: op.name });
            finished.set(key, Math.max(finished.get(key) ?? 0, answer.value));
            finishedTotal++;
          } else if (op.kind === 'get') {
            const key = slot(op.user, op.name);
            const floor = finished.get(key) ?? 0;
            const answer = op.nested ? await caller.deep.nested.get({ name: op.name }) : await caller.counter.get({ name: op.name });
            expect(answer).toMatchObject({ path: op.nested ? 'deep.nested.get' : 'counter.get', user: op.user, name: op.name });
            expect(answer.value).toBeGreaterThanOrEqual(floor);
            expect(answer.value).toBeLessThanOrEqual(started.get(key) ?? 0);
          } else {
            const floor = finishedTotal;
            const answer = await caller.board();
            expect(answer.total).toBeGreaterThanOrEqual(floor);
            expect(answer.total).toBeLessThanOrEqual(startedTotal);
          }
        };

        for (const batch of batches) await Promise.all(batch.map(run));
        expect(app.errors).toEqual([]);
        app.caching.close();
      }),
      { numRuns: kind.name === 'redis' ? 25 : 60 },
    );
  });
});
