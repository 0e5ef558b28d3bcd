/**
 * Why a Keyv adapter cannot serve trpc-caching because it talks to a Redis Cluster, or undefined when it does not.
 *
 * `@keyv/redis` on a Cluster client sends each write of several keys as one `MULTI` to the node its slot map names,
 * and a `MULTI` does not follow `MOVED`: after a reshard or a failover its version moves fail while its slot map is
 * stale, and other processes serve data from before the invalidation. `createRedisStore({ cluster })` writes each
 * key on its own, redirected, and counts a move as written only once every key landed.
 *
 * Recognised by shape, not class (the app may have its own copy of the client library): node-redis 5's cluster
 * client has `slots`, `masters` and `nodeClient`; ioredis and iovalkey mark theirs `isCluster`.
 *
 * @example
 * ```ts
 * clusterRefusal(new KeyvRedis(createCluster({ rootNodes }))); // 'a Redis Cluster client: ...'
 * ```
 */
export function clusterRefusal(adapter: unknown): string | undefined {
  if (typeof adapter !== 'object' || adapter === null) return undefined;
  const holder = adapter as { isCluster?: unknown; client?: unknown; redis?: unknown };
  let cluster = isClusterClient(holder.client) || isClusterClient(holder.redis);
  if (!cluster && typeof holder.isCluster === 'function') {
    try {
      cluster = holder.isCluster() === true;
    } catch {
      // An adapter whose check throws is judged by its client alone.
    }
  }
  if (!cluster) return undefined;
  return (
    'got a Keyv adapter on a Redis Cluster client: it sends writes of several keys as one MULTI that does not follow ' +
    'MOVED, so after a reshard or failover invalidations are lost and other processes serve data from before them; ' +
    "use createRedisStore({ cluster: { rootNodes } }) from 'trpc-caching/redis' as the store instead"
  );
}

function isClusterClient(client: unknown): boolean {
  if (typeof client !== 'object' || client === null) return false;
  const candidate = client as { slots?: unknown; masters?: unknown; nodeClient?: unknown; isCluster?: unknown };
  if (candidate.isCluster === true) return true;
  return candidate.slots !== undefined && Array.isArray(candidate.masters) && typeof candidate.nodeClient === 'function';
}
