import { randomUUID } from 'node:crypto';
import { createClient, type RedisClientOptions } from '@keyv/redis';
import { nodeFault } from '../capabilities.js';
import {
  type BackendOptions,
  backoff,
  connectionDefaults,
  expiry,
  type RedisBackend,
  type RedisWrite,
  redisLeases,
  replicaShortfall,
  replicasAcknowledged,
} from './backend.js';
import type { ConnectionWatch } from './connection.js';
import { redisPubSub } from './pubsub.js';
import { ServerSwitchWatch } from './server-switch-watch.js';

type Client = ReturnType<typeof createClient>;

/**
 * One Redis (or Valkey) server. Reads are one MGET; writes of several keys are
 * one MULTI, so that a version move lands whole or not at all.
 *
 * The client is built with these options: no
 * offline queue (while disconnected a command fails at once instead of
 * landing late, in a burst, after newer writes), reconnection for ever with a
 * capped backoff, a connect timeout, and a first connection started here and
 * not awaited (a Redis outage never blocks startup).
 *
 * `watch` follows the connections: it reports the first error of each outage (not one per reconnection attempt),
 * and a command sent while a connection is down fails at once with an error naming the server and why.
 *
 * Every new connection asks the server who it is ({@link ServerSwitchWatch}): after a restart, or another server at
 * the URL (a promoted replica), reads are refused (they bypass the cache) until the engine's global version got a
 * fresh token there, so that writes the server lost never bring an entry back. With `replicaAcks`, a `WAIT` that saw
 * too few replicas is asked again for up to a second before the move is left pending.
 */
export function singleNode(
  url: string,
  client: RedisClientOptions | undefined,
  options: BackendOptions,
  watch: ConnectionWatch,
): RedisBackend & { readonly switches: ServerSwitchWatch; readable(): boolean; checkReads(strict?: boolean): void } {
  let closed = false;
  // After a switch, fresh tokens for the engine's global version on the new server, until they land.
  const switches = new ServerSwitchWatch(async (keys, ttl) => {
    for (let attempt = 0; !closed; attempt++) {
      try {
        await watch.send(main, () => Promise.all(keys.map((key) => main.set(key, randomUUID(), expiry(ttl)))));
        return;
      } catch (error) {
        options.onError(error);
        await new Promise((resolve) => setTimeout(resolve, backoff(options.maxReconnectDelay)(attempt)).unref());
      }
    }
  }, options.onError);
  const make = (): Client => {
    const made = createClient({ ...connectionDefaults(client, options), url } as RedisClientOptions) as Client;
    // An unheard 'error' event would crash the process: the watch hears every one, and tells the Keyv of each outage.
    watch.follow(made);
    made.on('ready', () => void switches.check(made));
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
        const acked = await replicasAcknowledged(
          (args) => writer.sendCommand(args),
          options,
          () => closed,
        );
        if (acked < options.replicaAcks) throw replicaShortfall(acked, options.replicaAcks, options.replicaAckTimeout);
      }
    });

  /**
   * Refuses a read while the server `main` reaches is unchecked, or a switch's move is in flight. `strict`: also
   * while `main` is down (a read on another connection, the near cache's, may reach a server `main` has not seen).
   */
  const checked = (strict = false): void => {
    if ((main.isReady || strict) && !(main.isReady && switches.admits(main))) {
      throw nodeFault(
        `Redis at ${watch.address}: reads wait until the server is identified (and, after a switch, the global version renewed)`,
        undefined,
        true,
      );
    }
  };

  return {
    switches,
    readable: () => watch.ready && switches.admits(main),
    checkReads: (strict) => checked(strict),
    async read(keys) {
      checked();
      // Absent keys come back as null: replaced in place rather than in a second array on every hit.
      const rows = (await watch.send(main, () => main.mGet(keys as string[]))) as Array<string | null | undefined>;
      // The answer may come from a server reached by a reconnection since: checked again before it is used.
      checked();
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
      closed = true;
      // A client that is not ready (Redis down, reconnecting) has nothing in flight worth waiting for.
      await Promise.all(
        [...new Set([main, writer])].map((client) => (client.isReady ? client.close().catch(() => client.destroy()) : client.destroy())),
      );
    },
  };
}

/**
 * `backend` whose reads are refused while `check` throws, before they are sent and after they are answered: a near
 * cache in front of a single node serves nothing, from memory or from its tracking connection, while the node's
 * server is unchecked or a switch's move is in flight (its copies were dropped when its connection was lost).
 *
 * @example
 * ```ts
 * const near = withNearCache(node, url, client, settings, options).backend;
 * const backend = readsChecked(near, (strict) => node.checkReads(strict));
 * ```
 */
export function readsChecked(backend: RedisBackend, check: (strict: boolean) => void): RedisBackend {
  return {
    ...backend,
    async read(keys) {
      check(true);
      const rows = await backend.read(keys);
      check(true);
      return rows;
    },
  };
}
