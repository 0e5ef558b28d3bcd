import { fileURLToPath } from 'node:url';
import type { RedisStoreSettings } from '../../../src/stores/redis/index.js';
import { forkWorker, type Reply, Requests } from './child.js';
import type { Worker } from './driver.js';
import type { MutateReply, ReadReply, ReadSpec, Response, WorkerCachingOptions } from './protocol.js';

const WORKER = fileURLToPath(new URL('./cluster-worker.ts', import.meta.url));

/** Environment variables a Cluster worker reads at start. */
export const CLUSTER_ENV = { roots: 'ADVERSITY_CLUSTER_ROOTS', dbUrl: 'ADVERSITY_DB_URL' } as const;

/** A worker's counters, from `caching.stats()`. */
export interface ClusterWorkerStats {
  readonly hits: number;
  readonly bypassReasons: Readonly<Record<string, number>>;
  readonly breaker: string;
  readonly pending: number;
  readonly storeNodes: ReadonlyArray<{ readonly node: string; readonly breaker: string; readonly failures: number }>;
  /** The last errors reported, to say what went on when a test fails. */
  readonly errors: readonly string[];
}

/** Every command a Cluster worker takes, with its arguments and its reply. */
export interface ClusterCommands {
  /** A fresh caching instance on a fresh `createRedisStore({ cluster, ...store })`. */
  configure: { args: { store: RedisStoreSettings; caching: WorkerCachingOptions }; reply: null };
  read: { args: ReadSpec; reply: ReadReply };
  mutate: { args: { user: string; id: number }; reply: MutateReply };
  stats: { args: null; reply: ClusterWorkerStats };
}

export type ClusterCommandName = keyof ClusterCommands;

/**
 * A worker process on a Redis Cluster (test/support/procs/cluster-worker.ts). It answers `read` and `mutate` as the
 * adversity suite's workers do, so that a {@link Ledger} judges its reads: {@link ClusterWorker.judged} is the view a
 * ledger takes.
 *
 * @example
 * ```ts
 * const worker = await ClusterWorker.spawn('a', cluster.rootNodes.map((n) => n.url), db.url);
 * await worker.call('configure', { store: { replicaAcks: 1 }, caching: {} });
 * await ledger.read(worker.judged, { kind: 'note', user: 'ann', id: 1 });
 * ```
 */
export class ClusterWorker {
  private constructor(
    readonly name: string,
    private readonly requests: Requests,
  ) {}

  static async spawn(name: string, roots: readonly string[], dbUrl: string): Promise<ClusterWorker> {
    const { child } = await forkWorker(WORKER, {
      label: `cluster worker ${name}`,
      env: { [CLUSTER_ENV.roots]: JSON.stringify(roots), [CLUSTER_ENV.dbUrl]: dbUrl },
      ready: (message: Response) => message.kind === 'ready',
    });
    return new ClusterWorker(
      name,
      new Requests(child, name, (message) => ((message as Response).kind === 'reply' ? (message as Reply) : undefined)),
    );
  }

  call<K extends ClusterCommandName>(cmd: K, args: ClusterCommands[K]['args']): Promise<ClusterCommands[K]['reply']> {
    return this.requests.send((seq) => ({ seq, cmd, args })) as Promise<ClusterCommands[K]['reply']>;
  }

  /** This worker as a {@link Ledger} sends it reads and mutations (it only calls `read` and `mutate`, by name). */
  get judged(): Worker {
    return this as unknown as Worker;
  }

  kill(): void {
    this.requests.kill();
  }
}
