import { CachingConfigError } from '../../errors.js';
import { checkDuration } from '../../options.js';
import type { RedisBackend } from './backend.js';
import { type ConnectionWatch, RedisConnectionError } from './connection.js';

/**
 * Options of `store.ready()`.
 *
 * @example
 * ```ts
 * await store.ready({ timeout: 10_000 });
 * ```
 */
export interface ReadyOptions {
  /**
   * Longest wait for the connection, in ms; after it `ready()` rejects with a {@link RedisConnectionError}.
   * @default 5000
   */
  readonly timeout?: number;
}

/** Whether a store's connections are up, and what to say when they did not come up in time. */
export interface Readiness {
  readonly address: string;
  /** Resolves to whether the store takes commands now. */
  check(): boolean | Promise<boolean>;
  /** Why it is not ready: the state of its connection. */
  describe(): string;
}

/** The readiness of one server: its clients' own state. */
export function serverReadiness(watch: ConnectionWatch): Readiness {
  return { address: watch.address, check: () => watch.ready, describe: () => watch.describe() };
}

/** Key read to probe a Cluster: any key works, an absent one costs nothing. */
const PROBE_KEY = 'trpc-caching:ready-probe';

/**
 * A Cluster's backend whose calls fail as "not connected yet" until its client first answers, and its readiness.
 *
 * The Cluster client learns its topology before it sends anything: a call before that fails, but only because the
 * app did not wait ({@link waitReady}). Such calls carry the `connecting` code, so the store guard skips them
 * instead of reporting each one; the first connection error (`connectionFailed`) or the first answer ends that.
 */
export function clusterReadiness(
  backend: RedisBackend,
  address: string,
): { backend: RedisBackend; readiness: Readiness; connectionFailed(error: unknown): void } {
  let state: 'connecting' | 'answered' | 'failed' = 'connecting';
  let lastError: unknown;
  const answered = <T>(value: T): T => {
    state = 'answered';
    return value;
  };
  const failed = (error: unknown): never => {
    if (state !== 'connecting') throw error;
    throw new RedisConnectionError(
      address,
      'connecting',
      `Redis Cluster at ${address}: not connected yet (await store.ready() at startup)`,
      error,
    );
  };
  const watched =
    <A extends unknown[], T>(call: (...args: A) => Promise<T>) =>
    (...args: A) =>
      call(...args).then(answered, failed);
  return {
    backend: {
      ...backend,
      read: watched(backend.read),
      set: watched(backend.set),
      setMany: watched(backend.setMany),
      delete: watched(backend.delete),
    },
    readiness: {
      address,
      check: () =>
        backend.read([PROBE_KEY]).then(
          () => answered(true),
          (error: unknown) => {
            lastError = error;
            return false;
          },
        ),
      describe: () => (lastError === undefined ? 'still connecting' : `unreachable: ${errorText(lastError)}`),
    },
    connectionFailed(error) {
      lastError = error;
      if (state === 'connecting') state = 'failed';
    },
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Resolves once the store takes commands; rejects with a {@link RedisConnectionError} naming the server after
 * `timeout` ms. Polls every 10 ms: a client with no offline queue answers "offline" at once.
 */
export async function waitReady(readiness: Readiness, options: ReadyOptions = {}): Promise<void> {
  if (typeof options !== 'object' || options === null) throw new CachingConfigError('store.ready', 'expected an options object');
  const timeout = checkDuration('store.ready.timeout', options.timeout === undefined ? 5_000 : options.timeout, { min: 1 });
  const deadline = performance.now() + timeout;
  for (;;) {
    const left = deadline - performance.now();
    const probe = Promise.resolve(readiness.check());
    const ready = await Promise.race([probe, sleep(Math.max(0, left)).then(() => false)]);
    if (ready) return;
    if (performance.now() >= deadline) {
      probe.catch(() => {});
      throw new RedisConnectionError(
        readiness.address,
        'unreachable',
        `Redis at ${readiness.address} not ready within ${timeout} ms: ${readiness.describe()}`,
      );
    }
    await sleep(Math.min(10, left));
  }
}
