import { expect, it } from 'vitest';
import { workerCluster } from '../support/procs/cluster.js';
import { eventually, everyRead, type Ledger, sleep, staleReport, summary, type Worker } from '../support/procs/driver.js';
import type { LoopDelay, ReadSpec, WorkerStatus } from '../support/procs/protocol.js';

/**
 * A 30 s Redis outage during which two processes each invalidate 30 000 distinct
 * tags. `collapsing` keeps the default bound on pending version keys, so its
 * backlog collapses into one move of the global version; `chunked` is allowed
 * 50 000 pending keys, so it must write all 30 000 in chunks once Redis is back.
 * Both must drain within seconds of Redis's return without stalling their event
 * loop, and no process may serve data from before their mutations afterwards.
 */
const cluster = workerCluster(['collapsing', 'chunked', 'B'], { appendonly: true });

const OUTAGE_MS = 30_000;
const DISTINCT_TAGS = 30_000;
/**
 * How long to wait for the backlog to drain once Redis is back before giving up: a guard, not the figure (the
 * log line says how long it took; retries back off to `breakerCooldown`, so a healthy drain takes seconds).
 */
const DRAIN_GIVE_UP_MS = 90_000;
/**
 * A stall is judged against a control taken in the same run, by the same process: the longest busy stretch of
 * its event loop while it writes a backlog of the same size at once (one synchronous pass, one store call), as
 * an unchunked drain would. Draining in chunks that yield to I/O must keep the loop's longest busy stretch well
 * under that. Busy stretches are CPU time of the loop's thread, so a loaded machine, which delays a process but
 * does not make it busier, moves neither figure (the wall-clock loop delays are logged beside them).
 */
const STALL_SHARE_OF_CONTROL = 0.5;

const USERS = ['u0', 'u1', 'u2', 'u3'];
const IDS = [1, 2, 3];

async function readEach(ledger: Ledger, worker: Worker, specs: readonly ReadSpec[]): Promise<void> {
  for (const spec of specs) await ledger.read(worker, spec);
}

const delay = (seen: LoopDelay) =>
  `busy at most ${seen.busy} ms at a stretch (wall-clock delay p50 ${seen.p50} ms, p99 ${seen.p99} ms, max ${seen.max} ms)`;

it('after a 30 s outage with 30 000 distinct invalidations pending, each process writes them within seconds, ' +
  'without stalling its event loop, and no process serves data from before them', async () => {
  const ledger = await cluster.reset();
  const { collapsing, chunked, B } = cluster.workers;
  await chunked.call('configure', { store: 'raw', options: { maxPendingInvalidations: 50_000 } });
  const specs = everyRead(USERS, IDS);
  // Entries from before the mutations, kept by Redis across the restart (AOF).
  await readEach(ledger, B, specs);
  await readEach(ledger, B, specs);

  await cluster.cache.stop(true);
  const outageStarted = Date.now();
  let restarted = 0;
  try {
    const took: number[] = [];
    for (const id of IDS) {
      took.push((await ledger.mutate(collapsing, 'u0', id)).ms);
      took.push((await ledger.mutate(chunked, 'u1', id)).ms);
    }
    const flood = (worker: Worker, prefix: string) =>
      worker.call('invalidateTags', { prefix, count: DISTINCT_TAGS, perCall: 10, concurrency: 300 });
    const [floodCollapsing, floodChunked] = await Promise.all([flood(collapsing, 'gone-a-'), flood(chunked, 'gone-b-')]);
    const during = await Promise.all([collapsing.call('status', null), chunked.call('status', null)]);
    console.log(
      `[adversity] outage: mutations took ${took.map((ms) => ms.toFixed(0)).join(', ')} ms; ` +
        `${DISTINCT_TAGS} tags invalidated in ${floodCollapsing.ms.toFixed(0)} / ${floodChunked.ms.toFixed(0)} ms; ` +
        `pending collapsing ${during[0].pending}, chunked ${during[1].pending}`,
    );
    await sleep(Math.max(0, outageStarted + OUTAGE_MS - Date.now()));
  } finally {
    await cluster.cache.restart();
    restarted = Date.now();
  }

  await Promise.all([collapsing.call('loopDelayStart', null), chunked.call('loopDelayStart', null)]);
  const drainedAfter: Record<string, number> = {};
  const last: Record<string, WorkerStatus> = {};
  await eventually(
    'both processes have written their pending invalidations',
    async () => {
      for (const worker of [collapsing, chunked]) {
        if (drainedAfter[worker.name] !== undefined) continue;
        last[worker.name] = await worker.call('status', null);
        if (last[worker.name]?.pending === 0) drainedAfter[worker.name] = Date.now() - restarted;
      }
      return Object.keys(drainedAfter).length === 2;
    },
    DRAIN_GIVE_UP_MS,
  ).catch(() => {});
  const [drainCollapsing, drainChunked] = await Promise.all([collapsing.call('loopDelayStop', null), chunked.call('loopDelayStop', null)]);
  // The control: the same processes write a backlog of the same size at once.
  const atOnce = async (worker: Worker) => {
    await worker.call('loopDelayStart', null);
    await worker.call('writeAtOnce', { prefix: `control-${worker.name}-`, count: DISTINCT_TAGS });
    return worker.call('loopDelayStop', null);
  };
  const [controlCollapsing, controlChunked] = await Promise.all([atOnce(collapsing), atOnce(chunked)]);
  console.log(
    `[adversity] after ${((restarted - outageStarted) / 1000).toFixed(1)} s down: ` +
      `collapsing drained ${drainedAfter.collapsing === undefined ? `NOT within ${DRAIN_GIVE_UP_MS} ms (pending ${last.collapsing?.pending})` : `in ${drainedAfter.collapsing} ms`}, ` +
      `event loop draining ${delay(drainCollapsing)}, writing ${DISTINCT_TAGS} keys at once ${delay(controlCollapsing)}; ` +
      `chunked drained ${drainedAfter.chunked === undefined ? `NOT within ${DRAIN_GIVE_UP_MS} ms (pending ${last.chunked?.pending})` : `in ${drainedAfter.chunked} ms`}, ` +
      `event loop draining ${delay(drainChunked)}, writing ${DISTINCT_TAGS} keys at once ${delay(controlChunked)}`,
  );

  // B did nothing during the outage; once its connection is back it hits the entries Redis kept.
  const untouched: ReadSpec = { kind: 'note', user: 'u3', id: 1 };
  await eventually('B reads from the cache again', async () => (await ledger.read(B, untouched)).cached, 30_000);
  for (const worker of [B, collapsing, chunked]) await readEach(ledger, worker, specs);
  const verdict = ledger.verdict();
  console.log(summary('after the outage', verdict));

  expect.soft(drainedAfter.collapsing, 'the collapsing process drained').toBeDefined();
  expect.soft(drainedAfter.chunked, 'the chunked process drained').toBeDefined();
  expect
    .soft(drainCollapsing.busy, 'longest busy stretch while the collapsing process drained (ms), against writing the backlog at once')
    .toBeLessThan(controlCollapsing.busy * STALL_SHARE_OF_CONTROL);
  expect
    .soft(drainChunked.busy, 'longest busy stretch while the chunked process drained (ms), against writing the backlog at once')
    .toBeLessThan(controlChunked.busy * STALL_SHARE_OF_CONTROL);
  expect.soft(verdict.stale, staleReport(verdict)).toBe(0);
  expect.soft(verdict.foreign).toBe(0);
}, 240_000);
