import { fileURLToPath } from 'node:url';
import { forkWorker, type Reply, Requests } from './child.js';
import { NEAR_ENV, type NearCommand, type NearReplies, type ReadLog, type WriteLog } from './near-worker.js';

const WORKER = fileURLToPath(new URL('./near-worker.ts', import.meta.url));

/** A near-cache worker process (./near-worker.ts) and a typed way to drive it. */
export class NearWorker {
  private constructor(
    readonly name: string,
    private readonly requests: Requests,
  ) {}

  /** Starts a worker whose cache is on `cacheUrl` with a near cache, and resolves once it is ready. */
  static async spawn(name: string, env: { cacheUrl: string; dbUrl: string; maxStaleness: number }): Promise<NearWorker> {
    const { child } = await forkWorker(WORKER, {
      label: `worker ${name}`,
      env: {
        [NEAR_ENV.cacheUrl]: env.cacheUrl,
        [NEAR_ENV.dbUrl]: env.dbUrl,
        [NEAR_ENV.maxStaleness]: String(env.maxStaleness),
      },
    });
    // Every message after the first is a reply.
    return new NearWorker(name, new Requests(child, name, (message) => message as Reply));
  }

  run<C extends NearCommand>(command: C): Promise<NearReplies[C['cmd']]> {
    return this.requests.send((seq) => ({ seq, command })) as Promise<NearReplies[C['cmd']]>;
  }

  kill(): void {
    this.requests.kill();
  }
}

/** How reads fared against the mutations that returned before they started. */
export interface FreshnessReport {
  /** Reads that started more than `bound` ms after some mutation of their item returned. */
  readonly judged: number;
  /** Of those, reads that returned a value from before that mutation: must be 0. */
  readonly stale: number;
  /** Reads that returned a value older than a mutation that had returned when they started, but less than `bound` before. */
  readonly withinBound: number;
  /** The first few stale reads, for the failure message. */
  readonly examples: string[];
}

/**
 * Judges every read against every mutation: a read started more than `bound`
 * ms after a mutation of its item returned must return that mutation's value or
 * a later one. Times are on the machine's monotonic clock, shared by every process.
 */
export function judgeFreshness(reads: readonly ReadLog[], writes: readonly WriteLog[], bound: number): FreshnessReport {
  // Per item: mutation return times and values, in return order (values only grow).
  const byItem = new Map<number, Array<{ at: number; value: number }>>();
  for (const log of writes) {
    for (let i = 0; i < log.ids.length; i++) {
      const id = log.ids[i] as number;
      const entry = { at: log.returnedAt[i] as number, value: log.values[i] as number };
      const list = byItem.get(id);
      if (list === undefined) byItem.set(id, [entry]);
      else list.push(entry);
    }
  }
  for (const list of byItem.values()) {
    list.sort((a, b) => a.at - b.at);
    // Several writers: the highest value returned by each time is what a later read must reach.
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1] as { value: number };
      const entry = list[i] as { value: number };
      if (entry.value < previous.value) entry.value = previous.value;
    }
  }
  /** The value of the latest mutation of `id` returned before `time`, or 0. */
  const requiredAt = (id: number, time: number): number => {
    const list = byItem.get(id);
    if (list === undefined) return 0;
    let low = 0;
    let high = list.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((list[mid] as { at: number }).at < time) low = mid + 1;
      else high = mid;
    }
    return low === 0 ? 0 : (list[low - 1] as { value: number }).value;
  };
  let judged = 0;
  let stale = 0;
  let withinBound = 0;
  const examples: string[] = [];
  for (const log of reads) {
    for (let i = 0; i < log.ids.length; i++) {
      const id = log.ids[i] as number;
      const value = log.values[i] as number;
      const startedAt = log.startedAt[i] as number;
      const required = requiredAt(id, startedAt - bound);
      if (required > 0) {
        judged++;
        if (value < required) {
          stale++;
          if (examples.length < 5)
            examples.push(`item ${id}: read ${value}, but ${required} had returned more than ${bound} ms before the read started`);
          continue;
        }
      }
      if (value < requiredAt(id, startedAt)) withinBound++;
    }
  }
  return { judged, stale, withinBound, examples };
}

/**
 * For each mutation of `id`, the time from its return to the end of the first read that returned its value
 * (or a later one) and started after it returned: how long other processes took to see it.
 */
export function visibilityDelays(reads: ReadLog, writes: WriteLog, id: number): number[] {
  const delays: number[] = [];
  let r = 0;
  for (let w = 0; w < writes.ids.length; w++) {
    if (writes.ids[w] !== id) continue;
    const at = writes.returnedAt[w] as number;
    const value = writes.values[w] as number;
    while (r < reads.ids.length && ((reads.startedAt[r] as number) < at || (reads.values[r] as number) < value)) r++;
    if (r === reads.ids.length) break;
    delays.push(Math.max(0, (reads.endedAt[r] as number) - at));
  }
  return delays;
}
