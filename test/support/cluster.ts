import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@redis/client';
import { commandStats, freePort, type RedisEndpoint, serverArgs, stopProcess } from './redis.js';

const run = promisify(execFile);

/** One node of a {@link RedisCluster}. */
export interface ClusterNode extends RedisEndpoint {
  /** The node's cluster id (`CLUSTER MYID`). */
  readonly id: string;
  readonly process: ChildProcess;
  /** `master` or `slave`, as this node sees itself now. */
  role(): Promise<string>;
  /** Kills the node (SIGKILL): no goodbye to its peers, as a crashed host. */
  kill(): Promise<void>;
  /** Starts a killed node again with its cluster config: it rejoins (a replaced primary, as a replica). */
  restart(): Promise<void>;
}

/** A Redis Cluster of real `redis-server` processes on loopback ports, for one test file. */
export interface RedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** What `createRedisStore({ cluster })` takes: every node, as a deployment would list them. */
  readonly rootNodes: Array<{ url: string }>;
  /** The node that serves a slot now, as the first live node sees it. */
  ownerOf(slot: number): Promise<ClusterNode>;
  /** The primaries, as the first live node sees them now. */
  masters(): Promise<ClusterNode[]>;
  /** Empties every primary. */
  flush(): Promise<void>;
  /** Resets INFO commandstats on every node. */
  resetStats(): Promise<void>;
  /** Moves `slots` slots (default: all it serves) from one primary to another with `redis-cli --cluster reshard`, keys and all. */
  reshard(from: ClusterNode, to: ClusterNode, slots?: number): Promise<void>;
  /** Waits until every live node reports `cluster_state:ok` and agrees on who serves every slot. */
  settled(deadlineMs?: number): Promise<void>;
  /** Kills every node and removes their directories. */
  dispose(): Promise<void>;
}

async function send(url: string, args: string[]): Promise<unknown> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 5_000 } });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.sendCommand(args);
  } finally {
    client.destroy();
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting until ${what}${last ? `: ${String(last)}` : ''}`);
}

/**
 * Starts a Redis Cluster: `masters` primaries, each with `replicasPerMaster` replicas, on free loopback ports,
 * joined by `redis-cli --cluster create --cluster-yes`. `cluster-node-timeout` is 1 s, so that a killed primary's
 * replica takes over within a few seconds. `binary` may be `valkey-server` (with `valkey-cli`).
 */
export async function startCluster(
  options: { masters?: number; replicasPerMaster?: number; binary?: 'redis-server' | 'valkey-server' } = {},
): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const binary = options.binary ?? 'redis-server';
  const cli = binary === 'valkey-server' ? 'valkey-cli' : 'redis-cli';
  const count = masters * (1 + replicas);
  const dir = mkdtempSync(join(tmpdir(), 'trpc-caching-cluster-'));
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    // The cluster bus listens on port + 10000: both must be free, and distinct from the other nodes'.
    if (port + 10_000 < 65_536 && !ports.includes(port) && !ports.includes(port + 10_000)) ports.push(port);
  }
  const launch = (port: number) =>
    spawn(
      binary,
      serverArgs(port, dir, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '1000',
        // A replica syncs at once (diskless sync waits 5 s by default): one that never synced can never take over.
        '--repl-diskless-sync-delay',
        '0',
        '--appendonly',
        'no',
      ]),
      { stdio: 'ignore' },
    );
  const children = ports.map(launch);
  const urls = ports.map((port) => `redis://127.0.0.1:${port}`);
  const stop = () => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(urls.map((url) => waitFor(`${url} answers`, async () => (await send(url, ['PING'])) === 'PONG', 30_000)));
    await run(
      cli,
      ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
      {
        timeout: 60_000,
      },
    );
  } catch (error) {
    stop();
    throw error;
  }
  const ids = await Promise.all(urls.map(async (url) => String(await send(url, ['CLUSTER', 'MYID']))));
  const alive = new Set(ports);
  const nodes: ClusterNode[] = ports.map((port, i) => {
    const url = urls[i] as string;
    let child = children[i] as ChildProcess;
    const command = (...args: string[]) => send(url, args);
    return {
      port,
      url,
      id: ids[i] as string,
      get process() {
        return child;
      },
      command,
      commandCounts: () => commandStats({ command }),
      async role() {
        const reply = (await send(url, ['ROLE'])) as unknown[];
        return String(reply[0]);
      },
      async kill() {
        alive.delete(port);
        await stopProcess(child, 'SIGKILL');
      },
      async restart() {
        child = launch(port);
        children[i] = child;
        await waitFor(`${url} answers again`, async () => (await send(url, ['PING'])) === 'PONG', 30_000);
        alive.add(port);
      },
    };
  });
  const live = () => nodes.filter((node) => alive.has(node.port));
  const byPort = (port: number) => nodes.find((node) => node.port === port);

  /** CLUSTER SLOTS of the first live node: slot ranges and the port of each range's primary. */
  const slotTable = async (): Promise<Array<{ from: number; to: number; port: number }>> => {
    const first = live()[0];
    if (first === undefined) throw new Error('no live node');
    const reply = (await first.command('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
    return reply.map(([from, to, master]) => ({ from: Number(from), to: Number(to), port: Number(master[1]) }));
  };

  const cluster: RedisCluster = {
    nodes,
    rootNodes: urls.map((url) => ({ url })),
    async ownerOf(slot) {
      const range = (await slotTable()).find((r) => r.from <= slot && slot <= r.to);
      const node = range === undefined ? undefined : byPort(range.port);
      if (node === undefined) throw new Error(`no node serves slot ${slot}`);
      return node;
    },
    async masters() {
      const ports = new Set((await slotTable()).map((r) => r.port));
      return nodes.filter((node) => ports.has(node.port));
    },
    async flush() {
      for (const node of await cluster.masters()) await node.command('FLUSHALL');
    },
    async resetStats() {
      await Promise.all(live().map((node) => node.command('CONFIG', 'RESETSTAT')));
    },
    async reshard(from, to, slots) {
      const served = (await slotTable()).filter((range) => range.port === from.port).reduce((n, r) => n + r.to - r.from + 1, 0);
      await run(
        cli,
        [
          '--cluster',
          'reshard',
          `127.0.0.1:${from.port}`,
          '--cluster-from',
          from.id,
          '--cluster-to',
          to.id,
          '--cluster-slots',
          String(slots ?? served),
          '--cluster-yes',
        ],
        { timeout: 60_000 },
      );
    },
    async settled(deadlineMs = 30_000) {
      await waitFor(
        'every live node reports cluster_state:ok and the same slot owners',
        async () => {
          const views = await Promise.all(
            live().map(async (node) => {
              const info = String(await node.command('CLUSTER', 'INFO'));
              if (!info.includes('cluster_state:ok')) return undefined;
              const reply = (await node.command('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
              return JSON.stringify(reply.map(([a, b, m]) => [a, b, m[1]]).sort((x, y) => Number(x[0]) - Number(y[0])));
            }),
          );
          return views.every((view) => view !== undefined && view === views[0]);
        },
        deadlineMs,
      );
    },
    async dispose() {
      stop();
    },
  };
  await cluster.settled();
  await waitFor(
    'every replica is in sync with its primary',
    async () => {
      const roles = await Promise.all(nodes.map(async (node) => String(await node.command('INFO', 'replication'))));
      return roles.filter((info) => info.includes('role:slave') && info.includes('master_link_status:up')).length === masters * replicas;
    },
    30_000,
  );
  return cluster;
}

/** Whether a server binary is on the PATH (`valkey-server` is not in Debian 12). */
export function hasBinary(name: string): boolean {
  const paths = (process.env.PATH ?? '').split(':');
  return paths.some((dir) => dir !== '' && existsSync(join(dir, name)));
}

/** The server binaries the Redis store tests run against: redis-server, and valkey-server where installed. */
export const SERVERS: ReadonlyArray<{ readonly binary: 'redis-server' | 'valkey-server'; readonly skip: string | undefined }> = [
  { binary: 'redis-server', skip: undefined },
  {
    binary: 'valkey-server',
    skip:
      hasBinary('valkey-server') && hasBinary('valkey-cli')
        ? undefined
        : 'valkey-server is not installed (Debian 12 has no package for it)',
  },
];

/** One standalone server of a given binary on a free loopback port, for one test file. */
export interface StandaloneServer extends RedisEndpoint {
  /** Stops the server (SIGKILL), keeping its port for {@link StandaloneServer.restart}. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** Starts `binary` (redis-server or valkey-server) on a free loopback port, without persistence. */
export async function startStandalone(binary: 'redis-server' | 'valkey-server' = 'redis-server'): Promise<StandaloneServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'trpc-caching-standalone-'));
  const url = `redis://127.0.0.1:${port}`;
  const args = serverArgs(port, dir, ['--appendonly', 'no']);
  let child = spawn(binary, args, { stdio: 'ignore' });
  const ready = () => waitFor(`${binary} on ${port} answers`, async () => (await send(url, ['PING'])) === 'PONG', 30_000);
  await ready();
  const server: StandaloneServer = {
    url,
    port,
    command: (...command: string[]) => send(url, command),
    commandCounts: () => commandStats(server),
    stop: () => stopProcess(child, 'SIGKILL'),
    async restart() {
      child = spawn(binary, args, { stdio: 'ignore' });
      await ready();
    },
    async dispose() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
