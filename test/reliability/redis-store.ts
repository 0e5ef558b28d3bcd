import KeyvRedis, { createClient } from '@keyv/redis';
import { Keyv } from 'keyv';

/**
 * A Keyv on Redis with the client options README recommends for production:
 *
 * - `disableOfflineQueue`: while the client reconnects, commands fail at once
 *   instead of waiting in node-redis' offline queue. Queued commands would
 *   otherwise hang until Redis is back and then land late, in a burst, possibly
 *   after newer writes (and after a restart that lost data).
 * - `reconnectStrategy` as a capped backoff that never gives up: the client
 *   heals by itself once Redis is back. (`false` would make @keyv/redis
 *   reconnect lazily on each call, adding its event listeners again each time.)
 * - `connectTimeout`: a connection attempt to an unreachable host fails in 1 s
 *   rather than the default 5 s.
 *
 * The library's own `timeout` still bounds every call: these options only make
 * failures surface faster and keep late writes from piling up.
 */
export function productionRedisStore(url: string): Keyv {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 1_000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1_000) },
  });
  return new Keyv({ store: new KeyvRedis(client), namespace: '' });
}

/** Drops the store's connection without waiting for replies that may never come (a stopped or paused server). */
export async function destroyStore(keyv: Keyv): Promise<void> {
  const adapter = keyv.store as KeyvRedis<string>;
  await adapter.disconnect(true).catch(() => {});
}

/** Resolves once `check` holds, polling; rejects with `what` after the deadline. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting until ${what}`);
}
