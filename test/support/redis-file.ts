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
  let running: RedisServer | undefined;
  const opened: Connection[] = [];
  beforeAll(async () => {
    running = await startRedis(options);
  });
  afterAll(async () => {
    for (const connection of opened.splice(0)) await connection.disconnect().catch(() => {});
    await running?.dispose();
  });
  const started = (): RedisServer => {
    if (!running) throw new Error('redis-server not started: call fileRedis() at the top level of the test file');
    return running;
  };
  return {
    get server() {
      return started();
    },
    get url() {
      return started().url;
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
