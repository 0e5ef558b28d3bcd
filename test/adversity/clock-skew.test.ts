import { describe, expect, it } from 'vitest';
import { workerCluster } from '../support/procs/cluster.js';
import { everyRead, type Ledger, READ_PAUSE_MS, seeded, sleep, staleReport, summary, type Worker } from '../support/procs/driver.js';
import type { ReadSpec } from '../support/procs/protocol.js';

/**
 * A plain `new Keyv(new KeyvRedis(url))` stores each value with an absolute
 * `expires` from the writer's clock, and a reader that finds it past deletes the
 * key. With one process's clock 25 hours off (more than the 1-day `versionTtl`),
 * the version keys it writes look expired to everyone else (clock behind), or
 * everyone else's look expired to it (clock ahead): either way version keys
 * vanish. The other processes must still never serve data from before a mutation.
 */
const DAY_AND_AN_HOUR = 25 * 60 * 60_000;
const cluster = workerCluster(['ahead', 'behind', 'B', 'C'], { clockSkewMs: { ahead: DAY_AND_AN_HOUR, behind: -DAY_AND_AN_HOUR } });

const USERS = ['alice', 'bob', 'carol'];
const IDS = [1, 2, 3];
/** Reads (by every process) each scenario makes. */
const READS = 1_500;

/** Mutates with probability `mutating`, reads otherwise, until `done()`. */
async function work(ledger: Ledger, worker: Worker, mutating: number, seed: number, done: () => boolean): Promise<void> {
  const pick = seeded(seed);
  const specs: ReadSpec[] = everyRead(USERS, IDS);
  const dice = Array.from({ length: 100 }, (_, i) => i / 100);
  while (!done()) {
    if (pick(dice) < mutating) await ledger.mutate(worker, pick(USERS), pick(IDS));
    else await ledger.read(worker, pick(specs));
    await sleep(READ_PAUSE_MS);
  }
}

describe.each([
  ['ahead', '+25 h'],
  ['behind', '-25 h'],
] as const)('one process whose clock is %s (%s), all on a plain Keyv over Redis', (skewed, _by) => {
  it('the processes with a right clock never serve data from before a mutation', async () => {
    const ledger = await cluster.reset('plain');
    const { B, C } = cluster.workers;
    const off = cluster.workers[skewed];
    let stopped = false;
    const done = () => stopped;
    const lanes = [
      work(ledger, off, 0.2, 11, done),
      work(ledger, off, 0.2, 12, done),
      ...[B, C].flatMap((worker, w) => [0, 1, 2].map((lane) => work(ledger, worker, 0.05, 20 + 3 * w + lane, done))),
    ];
    // Until enough reads were made to judge: counted, not timed, so a loaded machine runs longer.
    await ledger.readsMore(READS);
    stopped = true;
    await Promise.all(lanes);

    const verdict = ledger.verdict(['B', 'C']);
    console.log(
      `${summary(`clock ${skewed} by 25 h in one of 3 processes, plain Keyv; B and C`, verdict)}; ` +
        `the skewed process's own reads: stale ${ledger.verdict([skewed]).stale}`,
    );
    expect(verdict.cached).toBeGreaterThan(0);
    expect(verdict.stale, staleReport(verdict)).toBe(0);
    expect(verdict.foreign).toBe(0);
  }, 90_000);
});
