import type { PubSub } from '../capabilities.js';
import { backoff } from './backend.js';
import { keySlot } from './slots.js';

/** How often a process with a subscription looks at the slot map (one `CLUSTER SLOTS`), in ms. */
const SLOT_MAP_LOOK_MS = 5_000;

/** A connection to one Cluster node that listens on a sharded channel (`SSUBSCRIBE`), as `@redis/client` gives it. */
export interface ShardSubscriber {
  connect(): Promise<unknown>;
  sSubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  destroy(): void;
}

/** What {@link clusterPubSub} needs of the Cluster backend: its slot map and connections. */
export interface ClusterPubSubSource {
  /** `SPUBLISH` on the primary that serves the channel's slot; rejects when it cannot be reached. */
  publish(channel: string, message: string): Promise<void>;
  /** The primary that serves a slot now (`host:port`), as the slot map has it; undefined while it has none. */
  owner(slot: number): string | undefined;
  /** A new, unconnected connection to the primary that serves a slot now, that never reconnects by itself. */
  connection(slot: number): Promise<ShardSubscriber>;
  /** Asks for a refresh of the slot map (throttled by the backend). */
  refresh(): void;
  /** Longest a subscription waits for its node to connect and confirm, in ms. */
  readonly connectTimeout: number;
  /** Longest pause between two attempts to subscribe again, in ms. */
  readonly maxReconnectDelay: number;
}

/**
 * Sharded publish/subscribe on a Redis Cluster (Redis 7+): `SPUBLISH` goes to the primary that serves the channel's
 * slot and travels only within its shard, where classic `PUBLISH` is broadcast to every node over the cluster bus
 * (its cost grows with the cluster). Each subscription holds one connection of its own to that primary.
 *
 * A subscription never stays silently deaf: when its connection is lost, when Redis unsubscribes it (the slot left
 * the node), or when a refreshed slot map shows another primary for the slot (a failover), it drops the connection
 * and subscribes again on the slot's primary now, with a capped backoff, for ever; once subscribed again it reports a
 * gap (`onGap`), since messages published meanwhile are lost. `check()` is called after every refresh of the slot map.
 *
 * @param source - The Cluster backend's slot map, connections and publish.
 * @example
 * ```ts
 * const pubsub = clusterPubSub(source);
 * const stop = await pubsub.subscribe('app:invalidations', console.log, () => console.warn('messages may be lost'));
 * ```
 */
export function clusterPubSub(source: ClusterPubSubSource): PubSub & { check(): void; close(): void } {
  const subscriptions = new Set<ShardSubscription>();
  // A safety net under the events that move a subscription (a lost connection, Redis unsubscribing it, a refresh
  // after MOVED): a process that sends no command to the slot learns of a failover nobody told it about at the next
  // look at the slot map, so a subscription is never deaf for longer than this.
  let looking: ReturnType<typeof setInterval> | undefined;
  const watch = (): void => {
    if (subscriptions.size > 0 && looking === undefined) {
      looking = setInterval(() => source.refresh(), SLOT_MAP_LOOK_MS);
      looking.unref();
    } else if (subscriptions.size === 0 && looking !== undefined) {
      clearInterval(looking);
      looking = undefined;
    }
  };
  return {
    publish: (channel, message) => source.publish(channel, message),
    async subscribe(channel, onMessage, onGap) {
      const subscription = new ShardSubscription(source, channel, onMessage, onGap);
      subscriptions.add(subscription);
      watch();
      // The first attempt is awaited (a stream usually hears everything from its start); a failed one goes on in
      // the background, and its late success is a gap.
      await subscription.settle();
      if (subscription.unsupported !== undefined) {
        // Redis before 7 has no sharded pub/sub: retrying would never succeed, and nobody would know.
        subscriptions.delete(subscription);
        subscription.close();
        watch();
        throw subscription.unsupported;
      }
      subscription.started();
      return async () => {
        subscriptions.delete(subscription);
        subscription.close();
        watch();
      };
    },
    check() {
      for (const subscription of subscriptions) void subscription.settle();
    },
    close() {
      for (const subscription of subscriptions) subscription.close();
      subscriptions.clear();
      watch();
    },
  };
}

/** One channel's subscription, kept on the primary that serves its slot. */
class ShardSubscription {
  private readonly slot: number;
  private connection: ShardSubscriber | undefined;
  /** The primary `connection` listens on. */
  private home: string | undefined;
  /** Messages may have been published that this subscription did not hear: told as a gap once it listens again. */
  private missed = false;
  private running: Promise<void> | undefined;
  private again = false;
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** The server's refusal of `SSUBSCRIBE` as an unknown command (Redis before 7), once met. */
  unsupported: Error | undefined;

  constructor(
    private readonly source: ClusterPubSubSource,
    private readonly channel: string,
    private readonly onMessage: (message: string) => void,
    private readonly onGap: () => void,
  ) {
    this.slot = keySlot(channel);
  }

  /** After the first attempt: a subscription that is not listening yet may miss messages from now on. */
  started(): void {
    if (this.connection === undefined) this.missed = true;
  }

  /** Makes sure the subscription listens on the slot's primary now; one run at a time, a request meanwhile runs after. */
  settle(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.settle();
      }
    });
    return this.running;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.drop();
  }

  private async run(): Promise<void> {
    if (this.closed) return;
    const owner = this.source.owner(this.slot);
    if (this.connection !== undefined && owner === this.home) return;
    // Listening on a node that no longer serves the slot hears nothing published on the one that does.
    if (this.connection !== undefined) this.lost();
    if (owner === undefined) return this.later();
    let connection: ShardSubscriber | undefined;
    let abandoned = false;
    const subscribed = async (): Promise<ShardSubscriber> => {
      const made = await this.source.connection(this.slot);
      connection = made;
      // Made after the attempt timed out: nobody will use it.
      if (abandoned) throw new Error('abandoned');
      // Its errors are the store's to report, through the main client; a lost connection is replaced, not healed.
      made.on('error', () => this.lostOn(made));
      made.on('end', () => this.lostOn(made));
      // Redis unsubscribes a sharded channel's listeners when its slot leaves the node (failover, reshard): the client
      // emits `sharded-channel-moved` (the cluster client of @redis/client 5.12 waits for `server-sunsubscribe`, which
      // nothing emits, and so would stay deaf: the reason this module holds its subscriptions itself).
      made.on('sharded-channel-moved', () => this.lostOn(made));
      await made.connect();
      await made.sSubscribe(this.channel, (message) => {
        if (this.connection === made) this.onMessage(message);
      });
      return made;
    };
    try {
      connection = await withTimeout(subscribed(), this.source.connectTimeout);
    } catch (error) {
      if (error instanceof Error && /unknown command/i.test(error.message))
        this.unsupported = new Error(`the Redis Cluster has no sharded pub/sub (Redis 7 or later): ${error.message}`, { cause: error });
      // Not there (down, or no longer the slot's primary: MOVED): the map is refreshed and the subscription tried again.
      abandoned = true;
      if (connection !== undefined) destroy(connection);
      this.source.refresh();
      return this.later();
    }
    if (this.closed) return destroy(connection);
    this.connection = connection;
    this.home = owner;
    this.attempt = 0;
    if (this.missed) {
      this.missed = false;
      this.onGap();
    }
  }

  private lostOn(connection: ShardSubscriber): void {
    if (this.connection !== connection || this.closed) return;
    this.lost();
    this.source.refresh();
    this.later();
  }

  /** Drops the connection; what is published until the next one listens is missed. */
  private lost(): void {
    this.drop();
    this.missed = true;
  }

  private drop(): void {
    const connection = this.connection;
    this.connection = undefined;
    this.home = undefined;
    if (connection !== undefined) destroy(connection);
  }

  /** Tries again after a capped backoff. */
  private later(): void {
    if (this.closed || this.retry !== undefined) return;
    this.retry = setTimeout(
      () => {
        this.retry = undefined;
        void this.settle();
      },
      backoff(this.source.maxReconnectDelay)(this.attempt++),
    );
    this.retry.unref();
  }
}

/** Closes a connection at once; one already closed throws, which changes nothing. */
function destroy(connection: ShardSubscriber): void {
  try {
    connection.destroy();
  } catch {}
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
