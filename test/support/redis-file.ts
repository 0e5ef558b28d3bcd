import { afterAll, beforeAll } from 'vitest';
import { type RedisServer, startRedis } from './redis.js';

/** Something a test opens on the file's Redis and that must be closed before the server stops. */
export interface Connection {
  disconnect(): Promise<unknown>;
}

/** The redis-server of one test file; see {@link fileRedis}. */
export interface FileRedis {
  /** The server; throws before the file's `beforeAll` started it. */
  readonly server: RedisServer;
  /** The server's URL; throws before the file's `beforeAll` started it. */
  readonly url: string;
  /** The server once started, else undefined. */
  readonly running: RedisServer | undefined;
  /** Closes `connection` after the file's tests, before the server stops (a failed close is ignored); returns it. */
  track<T extends Connection>(connection: T): T;
}

/**
 * Starts Debian's `redis-server` (see {@link startRedis}) before the tests of a file, and after them closes every
 * connection handed to `track` and removes the server. Call at the top level of a test file or describe block.
 *
 * @example
 * ```ts
 * const redis = fileRedis();
 * it('hits', async () => {
 *   const keyv = redis.track(new Keyv(new KeyvRedis(redis.url)));
 * });
 * ```
 */
export function fileRedis(options: { appendonly?: boolean } = {}): FileRedis {
  const file = fileServer(() => startRedis(options), 'redis-server not started: call fileRedis() at the top level of the test file');
  return {
    get server() {
      return file.server;
    },
    get url() {
      return file.server.url;
    },
    get running() {
      return file.running;
    },
    track: (connection) => file.track(connection),
  };
}

/** A server of the tests of a file or describe block; see {@link fileServer}. */
export interface FileServer<S> {
  /** The server; throws before the `beforeAll` hook started it. */
  readonly server: S;
  /** The server once started, else undefined. */
  readonly running: S | undefined;
  /** Closes `connection` after the tests, before the server stops (a failed close is ignored); returns it. */
  track<T extends Connection>(connection: T): T;
}

/**
 * Runs `start` before the tests of the file or describe block it is called in (within `startTimeout` ms, vitest's
 * hook timeout by default), and after them closes every tracked connection and disposes of the server. Reading
 * `server` before it started throws `notStarted`.
 *
 * @example
 * ```ts
 * const file = fileServer(() => startCluster({ masters: 3 }), 'no cluster yet', 60_000);
 * ```
 */
export function fileServer<S extends { dispose(): Promise<unknown> }>(
  start: () => Promise<S>,
  notStarted: string,
  startTimeout?: number,
): FileServer<S> {
  let running: S | undefined;
  const opened: Connection[] = [];
  beforeAll(async () => {
    running = await start();
  }, startTimeout);
  afterAll(async () => {
    for (const connection of opened.splice(0)) await connection.disconnect().catch(() => {});
    await running?.dispose();
  });
  return {
    get server() {
      if (!running) throw new Error(notStarted);
      return running;
    },
    get running() {
      return running;
    },
    track(connection) {
      opened.push(connection);
      return connection;
    },
  };
}
