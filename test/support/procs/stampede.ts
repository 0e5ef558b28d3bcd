import { fileURLToPath } from 'node:url';
import { forkWorker, type Reply, Requests } from './child.js';

const WORKER = fileURLToPath(new URL('./stampede-worker.ts', import.meta.url));

/** Environment variables a stampede worker reads at start. */
export const STAMPEDE_ENV = { url: 'STAMPEDE_REDIS_URL', lease: 'STAMPEDE_LEASE_MS', wait: 'STAMPEDE_WAIT_MS' } as const;
/** `{RUNS_KEY}:{id}`: how often the `report` resolver ran for that id, over every worker. */
export const RUNS_KEY = 'stampede:runs';
/** `{STARTS_KEY}:{id}`: a list of `{ pid, at }` (wall clock), one per resolver run, in the order they started. */
export const STARTS_KEY = 'stampede:starts';

/** Driver → worker. */
export type StampedeRequest =
  | { readonly seq: number; readonly cmd: 'burst'; readonly n: number; readonly id: number; readonly delayMs: number }
  | { readonly seq: number; readonly cmd: 'hangNext' }
  | { readonly seq: number; readonly cmd: 'errors' };

/** Worker → driver. */
export type StampedeReply =
  | { readonly kind: 'ready'; readonly pid: number }
  | { readonly kind: 'reply'; readonly seq: number; readonly ok: true; readonly value: unknown }
  | { readonly kind: 'reply'; readonly seq: number; readonly ok: false; readonly error: string };

/** A stampede worker process and a typed way to drive it. */
export class StampedeWorker {
  private constructor(
    readonly pid: number,
    private readonly requests: Requests,
  ) {}

  /** Starts a worker on the Redis at `url` with these lock timings; resolves once its store answers. */
  static async spawn(url: string, lock: { lease: number; wait: number }): Promise<StampedeWorker> {
    const { child, ready } = await forkWorker(WORKER, {
      label: 'stampede worker',
      env: { [STAMPEDE_ENV.url]: url, [STAMPEDE_ENV.lease]: String(lock.lease), [STAMPEDE_ENV.wait]: String(lock.wait) },
      ready: (message: StampedeReply) => message.kind === 'ready',
    });
    const replyOf = (message: unknown) => ((message as StampedeReply).kind === 'reply' ? (message as Reply) : undefined);
    return new StampedeWorker(ready.pid, new Requests(child, String(ready.pid), replyOf));
  }

  private call(request: StampedeRequest extends infer R ? (R extends { seq: number } ? Omit<R, 'seq'> : never) : never): Promise<unknown> {
    return this.requests.send((seq) => ({ ...request, seq }));
  }

  /** `n` identical concurrent calls of `report({ id, delayMs })`; resolves to the pid of the process whose resolver made each answer. */
  burst(n: number, id: number, delayMs: number): Promise<number[]> {
    return this.call({ cmd: 'burst', n, id, delayMs }) as Promise<number[]>;
  }

  /** Makes this worker's next resolver run hang for ever (until the process is killed). */
  async hangNext(): Promise<void> {
    await this.call({ cmd: 'hangNext' });
  }

  /** What the worker's caching instance reported to onError so far. */
  errors(): Promise<string[]> {
    return this.call({ cmd: 'errors' }) as Promise<string[]>;
  }

  /** Kills the process at once (SIGKILL), as a crashed host. */
  kill(): void {
    this.requests.kill();
  }
}
