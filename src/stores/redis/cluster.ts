import { randomUUID } from 'node:crypto';
import { createCluster, type RedisClusterOptions } from '@keyv/redis';
import { isNodeFault, type NodeHealthState, nodeFault } from '../capabilities.js';
import {
  type BackendOptions,
  backoff,
  connectionDefaults,
  expiry,
  px,
  type RedisBackend,
  type RedisWrite,
  redisLeases,
  replicaShortfall,
  replicasAcknowledged,
} from './backend.js';
import { type ClusterPubSubSource, clusterPubSub, type ShardSubscriber } from './cluster-pubsub.js';
import { FailoverWatch } from './failover-watch.js';
import { NodeHealth } from './node-health.js';
import { keySlot } from './slots.js';

type Cluster = ReturnType<typeof createCluster>;
/** A connection to one node, as the cluster client hands it to a command. */
type NodeClient = Parameters<Parameters<Cluster['_execute']>[3]>[0];

/** Pauses before retrying a command answered `TRYAGAIN` (a multi-key command during a slot's migration), in ms. */
const TRY_AGAIN_MS = [2, 5, 10, 20];
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

/** A Redis Cluster client's primary of a slot now (`host:port`), undefined while its map has none. */
function ownerNow(client: Cluster, slot: number): string | undefined {
  return client._slots.slots[slot]?.master.address;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Whether Redis asked to try again: a multi-key command whose keys are split by a slot's migration in progress. */
function tryAgain(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('TRYAGAIN');
}

/**
 * A Redis Cluster through `@redis/client`'s cluster client, which follows
 * `MOVED` (refreshing its slot map) and `ASK` (during a migration).
 *
 * - A read is one MGET per slot its keys fall in, all sent at once: one round
 *   trip whatever the slots (the hash-tag key layout puts most keys of a hit
 *   in two slots, see KeyFormat). `TRYAGAIN` (keys split by a migration) is
 *   retried a few times before the read fails.
 * - Health is judged per primary ({@link NodeHealth}): a call that fails on one
 *   node rejects with a node fault, which the store guard does not count against
 *   the whole store, and a failing node's slots are skipped for a while. One dead
 *   primary costs the keys it holds, not every slot.
 * - A failover may roll data back (a promoted replica lacks its primary's last
 *   writes, version moves among them). When the slot map shows one
 *   ({@link FailoverWatch}), reads of its slots are refused until the engine's
 *   global version got a fresh token (every entry misses once); a read
 *   is checked against the map before it is sent and after its answer, so none
 *   is served from a promoted replica before that.
 * - A write of several keys is one SET per key, all sent at once, each
 *   redirected on its own; it counts as written only when every one answered.
 *   (The cluster client's MULTI is sent to the slot's owner without following
 *   `MOVED`, so a transaction would fail for as long as a stale slot map lasts.)
 *   With `replicaAcks`, `WAIT` is sent on the connection of each node that took a
 *   write (after an `ASK`, the importing node), and a shortfall waits again.
 * - A node that stops answering sends no `MOVED`: the client would keep sending
 *   its slots' commands to it after a replica took over. Any failed command
 *   therefore also asks for a topology refresh (at most one per 250 ms).
 * - The first connection is retried in the background with the same capped
 *   backoff as a lost one, so a Cluster that is down at startup blocks nothing.
 */
export function clusterNodes(
  cluster: RedisClusterOptions,
  options: BackendOptions,
): RedisBackend & { readonly watch: FailoverWatch; nodes(): NodeHealthState[] } {
  let closed = false;
  const health = new NodeHealth();
  // After a failover, fresh tokens for the engine's global version, on the primaries as the refreshed map has them, until
  // they land: no replica acknowledgement asked (a later failover that loses them is one more failover, seen as well).
  const watch = new FailoverWatch(async (keys, ttl) => {
    for (let attempt = 0; !closed; attempt++) {
      try {
        await Promise.all(keys.map((key) => main.client.set(key, randomUUID(), expiry(ttl))));
        return;
      } catch (error) {
        options.onError(error);
        refresh(main.client);
        await sleep(backoff(options.maxReconnectDelay)(attempt));
      }
    }
  }, options.onError);
  const make = (watched: boolean): { client: Cluster; ready: () => boolean } => {
    const client = createCluster({ ...cluster, defaults: connectionDefaults(cluster.defaults, options) } as RedisClusterOptions) as Cluster;
    // Unheard 'error' events would crash the process; heard, they reach the Keyv and the store guard counts them.
    client.on('error', options.onError);
    client.on('node-error', (error: unknown) => {
      options.onError(error);
      refresh(client);
    });
    if (watched) {
      // Every refresh of the slot map (on MOVED, after a failed command, on reconnection) is compared with the last one.
      const slots = client._slots;
      const rediscover = slots.rediscover.bind(slots);
      slots.rediscover = (startWith) => rediscover(startWith).finally(() => observe(client));
    }
    let connected = false;
    const connect = (attempt: number): void => {
      if (closed) return;
      client.connect().then(
        () => {
          connected = true;
          if (watched) observe(client);
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
  const observe = (client: Cluster): void => {
    if (closed) return;
    void watch.observe((slot) => ownerNow(client, slot));
    health.retain(new Set(client.masters.map((node) => node.address)));
    // A subscription on a node that no longer serves its channel's slot (a failover) moves to the one that does.
    pubsub.check();
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

  const main = make(true);
  // WAIT blocks the connection it is sent on: moves wait on connections of their own, so reads never queue behind them.
  const writer = options.replicaAcks > 0 ? make(false) : main;

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

  const pubsubSource: ClusterPubSubSource = {
    async publish(channel, message) {
      // To the slot's primary (SPUBLISH counts as a read, which `useReplicas` would send to a replica), following MOVED.
      await run(main, (client) =>
        client._execute(channel, false, undefined, (node, commandOptions) =>
          node.sendCommand(['SPUBLISH', channel, message], commandOptions),
        ),
      );
    },
    owner: (slot) => (main.ready() ? ownerNow(main.client, slot) : undefined),
    async connection(slot) {
      const master = main.client._slots.slots[slot]?.master;
      if (master === undefined) throw new Error(`the Redis Cluster's slot map has no primary for slot ${slot}`);
      // A copy of the node's command connection (address, credentials, TLS as the cluster client made it), that a
      // subscription replaces instead of letting it reconnect: after a failover its node may serve other slots.
      // Its command connection as the slot map made it (eagerly, unless `minimizeConnections`); not awaited while it is
      // reconnecting to a dead node, which never ends.
      const node = master.client ?? (await main.client.nodeClient(master));
      return node.duplicate({
        socket: { ...node.options?.socket, reconnectStrategy: false },
        clientSideCache: undefined,
      } as unknown as Parameters<typeof node.duplicate>[0]) as unknown as ShardSubscriber;
    },
    refresh: () => refresh(main.client),
    connectTimeout: options.connectTimeout,
    maxReconnectDelay: options.maxReconnectDelay,
  };
  const pubsub = clusterPubSub(pubsubSource);

  /** Refuses a read of a slot fenced by a failover, observing the slot map first when it moved since last seen. */
  const unfenced = (client: Cluster, slot: number): void => {
    if (watch.changed(slot, ownerNow(client, slot))) observe(client);
    if (watch.fenced(slot))
      throw nodeFault(`slot ${slot} changed hands by failover: its reads wait until the global version has a fresh token`, undefined, true);
  };

  /**
   * Sends a command for one slot, judged by the health of the node that owns it: skipped at once while that node is
   * failing (`guarded`), retried on `TRYAGAIN`, and failing with a node fault so that the store guard does not count
   * one node's trouble against every slot.
   */
  const onSlot = async <T>(client: Cluster, slot: number, guarded: boolean, command: () => Promise<T>): Promise<T> => {
    const address = ownerNow(client, slot) ?? `slot ${slot}`;
    const release = guarded ? health.admit(address) : () => {};
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const value = await command();
          health.succeeded(address);
          return value;
        } catch (error) {
          const again = attempt < TRY_AGAIN_MS.length && tryAgain(error);
          if (!again) throw error;
          await sleep(TRY_AGAIN_MS[attempt] as number);
        }
      }
    } catch (error) {
      if (isNodeFault(error)) throw error;
      // A migration that outlasts the retries is no fault of the node.
      if (!tryAgain(error) && !closed) health.failed(address, error);
      throw nodeFault(`Redis Cluster node ${address}: ${error instanceof Error ? error.message : String(error)}`, error);
    } finally {
      release();
    }
  };

  /** Waits until `replicaAcks` replicas have every write sent on `node`'s connection, asking again after a shortfall. */
  const acknowledged = (node: NodeClient): Promise<number> =>
    replicasAcknowledged(
      (args) => node.sendCommand(args),
      options,
      () => closed,
    );

  return {
    watch,
    pubsub,
    nodes: () => health.states(main.client.masters.map((node) => node.address)),
    read(keys) {
      return run(main, async (client) => {
        const rows: Array<string | undefined> = new Array(keys.length);
        const groups = bySlot(keys);
        await Promise.all(
          Array.from(groups, async ([slot, positions]) => {
            unfenced(client, slot);
            const values = await onSlot(client, slot, true, () => client.mGet(positions.map((i) => keys[i] as string)));
            // The answer may come from a primary the map switched to meanwhile: checked again before it is used.
            unfenced(client, slot);
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
        await onSlot(client, keySlot(key), true, () => (ttl === undefined ? client.set(key, value) : client.set(key, value, expiry(ttl))));
      });
    },
    setMany(entries: readonly RedisWrite[]) {
      return run(writer, async (client) => {
        // The node connection that took each write: after an ASK redirect, the importing node, not the slot map's owner.
        const took = new Set<NodeClient>();
        await Promise.all(
          entries.map(({ key, value, ttl }) => {
            const args = ttl === undefined ? ['SET', key, value] : ['SET', key, value, 'PX', String(px(ttl))];
            return onSlot(client, keySlot(key), false, () =>
              client._execute(key, false, undefined, async (node, commandOptions) => {
                const reply = await node.sendCommand(args, commandOptions);
                took.add(node);
                return reply;
              }),
            );
          }),
        );
        if (options.replicaAcks <= 0) return;
        // WAIT counts the replicas that have every write sent on the connection it is sent on.
        const acks = await Promise.all(Array.from(took, acknowledged));
        const fewest = Math.min(...acks);
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
      pubsub.close();
      await Promise.all(
        [...new Set([main, writer])].map(({ client, ready }) =>
          ready() ? client.close().catch(() => client.destroy()) : Promise.resolve(client.destroy()),
        ),
      );
    },
  };
}
