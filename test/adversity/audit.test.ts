import { describe, expect, it } from 'vitest';
import { workerCluster } from '../support/procs/cluster.js';
import { everyRead, lanesOf, readLoop, seeded, sleep } from '../support/procs/driver.js';
import type { StoreForm, WorkerStatus } from '../support/procs/protocol.js';

/**
 * The auditor on a correct app (test/support/procs/app.ts: every mutation invalidates what it changes) in three
 * processes on one real Redis, each reading and mutating at once: every race between a check and a mutation,
 * in this process or another, must end as a discarded check, never as a divergence.
 */
const cluster = workerCluster(['A', 'B', 'C']);

const USERS = ['ann', 'bob'];
const IDS = [1, 2, 3, 4, 5, 6];
/** Each scenario runs until the processes have this many checks with a verdict and made this many mutations. */
const MIN_VERDICTS = 150;
const MIN_MUTATIONS = 60;
/** A guard against a hang, far above what a scenario needs. */
const GIVE_UP_MS = 60_000;
/**
 * The window covers a mutation's write-to-return on a loaded 2-core machine and the near cache's 250 ms; the event
 * loop of a worker sharing 2 cores with the suite can run late, so lateness skips only what is very late.
 */
const AUDIT = { sampleRate: 0.3, window: 2_500, maxConcurrent: 64, maxLag: 1_000 } as const;

const total = (statuses: readonly WorkerStatus[], field: keyof WorkerStatus['audit']) =>
  statuses.reduce((sum, status) => sum + status.audit[field], 0);

describe.each<StoreForm>(['raw', 'near'])('the auditor in 3 processes on one Redis (%s store)', (form) => {
  it('reports no divergence for an app whose mutations invalidate what they change, while all three read and mutate', async () => {
    const ledger = await cluster.reset(form, { audit: AUDIT, timeout: 1_000 });
    const workers = Object.values(cluster.workers);
    const statuses = () => Promise.all(workers.map((worker) => worker.call('status', null)));
    const pick = seeded(form === 'raw' ? 11 : 12);
    let stopped = false;
    const reading = readLoop(
      ledger,
      lanesOf(workers, 3, () => pick(everyRead(USERS, IDS))),
      () => stopped,
    );
    // Mutations from every process in turn, on a few ids at a time, so that other entries live long enough to be hit.
    let mutations = 0;
    const giveUp = Date.now() + GIVE_UP_MS;
    const choose = seeded(form === 'raw' ? 21 : 22);
    for (;;) {
      const now = await statuses();
      const verdicts = total(now, 'checks') - total(now, 'discarded');
      if ((verdicts >= MIN_VERDICTS && mutations >= MIN_MUTATIONS) || Date.now() > giveUp) break;
      for (let i = 0; i < 5; i++) {
        await ledger.mutate(workers[mutations % workers.length] as (typeof workers)[number], choose(USERS), choose(IDS.slice(0, 3)));
        mutations++;
        await sleep(20);
      }
    }
    stopped = true;
    await reading;
    // Checks still in their window end with it; judge once every process has finished them.
    await sleep(AUDIT.window + 500);
    let end = await statuses();
    for (let tries = 0; tries < 20 && JSON.stringify(end) !== JSON.stringify(await statuses()); tries++) {
      await sleep(250);
      end = await statuses();
    }

    const verdicts = total(end, 'checks') - total(end, 'discarded');
    console.log(
      `${form}: ${ledger.readCount} reads, ${mutations} mutations; checks ${total(end, 'checks')}, discarded ${total(end, 'discarded')}, ` +
        `skipped ${total(end, 'skipped')}, divergences ${total(end, 'divergences')}`,
    );
    // Enough checks reached a verdict for "none diverged" to mean something, and some races were discarded.
    expect(verdicts).toBeGreaterThanOrEqual(MIN_VERDICTS);
    expect(total(end, 'discarded')).toBeGreaterThan(0);
    expect(
      end.flatMap((status) => status.divergences),
      'divergences',
    ).toEqual([]);
    expect(total(end, 'divergences')).toBe(0);
  }, 120_000);
});
