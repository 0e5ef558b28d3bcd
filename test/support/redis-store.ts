import KeyvRedis, { createClient } from '@keyv/redis';
import type { Keyv } from 'keyv';
import { createRawStringStore } from '../../src/index.js';

/**
 * A Keyv on Redis with the client options README recommends for production:
 *
 * - `disableOfflineQueue`: while the client (re)connects, commands fail at once
 *   instead of waiting in node-redis' offline queue. Queued commands would
 *   otherwise hang until Redis is back and then land late, in a burst, possibly
 *   after newer writes (and after a restart that lost data).
 * - `reconnectStrategy` as a capped backoff that never gives up: the client
 *   heals by itself once Redis is back. (`false` would make @keyv/redis
 *   reconnect lazily on each call, adding its event listeners again each time.)
 * - `connectTimeout`: a connection attempt to an unreachable host fails in 1 s
 *   rather than the default 5 s.
 * - Connecting at once, without awaiting it: with the offline queue disabled,
 *   requests that arrive before the first connection is ready would otherwise
 *   each find the client offline (and trip the breaker at boot); not awaiting
 *   it keeps a Redis outage from blocking startup.
 *
 * The library's own `timeout` still bounds every call: these options only make
 * failures surface faster and keep late writes from piling up.
 */
export function productionRedisStore(url: string): Keyv {
  return connecting(url).store;
}

/** {@link productionRedisStore}, once its first connection is ready (for tests that start with Redis up). */
export async function readyRedisStore(url: string): Promise<Keyv> {
  const { client, store } = connecting(url);
  await eventually('the Redis client is connected', () => client.isReady);
  return store;
}

/** {@link productionRedisStore} with its client, for callers that decide themselves when to wait for it. */
export function connecting(url: string) {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 1_000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1_000) },
  });
  // KeyvRedis listens to the client's error events (an unheard 'error' event would crash the process), so it wraps
  // the client before the first connection attempt. Errors reach the Keyv's error event; the promise is only drained.
  const store = createRawStringStore(new KeyvRedis(client));
  client.connect().catch(() => {});
  return { client, store };
}

/** Drops the store's connection without waiting for replies that may never come (a stopped or paused server). */
export async function destroyStore(keyv: Keyv): Promise<void> {
  const adapter = keyv.store as KeyvRedis<string>;
  await adapter.disconnect(true).catch(() => {});
}

/** Resolves once `check` holds, polling; rejects with `what` after the deadline (a function is read then, to say what went on). */
export async function eventually(
  what: string | (() => string),
  check: () => boolean | Promise<boolean>,
  deadlineMs = 10_000,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting until ${typeof what === 'function' ? what() : what}`);
}
