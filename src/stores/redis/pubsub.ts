import type { Keyv } from 'keyv';
import { capabilitiesOf, type PubSub } from '../capabilities.js';

/** The part of a `@redis/client` client (single node or cluster) that publish/subscribe uses. */
export interface RedisPubSubClient {
  publish(channel: string, message: string): Promise<unknown>;
  duplicate(): RedisSubscriberClient;
}

/** A dedicated subscriber connection, as `duplicate()` gives it. */
export interface RedisSubscriberClient {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  close?(): Promise<unknown>;
  destroy?(): void;
}

/**
 * Publish/subscribe over a `@redis/client` client: `PUBLISH` on it, `SUBSCRIBE` on one duplicate per
 * subscription (a subscribed connection can send nothing else). `@redis/client` subscribes again by itself after
 * a reconnect; messages published while it was away are lost, so each `ready` after the first is a gap.
 *
 * @param client - A connected client, or a function that resolves to one (connecting it on first use).
 * @example
 * ```ts
 * registerCapabilities(store, { pubsub: redisPubSub(client) });
 * ```
 */
export function redisPubSub(client: RedisPubSubClient | (() => Promise<RedisPubSubClient>)): PubSub {
  const connected = typeof client === 'function' ? client : () => Promise.resolve(client);
  return {
    async publish(channel, message) {
      await (await connected()).publish(channel, message);
    },
    async subscribe(channel, onMessage, onGap) {
      const subscriber = (await connected()).duplicate();
      let readyBefore = false;
      // The subscriber heals by reconnecting; its errors are the store's to report, through the main client.
      subscriber.on('error', () => {});
      subscriber.on('ready', () => {
        if (readyBefore) onGap();
        readyBefore = true;
      });
      await subscriber.connect();
      await subscriber.subscribe(channel, (message) => onMessage(message));
      return async () => {
        try {
          await subscriber.close?.();
        } catch {
          subscriber.destroy?.();
        }
      };
    },
  };
}

/** What `@keyv/redis`'s adapter exposes: its client, connected on demand. */
interface KeyvRedisLike {
  getClient(): Promise<RedisPubSubClient>;
  client: unknown;
}

function isKeyvRedis(store: unknown): store is KeyvRedisLike {
  if (typeof store !== 'object' || store === null) return false;
  const candidate = store as Partial<KeyvRedisLike>;
  if (typeof candidate.getClient !== 'function') return false;
  const client = candidate.client as Partial<RedisPubSubClient> | undefined;
  return typeof client?.publish === 'function' && typeof client.duplicate === 'function';
}

/**
 * The publish/subscribe of a Keyv's server: what a trpc-caching store factory registered, else that of a
 * `@keyv/redis` adapter (as `new Keyv(new KeyvRedis(…))` or `createRawStringStore` hold it); undefined for any
 * other store (moves then reach only this process's streams).
 */
export function pubSubOf(keyv: Keyv): PubSub | undefined {
  const registered = capabilitiesOf(keyv).pubsub;
  if (registered !== undefined) return registered;
  const store: unknown = keyv.store;
  return isKeyvRedis(store) ? redisPubSub(() => store.getClient()) : undefined;
}
