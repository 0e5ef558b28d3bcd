import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A worker's answer to the request numbered `seq`: its value, or what went wrong. */
export interface Reply {
  readonly seq: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

/** Options of {@link forkWorker}: `M` is what the worker may send first, `R` the message that says it is ready. */
export interface ForkOptions<M, R extends M> {
  /** Names the worker in errors, e.g. `worker reader-1`. */
  readonly label: string;
  /** Added to this process's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Modules the worker imports first, after tsx. */
  readonly imports?: readonly string[];
  /** Whether the worker's first message says it is ready (default: any message does). */
  readonly ready?: (first: M) => first is R;
}

/**
 * Forks `script` under tsx from the repository root and resolves to the child and its first message once that
 * message says it is ready; rejects when the worker exits or says anything else first.
 *
 * @example
 * ```ts
 * const { child } = await forkWorker(WORKER, { label: 'worker a', env: { WORKER_URL: url } });
 * ```
 */
export function forkWorker<M = unknown, R extends M = M>(
  script: string,
  options: ForkOptions<M, R>,
): Promise<{ child: ChildProcess; ready: R }> {
  const child = fork(script, [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', ...(options.imports ?? []).flatMap((module) => ['--import', module])],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const failed = (code: number | null) => reject(new Error(`${options.label} exited with ${code} before it was ready`));
    child.once('exit', failed);
    child.once('message', (message: M) => {
      child.off('exit', failed);
      if (options.ready === undefined) resolve({ child, ready: message as R });
      else if (options.ready(message)) resolve({ child, ready: message });
      else reject(new Error(`${options.label} said ${JSON.stringify(message)} before it was ready`));
    });
  });
}

/**
 * Numbered requests to a worker process: each resolves to the value of the reply with its number, or rejects with
 * the worker's error; all that wait reject when the process exits, and a request to an exited worker at once.
 *
 * @example
 * ```ts
 * const requests = new Requests(child, 'a', (message) => message as Reply);
 * const value = await requests.send((seq) => ({ seq, cmd: 'status' }));
 * ```
 */
export class Requests {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private exited = false;

  /** `replyOf` picks the replies out of the worker's messages (undefined for any other message). */
  constructor(
    private readonly child: ChildProcess,
    private readonly name: string,
    replyOf: (message: unknown) => Reply | undefined,
  ) {
    child.on('message', (message: unknown) => {
      const reply = replyOf(message);
      if (reply === undefined) return;
      const waiter = this.waiting.get(reply.seq);
      this.waiting.delete(reply.seq);
      if (reply.ok) waiter?.resolve(reply.value);
      else waiter?.reject(new Error(`worker ${name}: ${reply.error}`));
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`worker ${name} exited (${signal ?? code})`));
      this.waiting.clear();
    });
  }

  /** Sends the message `request` makes of the next number, and resolves to the value of its reply. */
  send(request: (seq: number) => object): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(`worker ${this.name} has exited`));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.child.send(request(seq));
    });
  }

  /** Kills the process at once (SIGKILL), as a crashed host: it holds nothing worth flushing. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
