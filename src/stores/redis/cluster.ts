import { createCluster, type RedisClusterOptions } from '@keyv/redis';
import {
  type BackendOptions,
  backoff,
  connectionDefaults,
  expiry,
  type RedisBackend,
  type RedisWrite,
  redisLeases,
  replicaShortfall,
} from './backend.js';
import { keySlot } from './slots.js';

type Cluster = ReturnType<typeof createCluster>;

/** Least time between two topology refreshes that errors ask for, in ms: a dead node fails every command sent to it. */
const REFRESH_EVERY_MS = 250;

/**
 * Keys grouped by their hash slot: a multi-key command must name keys of one
 * slot only. Each group keeps the positions of its keys in the caller's list.
 */
function bySlot(keys: readonly string[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < keys.length; i++) {
    const slot = keySlot(keys[i] as string);
    const group = groups.get(slot);
    if (group === undefined) groups.set(slot, [i]);
    else group.push(i);
  }
  return groups;
}

/**
 * A Redis Cluster through `@redis/client`'s cluster client, which follows
 * `MOVED` (refreshing its slot map) and `ASK` (during a migration).
 *
 * - A read is one MGET per slot its keys fall in, all sent at once: one round
 *   trip whatever the slots (the hash-tag key layout puts most keys of a hit
 *   in two slots, see KeyFormat).
 * - A write of several keys is one SET per key, all sent at once, each
 *   redirected on its own; it counts as written only when every one answered.
 *   (The cluster client's MULTI is sent to the slot's owner without following
 *   `MOVED`, so a transaction would fail for as long as a stale slot map lasts.)
 * - A node that stops answering sends no `MOVED`: the client would keep sending
 *   its slots' commands to it after a replica took over. Any failed command
 *   therefore also asks for a topology refresh (at most one per 250 ms).
 * - The first connection is retried in the background with the same capped
 *   backoff as a lost one, so a Cluster that is down at startup blocks nothing.
 */
export function clusterNodes(cluster: RedisClusterOptions, options: BackendOptions): RedisBackend {
  let closed = false;
  const make = (): { client: Cluster; ready: () => boolean } => {
    const client = createCluster({ ...cluster, defaults: connectionDefaults(cluster.defaults, options) } as RedisClusterOptions) as Cluster;
    // Unheard 'error' events would crash the process; heard, they reach the Keyv and the store guard counts them.
    client.on('error', options.onError);
    client.on('node-error', (error: unknown) => {
      options.onError(error);
      refresh(client);
    });
    let connected = false;
    const connect = (attempt: number): void => {
      if (closed) return;
      client.connect().then(
        () => {
          connected = true;
        },
        (error: unknown) => {
          options.onError(error);
          setTimeout(() => connect(attempt + 1), backoff(options.maxReconnectDelay)(attempt)).unref();
        },
      );
    };
    connect(0);
    return { client, ready: () => connected };
  };

  const lastRefresh = new WeakMap<Cluster, number>();
  const refresh = (client: Cluster): void => {
    const now = performance.now();
    if (closed || now - (lastRefresh.get(client) ?? Number.NEGATIVE_INFINITY) < REFRESH_EVERY_MS) return;
    // Start from a node that answers; the refresh falls back to the root nodes when it does not.
    const from = client.masters.find((node) => node.client?.isReady)?.client;
    if (from === undefined) return;
    lastRefresh.set(client, now);
    // `_slots.rediscover` is the cluster client's own refresh (what it runs on MOVED); it has no public name.
    client._slots.rediscover(from).catch(options.onError);
  };

  const main = make();
  // WAIT blocks the connection it is sent on: moves wait on connections of their own, so reads never queue behind them.
  const writer = options.replicaAcks > 0 ? make() : main;

  /** Runs a command on the cluster; on failure asks for a topology refresh and rethrows. */
  const run = async <T>(on: { client: Cluster; ready: () => boolean }, command: (client: Cluster) => Promise<T>): Promise<T> => {
    if (!on.ready()) throw new Error('the Redis Cluster is not connected yet (its topology is unknown)');
    try {
      return await command(on.client);
    } catch (error) {
      refresh(on.client);
      throw error;
    }
  };

  return {
    read(keys) {
      return run(main, async (client) => {
        const rows: Array<string | undefined> = new Array(keys.length);
        const groups = bySlot(keys);
        await Promise.all(
          Array.from(groups.values(), async (positions) => {
            const values = await client.mGet(positions.map((i) => keys[i] as string));
            for (let j = 0; j < positions.length; j++) {
              const value = values[j];
              rows[positions[j] as number] = value === null || value === undefined ? undefined : String(value);
            }
          }),
        );
        return rows;
      });
    },
    set(key, value, ttl) {
      return run(main, async (client) => {
        await (ttl === undefined ? client.set(key, value) : client.set(key, value, expiry(ttl)));
      });
    },
    setMany(entries: readonly RedisWrite[]) {
      return run(writer, async (client) => {
        await Promise.all(entries.map(({ key, value, ttl }) => client.set(key, value, expiry(ttl))));
        if (options.replicaAcks <= 0) return;
        // One WAIT per slot written, on the connection that wrote it: it counts the replicas that have every write of it.
        const wait = ['WAIT', String(options.replicaAcks), String(options.replicaAckTimeout)];
        const slots = bySlot(entries.map((entry) => entry.key));
        const acks = await Promise.all(
          Array.from(slots.values(), (positions) => client.sendCommand(entries[positions[0] as number]?.key, false, wait)),
        );
        const fewest = Math.min(...acks.map(Number));
        if (fewest < options.replicaAcks) throw replicaShortfall(fewest, options.replicaAcks, options.replicaAckTimeout);
      });
    },
    delete(keys) {
      return run(main, async (client) => {
        const counts = await Promise.all(keys.map((key) => client.del(key)));
        return counts.reduce<number>((sum, n) => sum + Number(n), 0);
      });
    },
    leases: redisLeases((command) => run(main, command)),
    async close() {
      closed = true;
      await Promise.all(
        [...new Set([main, writer])].map(({ client, ready }) =>
          ready() ? client.close().catch(() => client.destroy()) : Promise.resolve(client.destroy()),
        ),
      );
    },
  };
}
