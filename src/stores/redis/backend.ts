import type { Leases, PubSub } from '../capabilities.js';

/** One key to write, and its lifetime in ms (none: it never expires). */
export interface RedisWrite {
  readonly key: string;
  readonly value: string;
  readonly ttl: number | undefined;
}

/**
 * The Redis commands the store sends, on one node or on a Cluster. Every
 * method rejects when Redis did not answer as asked; the Keyv adapter turns
 * that into an `error` event.
 */
export interface RedisBackend {
  /** Values of keys, in order, undefined when absent: one MGET on a node, one MGET per slot (all in flight at once) on a Cluster. */
  read(keys: readonly string[]): Promise<Array<string | undefined>>;
  /** Sets one key with a TTL in ms (`SET key value PX ttl`). */
  set(key: string, value: string, ttl: number | undefined): Promise<void>;
  /**
   * Sets keys with TTLs; resolves only once every key is written (and, with `replicaAcks`, acknowledged by
   * that many replicas), so that a version move counts as written only when all of it is.
   */
  setMany(entries: readonly RedisWrite[]): Promise<void>;
  /** Deletes keys; resolves to how many existed. */
  delete(keys: readonly string[]): Promise<number>;
  readonly leases: Leases;
  /** Publish/subscribe for the live invalidation stream, on this backend's connections (sharded on a Cluster). */
  readonly pubsub?: PubSub | undefined;
  /** Closes the connections, waiting for replies to commands already sent. */
  close(): Promise<void>;
}

/** Options every backend shares, resolved by createRedisStore. */
export interface BackendOptions {
  readonly connectTimeout: number;
  readonly maxReconnectDelay: number;
  readonly replicaAcks: number;
  readonly replicaAckTimeout: number;
  /** Told of every connection error, so that the Keyv emits it. */
  readonly onError: (error: unknown) => void;
}

/** Deletes the lease only while `token` holds it: a holder whose lease expired and was taken again must not free the new one. */
const RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
/** Renews the lease only while `token` holds it. */
const EXTEND_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/** The commands a lease sends, on a node's client or a Cluster's. */
interface LeaseCommands {
  set(key: string, value: string, options: { condition: 'NX'; expiration: { type: 'PX'; value: number } }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/**
 * Leases (`lock`) as Redis keys: `SET NX PX` takes one, and scripts renew or free it only for the token that holds
 * it. `on` sends a command on the backend's connection.
 */
export function redisLeases(on: <T>(command: (client: LeaseCommands) => Promise<T>) => Promise<T>): Leases {
  return {
    acquire(key, token, ttl) {
      return on(async (client) => (await client.set(key, token, { condition: 'NX', expiration: { type: 'PX', value: px(ttl) } })) !== null);
    },
    extend(key, token, ttl) {
      return on(async (client) => Number(await client.eval(EXTEND_SCRIPT, { keys: [key], arguments: [token, String(px(ttl))] })) === 1);
    },
    release(key, token) {
      return on(async (client) => {
        await client.eval(RELEASE_SCRIPT, { keys: [key], arguments: [token] });
      });
    },
  };
}

/**
 * The client options every connection gets over the app's own: no offline queue (while disconnected a command
 * fails at once instead of landing late, after newer writes), a connect timeout, and reconnection for ever with a
 * capped backoff.
 */
export function connectionDefaults<T extends { readonly socket?: object | undefined }>(given: T | undefined, options: BackendOptions) {
  return {
    ...given,
    disableOfflineQueue: true,
    socket: {
      ...given?.socket,
      connectTimeout: options.connectTimeout,
      reconnectStrategy: backoff(options.maxReconnectDelay),
    },
  };
}

/** SET's options for a lifetime: `PX` in whole ms, or none. */
export function expiry(ttl: number | undefined): { expiration: { type: 'PX'; value: number } } | undefined {
  return ttl === undefined ? undefined : { expiration: { type: 'PX', value: px(ttl) } };
}

/** A TTL as Redis takes it: whole ms, at least 1, rounded down so that an entry never outlives what it was given. */
export function px(ttl: number): number {
  return Math.max(1, Math.floor(ttl));
}

/** Reconnection delays that back off from 50 ms and never give up: the client heals by itself once Redis is back. */
export function backoff(maxDelay: number): (retries: number) => number {
  return (retries) => Math.min(50 * 2 ** Math.min(retries, 16), maxDelay);
}

/** An error for fewer replica acknowledgements than asked: the write landed on the primary only and may be lost in a failover. */
export function replicaShortfall(acked: number, wanted: number, timeout: number): Error {
  return new Error(`only ${acked} of ${wanted} replicas acknowledged the write within ${timeout} ms (replicaAcks)`);
}

/**
 * Longest a version write waits again for `replicaAcks` replicas after a `WAIT` saw fewer, in ms: a replica that
 * fell behind (a failover, a burst, a pause) usually catches up within it. The engine's `invalidationTimeout` (1 s by
 * default) bounds the mutation anyway; past it the move stays pending and is written again.
 *
 * @example
 * ```ts
 * const deadline = performance.now() + SHORTFALL_RETRY_MS;
 * ```
 */
export const SHORTFALL_RETRY_MS = 1_000;

/**
 * Waits until `options.replicaAcks` replicas have every write sent on one connection (`WAIT`, sent by `send` on that
 * connection), asking again after a shortfall for up to {@link SHORTFALL_RETRY_MS} or until `closed()`; resolves to
 * the replicas that acknowledged the last time. On one server and on each Cluster node that took a write.
 *
 * @example
 * ```ts
 * const acked = await replicasAcknowledged((args) => client.sendCommand(args), options, () => closed);
 * if (acked < options.replicaAcks) throw replicaShortfall(acked, options.replicaAcks, options.replicaAckTimeout);
 * ```
 */
export async function replicasAcknowledged(
  send: (args: string[]) => Promise<unknown>,
  options: Pick<BackendOptions, 'replicaAcks' | 'replicaAckTimeout'>,
  closed: () => boolean,
): Promise<number> {
  const wait = ['WAIT', String(options.replicaAcks), String(options.replicaAckTimeout)];
  const deadline = performance.now() + SHORTFALL_RETRY_MS;
  let acked = Number(await send(wait));
  while (acked < options.replicaAcks && !closed() && performance.now() < deadline) acked = Number(await send(wait));
  return acked;
}
