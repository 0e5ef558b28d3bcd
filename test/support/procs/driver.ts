import { fileURLToPath } from 'node:url';
import { eventually } from '../redis-store.js';
import { slotOf } from './app.js';
import { forkWorker, type Reply, Requests } from './child.js';
import { type CommandName, type Commands, ENV, type ReadReply, type ReadSpec, type Request, type Response } from './protocol.js';

export { eventually };

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const CLOCK_SKEW = fileURLToPath(new URL('./clock-skew.ts', import.meta.url));

/** Options of {@link Worker.spawn}. */
export interface SpawnOptions {
  readonly cacheUrl: string;
  readonly dbUrl: string;
  /** Shifts the worker's wall clock (`Date`) by this many ms. */
  readonly clockSkewMs?: number;
}

/** A worker process (test/support/procs/worker.ts) and a typed way to send it commands. */
export class Worker {
  private constructor(
    readonly name: string,
    private readonly requests: Requests,
  ) {}

  /** Starts a worker and resolves once it is connected to the database and listening. */
  static async spawn(name: string, options: SpawnOptions): Promise<Worker> {
    const skewed = options.clockSkewMs !== undefined && options.clockSkewMs !== 0;
    const { child } = await forkWorker(WORKER, {
      label: `worker ${name}`,
      imports: skewed ? [CLOCK_SKEW] : [],
      env: {
        [ENV.cacheUrl]: options.cacheUrl,
        [ENV.dbUrl]: options.dbUrl,
        [ENV.clockSkewMs]: String(options.clockSkewMs ?? 0),
      },
      ready: (message: Response) => message.kind === 'ready',
    });
    return new Worker(
      name,
      new Requests(child, name, (message) => ((message as Response).kind === 'reply' ? (message as Reply) : undefined)),
    );
  }

  call<K extends CommandName>(cmd: K, args: Commands[K]['args']): Promise<Commands[K]['reply']> {
    return this.requests.send((seq): Request<K> => ({ seq, cmd, args })) as Promise<Commands[K]['reply']>;
  }

  /** Ends the process at once (it holds nothing worth flushing). */
  kill(): void {
    this.requests.kill();
  }
}

interface ReadRecord {
  readonly by: string;
  readonly spec: ReadSpec;
  /** When the driver sent the read: the read cannot have started earlier. */
  readonly sentAt: number;
  readonly reply: ReadReply;
}

interface MutationRecord {
  readonly value: number;
  /** When the driver got the mutation's answer: it returned no later than this. */
  readonly returnedAt: number;
}

/** What a scenario's reads came to. */
export interface Verdict {
  readonly reads: number;
  /** Reads answered from the cache. */
  readonly cached: number;
  readonly mutations: number;
  /** Reads that started after a mutation of their slot returned and showed a value from before it. */
  readonly stale: number;
  /** Reads answered with another slot's data (another user's, or another note's). */
  readonly foreign: number;
  /** Longest time from a mutation's return to the start of a read that still showed data from before it, in ms. */
  readonly worstStaleMs: number;
  /** The first stale reads and the latest one, to say what went wrong. */
  readonly examples: readonly string[];
}

/**
 * Every mutation and read of a scenario, timed on the driver's clock. A read is
 * stale when the driver sent it after it had the answer of a mutation of the same
 * slot and it shows a lower counter: both times are on the safe side (the read
 * started later, the mutation returned earlier), whatever the workers' clocks say.
 */
export class Ledger {
  private readonly reads: ReadRecord[] = [];
  private readonly mutations = new Map<string, MutationRecord[]>();
  private mutationCount = 0;

  static now(): number {
    return performance.now();
  }

  /** Reads answered so far, by every worker: lets a scenario wait for work done rather than for time to pass. */
  get readCount(): number {
    return this.reads.length;
  }

  /**
   * Resolves once `n` more reads have been answered (by the read loops running meanwhile), however long a busy
   * machine takes; gives up after `giveUpMs`.
   */
  async readsMore(n: number, giveUpMs = 60_000): Promise<void> {
    const target = this.reads.length + n;
    await eventually(
      () => `${n} more reads (${target - this.reads.length} to go)`,
      () => this.reads.length >= target,
      giveUpMs,
    );
  }

  /** Sends a mutation and records its answer. */
  async mutate(worker: Worker, user: string, id: number): Promise<Commands['mutate']['reply']> {
    const reply = await worker.call('mutate', { user, id });
    const returnedAt = Ledger.now();
    this.mutationCount++;
    for (const { slot, value } of reply.writes) {
      const list = this.mutations.get(slot) ?? [];
      list.push({ value, returnedAt });
      this.mutations.set(slot, list);
    }
    return reply;
  }

  /** Sends a read and records its answer. */
  async read(worker: Worker, spec: ReadSpec): Promise<ReadReply> {
    const sentAt = Ledger.now();
    const reply = await worker.call('read', spec);
    this.reads.push({ by: worker.name, spec, sentAt, reply });
    return reply;
  }

  /** Judges the reads made so far (by `only` these workers when given). */
  verdict(only?: readonly string[]): Verdict {
    let cached = 0;
    let stale = 0;
    let foreign = 0;
    let worstStaleMs = 0;
    const examples: string[] = [];
    let latest = '';
    const reads = only ? this.reads.filter((read) => only.includes(read.by)) : this.reads;
    for (const read of reads) {
      if (read.reply.cached) cached++;
      const slot = slotOf(read.spec);
      if (read.reply.slot !== slot) {
        foreign++;
        continue;
      }
      // The first mutation of the slot that returned before the read started and wrote a newer value than it shows.
      const missed = (this.mutations.get(slot) ?? []).find((m) => m.returnedAt < read.sentAt && m.value > read.reply.value);
      if (missed === undefined) continue;
      stale++;
      const lag = read.sentAt - missed.returnedAt;
      const example = `${read.by} read ${slot} = ${read.reply.value}${read.reply.cached ? ' (cached)' : ''} ${lag.toFixed(0)} ms after a mutation returned ${missed.value}`;
      if (lag >= worstStaleMs) latest = example;
      worstStaleMs = Math.max(worstStaleMs, lag);
      if (examples.length < 2) examples.push(example);
    }
    if (stale > examples.length) examples.push(`... the latest: ${latest}`);
    return { reads: reads.length, cached, mutations: this.mutationCount, stale, foreign, worstStaleMs, examples };
  }
}

/** What to say when a verdict has stale reads: how many, and examples. */
export function staleReport(verdict: Verdict): string {
  return `stale reads: ${verdict.stale} of ${verdict.reads}\n${verdict.examples.join('\n')}`;
}

/** One line for the test log: what a scenario did and what its reads came to. */
export function summary(label: string, verdict: Verdict): string {
  const share = verdict.reads === 0 ? 0 : Math.round((100 * verdict.cached) / verdict.reads);
  const stale = verdict.stale === 0 ? '0' : `${verdict.stale} (latest ${verdict.worstStaleMs.toFixed(0)} ms after its mutation)`;
  return `[adversity] ${label}: ${verdict.reads} reads (${share}% from the cache), ${verdict.mutations} mutations, stale ${stale}, other slot's data ${verdict.foreign}`;
}

/** How long a read loop waits between two reads: a few hundred reads a second per lane, not all the CPU a shared machine has. */
export const READ_PAUSE_MS = 2;

/**
 * Reads in `lanes` concurrent loops until `done()` says stop. Each lane is a
 * worker and a way to pick its next read; a worker may appear in several lanes.
 */
export async function readLoop(
  ledger: Ledger,
  lanes: ReadonlyArray<{ readonly worker: Worker; readonly pick: () => ReadSpec }>,
  done: () => boolean,
): Promise<void> {
  await Promise.all(
    lanes.map(async ({ worker, pick }) => {
      while (!done()) {
        await ledger.read(worker, pick());
        await sleep(READ_PAUSE_MS);
      }
    }),
  );
}

/** `lanes` copies of each worker's lane: concurrent reads per process. */
export function lanesOf(workers: readonly Worker[], perWorker: number, pick: () => ReadSpec) {
  return workers.flatMap((worker) => Array.from({ length: perWorker }, () => ({ worker, pick })));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A pseudo-random choice that is the same on every run, so a failure can be replayed. */
export function seeded(seed: number): <T>(items: readonly T[]) => T {
  let state = seed >>> 0;
  return <T>(items: readonly T[]): T => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return items[state % items.length] as T;
  };
}

/** Every read the app offers for these users and note ids: the notes, the public boards and one page per user. */
export function everyRead(users: readonly string[], ids: readonly number[]): ReadSpec[] {
  const specs: ReadSpec[] = [];
  for (const user of users) {
    for (const id of ids) {
      specs.push({ kind: 'note', user, id });
      specs.push({ kind: 'board', user: users[(users.indexOf(user) + 1) % users.length] as string, owner: user, id });
    }
    specs.push({ kind: 'page', user, page: 1 });
  }
  return specs;
}
