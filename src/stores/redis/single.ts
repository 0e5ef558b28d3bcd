import { createClient, type RedisClientOptions } from '@keyv/redis';
import { redisPubSub } from '../../live/redis-pubsub.js';
import {
  type BackendOptions,
  connectionDefaults,
  expiry,
  type RedisBackend,
  type RedisWrite,
  redisLeases,
  replicaShortfall,
} from './backend.js';
import type { ConnectionWatch } from './connection.js';

type Client = ReturnType<typeof createClient>;

/**
 * One Redis (or Valkey) server. Reads are one MGET; writes of several keys are
 * one MULTI, so that a version move lands whole or not at all.
 *
 * The client is built with the options README used to ask users to copy: no
 * offline queue (while disconnected a command fails at once instead of
 * landing late, in a burst, after newer writes), reconnection for ever with a
 * capped backoff, a connect timeout, and a first connection started here and
 * not awaited (a Redis outage never blocks startup).
 *
 * `watch` follows the connections: it reports the first error of each outage (not one per reconnection attempt),
 * and a command sent while a connection is down fails at once with an error naming the server and why.
 */
export function singleNode(
  url: string,
  client: RedisClientOptions | undefined,
  options: BackendOptions,
  watch: ConnectionWatch,
): RedisBackend {
  const make = (): Client => {
    const made = createClient({ ...connectionDefaults(client, options), url } as RedisClientOptions) as Client;
    // An unheard 'error' event would crash the process: the watch hears every one, and tells the Keyv of each outage.
    watch.follow(made);
    made.connect().catch(() => {});
    return made;
  };
  const main = make();
  // WAIT blocks the connection it is sent on until replicas answer: moves wait on a connection of their own,
  // so that reads never queue behind them.
  const writer = options.replicaAcks > 0 ? make() : main;

  const setMany = (entries: readonly RedisWrite[]): Promise<void> =>
    watch.send(writer, async () => {
      const multi = writer.multi();
      for (const { key, value, ttl } of entries) multi.set(key, value, expiry(ttl));
      await multi.exec();
      if (options.replicaAcks > 0) {
        const acked = Number(await writer.sendCommand(['WAIT', String(options.replicaAcks), String(options.replicaAckTimeout)]));
        if (acked < options.replicaAcks) throw replicaShortfall(acked, options.replicaAcks, options.replicaAckTimeout);
      }
    });

  return {
    async read(keys) {
      // Absent keys come back as null: replaced in place rather than in a second array on every hit.
      const rows = (await watch.send(main, () => main.mGet(keys as string[]))) as Array<string | null | undefined>;
      for (let i = 0; i < rows.length; i++) if (rows[i] === null) rows[i] = undefined;
      return rows as Array<string | undefined>;
    },
    async set(key, value, ttl) {
      await watch.send(main, () => main.set(key, value, expiry(ttl)));
    },
    setMany,
    async delete(keys) {
      return keys.length === 0 ? 0 : Number(await watch.send(main, () => main.del(keys as string[])));
    },
    // Moves travel to other processes' live streams on this connection; subscribers get duplicates of it.
    pubsub: redisPubSub(main),
    leases: redisLeases((command) => watch.send(main, () => command(main))),
    async close() {
      // A client that is not ready (Redis down, reconnecting) has nothing in flight worth waiting for.
      await Promise.all(
        [...new Set([main, writer])].map((client) => (client.isReady ? client.close().catch(() => client.destroy()) : client.destroy())),
      );
    },
  };
}
