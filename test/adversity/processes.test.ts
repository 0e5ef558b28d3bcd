import { describe, expect, it } from 'vitest';
import { workerCluster } from '../support/procs/cluster.js';
import { everyRead, type Ledger, lanesOf, readLoop, seeded, sleep, staleReport, summary, type Worker } from '../support/procs/driver.js';
import type { ReadSpec } from '../support/procs/protocol.js';

/**
 * Three app processes (A, B, C) on one real Redis: A mutates while B and C read.
 * The promise under test: once a mutation has returned, no read that starts
 * afterwards, in any process, shows data from before it, and nobody is ever
 * served another user's data; including while A's event loop stalls and while
 * Redis holds commands for less than the invalidation bound.
 */
const cluster = workerCluster(['A', 'B', 'C']);

const USERS = ['alice', 'bob', 'carol'];
const IDS = [1, 2, 3, 4];
/** The first scenario runs until the readers have done this many reads and A this many mutations. */
const MIN_READS = 1_500;
const MIN_MUTATIONS = 100;
/** When a scenario stops waiting for its work to be done: a guard against a hang, far above what it needs. */
const GIVE_UP_MS = 60_000;
/** Reads the readers make after a mutation returned before the scenario judges them. */
const READS_AFTER = 300;
/** `invalidationTimeout` in the CLIENT PAUSE scenario: far above its 300 ms pause. */
const INVALIDATION_BOUND_MS = 5_000;

/** Reads of everything alice's mutation of note 1 changes: her note, its public board (read by bob) and her page. */
const ALICE_NOTE_1: ReadSpec[] = [
  { kind: 'note', user: 'alice', id: 1 },
  { kind: 'board', user: 'bob', owner: 'alice', id: 1 },
  { kind: 'page', user: 'alice', page: 1 },
];

async function readEach(ledger: Ledger, worker: Worker, specs: readonly ReadSpec[]): Promise<void> {
  for (const spec of specs) await ledger.read(worker, spec);
}

/** Reads as B and C in four concurrent loops each until `stop()`; resolves once every loop has ended. */
function readersOn(ledger: Ledger, specs: readonly ReadSpec[], seed: number) {
  const { B, C } = cluster.workers;
  const pick = seeded(seed);
  let stopped = false;
  const done = readLoop(
    ledger,
    lanesOf([B, C], 4, () => pick(specs)),
    () => stopped,
  );
  return async () => {
    stopped = true;
    await done;
  };
}

describe('several processes on one Redis', () => {
  it("never serve a read data from before a mutation that returned before it started, nor another user's data", async () => {
    const ledger = await cluster.reset();
    const { A } = cluster.workers;
    const stopReading = readersOn(ledger, everyRead(USERS, IDS), 1);
    const choose = seeded(2);
    // Mutations until the readers have done enough work to judge: counted, not timed, so a slow machine runs longer.
    const start = ledger.readCount;
    const enough = () => ledger.readCount - start >= MIN_READS;
    let mutations = 0;
    const giveUp = Date.now() + GIVE_UP_MS;
    while ((!enough() || mutations < MIN_MUTATIONS) && Date.now() < giveUp) {
      await ledger.mutate(A, choose(USERS), choose(IDS));
      mutations++;
      await sleep(10);
    }
    await stopReading();

    const verdict = ledger.verdict();
    console.log(summary('3 processes, A mutates while B and C read', verdict));
    expect(verdict.reads, `reads in ${GIVE_UP_MS} ms`).toBeGreaterThanOrEqual(MIN_READS);
    // The cache is in use: a run that bypassed it would prove nothing.
    expect(verdict.cached).toBeGreaterThan(verdict.reads / 10);
    expect(verdict.stale, staleReport(verdict)).toBe(0);
    expect(verdict.foreign).toBe(0);
  }, 120_000);

  it('does not let a short event-loop stall in the mutating process hold back its invalidation from the other processes', async () => {
    const ledger = await cluster.reset();
    const { A, B, C } = cluster.workers;
    // Entries from before the mutation, in the cache, for B and C to hit.
    await readEach(ledger, B, ALICE_NOTE_1);
    await readEach(ledger, C, ALICE_NOTE_1);
    const stopReading = readersOn(ledger, ALICE_NOTE_1, 3);
    await ledger.readsMore(READS_AFTER / 10);

    // The reproduction: 8 reads in flight while A's loop is blocked for 150 ms. Their timers fire before their
    // replies are read, so they count as store timeouts, and 5 of them used to open A's circuit breaker.
    const inFlight = Array.from({ length: 8 }, (_, i): ReadSpec => ({ kind: 'note', user: 'alice', id: 1 + (i % 4) }));
    await A.call('stall', { ms: 150, reads: inFlight });
    const afterStall = await A.call('status', null);
    const mutation = await ledger.mutate(A, 'alice', 1);
    const afterMutation = await A.call('status', null);
    await ledger.readsMore(READS_AFTER);
    await stopReading();

    const verdict = ledger.verdict(['B', 'C']);
    console.log(
      `${summary('A stalled 150 ms with 8 reads in flight, then mutated', verdict)}; ` +
        `A's store errors after the stall ${JSON.stringify(afterStall.errors)}, mutation took ${mutation.ms.toFixed(0)} ms, ` +
        `pending when it returned ${afterMutation.pending}`,
    );
    expect(verdict.cached).toBeGreaterThan(0);
    // The mutation returned with its version moves written, not left to a retry.
    expect.soft(afterMutation.pending, 'invalidations pending when the mutation returned').toBe(0);
    expect(verdict.stale, staleReport(verdict)).toBe(0);
    expect(verdict.foreign).toBe(0);
  }, 120_000);
});

describe.each(['WRITE', 'ALL'])('Redis paused (CLIENT PAUSE 300 %s) while a process mutates', (mode) => {
  it('the mutation waits for its invalidation, and no process serves data from before it once it has returned', async () => {
    // The bound far above the pause: on a loaded machine a 300 ms pause can take A longer than 1 s to see end.
    const ledger = await cluster.reset('raw', { invalidationTimeout: INVALIDATION_BOUND_MS });
    const { A, B, C } = cluster.workers;
    await readEach(ledger, B, ALICE_NOTE_1);
    await readEach(ledger, C, ALICE_NOTE_1);
    const stopReading = readersOn(ledger, ALICE_NOTE_1, 4);
    const took: number[] = [];
    const pendingOnReturn: number[] = [];
    for (let cycle = 0; cycle < 3; cycle++) {
      // The readers fill the cache again (B and C hit entries from before the next mutation).
      await ledger.readsMore(READS_AFTER / 3);
      // Well under the invalidation bound; the pause starts before the mutation's version moves are sent.
      await cluster.cache.command('CLIENT', 'PAUSE', '300', mode);
      took.push((await ledger.mutate(A, 'alice', 1)).ms);
      pendingOnReturn.push((await A.call('status', null)).pending);
      // Reads that start after the mutation returned, whatever the pause did to their timing.
      await ledger.readsMore(READS_AFTER);
    }
    await stopReading();

    const verdict = ledger.verdict(['B', 'C']);
    console.log(
      `${summary(`Redis paused 300 ms (${mode}) during each of 3 mutations`, verdict)}; mutations took ${took.map((ms) => ms.toFixed(0)).join(', ')} ms, ` +
        `A's pending invalidations when they returned ${pendingOnReturn.join(', ')}`,
    );
    // Each mutation returned with its version moves written, not left to a retry.
    expect.soft(pendingOnReturn, 'invalidations pending when each mutation returned').toEqual([0, 0, 0]);
    expect(verdict.stale, staleReport(verdict)).toBe(0);
    expect(verdict.foreign).toBe(0);
  }, 120_000);
});
