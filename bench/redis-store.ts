/**
 * `createRedisStore` measured, in one run: a hit through it against one raw GET of the entry (the limit on
 * one server) and against README's former recipe (`createRawStringStore(new KeyvRedis(client))`); a hit on a
 * 3-primary Redis Cluster against a single-node hit, with the hash-tag key layout and without it; and the
 * Redis commands each hit sends, counted on every node.
 *
 * Called by bench/run.ts (its rows go to docs/benchmarks.md); `tsx bench/redis-store.ts` runs it alone and
 * prints the tables. Starts its own redis-server and Redis Cluster on free loopback ports.
 */
import KeyvRedis, { createClient, createCluster } from '@keyv/redis';
import { createRawStringStore } from '../src/index.js';
import { createRedisStore, type RedisStore } from '../src/stores/redis/index.js';
import { type RedisCluster, startCluster } from '../test/support/cluster.js';
import { commandStats, type RedisServer, startRedis } from '../test/support/redis.js';
import { createBenchApp, keyvOnly, storeConnected } from './apps.js';
import { INPUT } from './fixtures.js';
import { measure, roundsFromEnv } from './measure.js';
import { type InProcessResults, micros, ratio, runAlone, withRows } from './report.js';

const { rounds, time } = roundsFromEnv();
const UNUSED = 'not used by the Redis store benchmark';

/** Commands per call of `run` (50 calls), summed over `nodes`, as `2 MGET`. */
async function commandsPer(
  nodes: ReadonlyArray<{ command(...args: string[]): Promise<unknown> }>,
  run: () => Promise<unknown>,
): Promise<string> {
  const times = 50;
  await Promise.all(nodes.map((node) => node.command('CONFIG', 'RESETSTAT')));
  for (let i = 0; i < times; i++) await run();
  const totals: Record<string, number> = {};
  for (const node of nodes) {
    for (const [name, calls] of Object.entries(await commandStats(node))) {
      if (/^(config|info|hello|client|ping|select|auth|cluster)/.test(name)) continue;
      totals[name] = (totals[name] ?? 0) + calls;
    }
  }
  const parts = Object.entries(totals).map(([name, calls]) => `${Number((calls / times).toFixed(2))} ${name.toUpperCase()}`);
  return parts.length === 0 ? '0' : parts.join(' + ');
}

async function redisStoreResults(): Promise<InProcessResults> {
  let redis: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  try {
    [redis, cluster] = await Promise.all([startRedis(), startCluster({ masters: 3 })]);
    const single = createRedisStore({ url: redis.url });
    const former = createRawStringStore(new KeyvRedis(redis.url));
    const onCluster = createRedisStore({ cluster: { rootNodes: cluster.rootNodes } });
    const clusterPlain = createRedisStore({ cluster: { rootNodes: cluster.rootNodes }, hashTags: false });
    const stores: RedisStore[] = [single, onCluster, clusterPlain];
    for (const store of stores) closers.push(() => store.close());
    closers.push(() => former.disconnect());
    await Promise.all([...stores, former].map((store) => storeConnected(store, 1_000)));
    // The same client library the store uses, for the limits: one GET of the entry a hit reads.
    const raw = createClient({ url: redis.url });
    const rawCluster = createCluster({ rootNodes: cluster.rootNodes });
    await Promise.all([raw.connect(), rawCluster.connect()]);
    closers.push(
      () => raw.close(),
      () => rawCluster.close(),
    );

    // Separate prefixes: the cluster stores with and without hash tags must not read each other's entries.
    const apps = {
      single: createBenchApp(keyvOnly(single, UNUSED)),
      former: createBenchApp(keyvOnly(former, UNUSED), { prefix: 'former' }),
      cluster: createBenchApp(keyvOnly(onCluster, UNUSED)),
      clusterPlain: createBenchApp(keyvOnly(clusterPlain, UNUSED), { prefix: 'plain' }),
    };
    const callers = Object.fromEntries(Object.entries(apps).map(([name, app]) => [name, app.caller('reader')])) as Record<
      keyof typeof apps,
      ReturnType<(typeof apps)['single']['caller']>
    >;
    for (const caller of Object.values(callers)) for (let i = 0; i < 3; i++) await caller.cached(INPUT);
    const entryKey = ((await redis.command('KEYS', 'trpc-caching:q:cached:*')) as string[])[0];
    const clusterEntry = (
      await Promise.all(cluster.nodes.map(async (node) => (await node.command('KEYS', 'trpc-caching:q:cached:*')) as string[]))
    ).flat()[0];
    if (entryKey === undefined || clusterEntry === undefined) throw new Error('no cached entry to GET');

    const m = await measure(
      {
        rawGet: () => raw.get(entryKey),
        single: () => callers.single.cached(INPUT),
        former: () => callers.former.cached(INPUT),
        clusterRawGet: () => rawCluster.get(clusterEntry),
        cluster: () => callers.cluster.cached(INPUT),
        clusterPlain: () => callers.clusterPlain.cached(INPUT),
      },
      { rounds, time },
    );
    const commands = {
      rawGet: await commandsPer([redis], () => raw.get(entryKey)),
      single: await commandsPer([redis], () => callers.single.cached(INPUT)),
      former: await commandsPer([redis], () => callers.former.cached(INPUT)),
      clusterRawGet: await commandsPer(cluster.nodes, () => rawCluster.get(clusterEntry)),
      cluster: await commandsPer(cluster.nodes, () => callers.cluster.cached(INPUT)),
      clusterPlain: await commandsPer(cluster.nodes, () => callers.clusterPlain.cached(INPUT)),
    };
    for (const [name, app] of Object.entries(apps)) {
      if (app.errors.length > 0) console.warn(`cache faults during the ${name} run: ${app.errors[0]?.message}`);
    }
    const at = (name: keyof typeof m) => {
      const value = m[name];
      if (value === undefined) throw new Error(`no measurement for ${String(name)}`);
      return value;
    };
    const row = (label: string, name: string, base: string) => [
      label,
      micros(at(name).median),
      ratio(at(name).median / at(base).median),
      `±${Math.round(at(name).spread * 50)}%`,
      commands[name as keyof typeof commands],
    ];
    const hitX = at('single').median / at('rawGet').median;
    const clusterX = at('cluster').median / at('single').median;
    return {
      tables: [
        {
          title: 'createRedisStore hit (trpc-caching/redis), one redis-server on loopback',
          columns: ['procedure', 'median µs', 'x raw GET', 'spread', 'Redis commands per call'],
          rows: [
            row('raw GET of the entry (the limit)', 'rawGet', 'rawGet'),
            row('trpc-caching hit, createRedisStore', 'single', 'rawGet'),
            row('trpc-caching hit, createRawStringStore(new KeyvRedis(url))', 'former', 'rawGet'),
          ],
        },
        {
          title: 'Redis Cluster hit (3 primaries on loopback), against a single-node hit',
          columns: ['procedure', 'median µs', 'x single-node hit', 'spread', 'commands per call, all nodes'],
          rows: [
            row('trpc-caching hit, one redis-server (the baseline)', 'single', 'single'),
            row('raw GET of the entry on the Cluster', 'clusterRawGet', 'single'),
            row('trpc-caching hit on the Cluster, hash-tag layout (default)', 'cluster', 'single'),
            row('trpc-caching hit on the Cluster, plain layout (hashTags: false)', 'clusterPlain', 'single'),
          ],
          note:
            'A Cluster hit sends one MGET per slot its keys fall in, all at once: with hash tags the entry and its user version share a slot ' +
            'and the versions every hit reads (all, paths, anonymous) share another, so a hit is 2 MGETs on at most 2 nodes; without, one per key.',
        },
      ],
      bars: [],
      groups: {},
      targets: [
        { goal: 'createRedisStore hit: one store command', measured: commands.single, met: commands.single === '1 MGET' },
        { goal: 'Cluster hit: one round of 2 commands (hash-tag layout)', measured: commands.cluster, met: commands.cluster === '2 MGET' },
      ],
      headline: {
        redisStoreHitX: ratio(hitX),
        redisStoreVsFormerX: ratio(at('single').median / at('former').median),
        clusterHitX: ratio(clusterX),
        clusterPlainHitX: ratio(at('clusterPlain').median / at('single').median),
        clusterHitCommands: commands.cluster,
      },
    };
  } finally {
    for (const close of closers) await close().catch(() => {});
    await Promise.all([redis?.dispose(), cluster?.dispose()]);
  }
}

/** Adds the Redis store's tables, targets and headline figures to bench/run.ts's results. */
export async function withRedisStoreRows(results: InProcessResults): Promise<InProcessResults> {
  return withRows(results, await redisStoreResults());
}

await runAlone(import.meta.url, redisStoreResults);
