import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./stampede-worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

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
  private seq = 0;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  private constructor(
    readonly pid: number,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (message: StampedeReply) => {
      if (message.kind !== 'reply') return;
      const waiter = this.waiting.get(message.seq);
      this.waiting.delete(message.seq);
      if (message.ok) waiter?.resolve(message.value);
      else waiter?.reject(new Error(`worker ${pid}: ${message.error}`));
    });
    child.on('exit', (code, signal) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`worker ${pid} exited (${signal ?? code})`));
      this.waiting.clear();
    });
  }

  /** Starts a worker on the Redis at `url` with these lock timings; resolves once its store answers. */
  static spawn(url: string, lock: { lease: number; wait: number }): Promise<StampedeWorker> {
    const child = fork(WORKER, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, [STAMPEDE_ENV.url]: url, [STAMPEDE_ENV.lease]: String(lock.lease), [STAMPEDE_ENV.wait]: String(lock.wait) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      const failed = (code: number | null) => reject(new Error(`stampede worker exited with ${code} before it was ready`));
      child.once('exit', failed);
      child.once('message', (message: StampedeReply) => {
        child.off('exit', failed);
        if (message.kind === 'ready') resolve(new StampedeWorker(message.pid, child));
        else reject(new Error(`stampede worker said ${JSON.stringify(message)} before it was ready`));
      });
    });
  }

  private call(request: StampedeRequest extends infer R ? (R extends { seq: number } ? Omit<R, 'seq'> : never) : never): Promise<unknown> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.child.send({ ...request, seq });
    });
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
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
