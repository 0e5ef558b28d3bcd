import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';

/** A port that was free a moment ago, on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A Redis server process a test talks to directly, on connections of its own. */
export interface RedisEndpoint {
  readonly url: string;
  readonly port: number;
  /** Sends a raw command on a fresh connection and returns the reply. */
  command(...args: string[]): Promise<unknown>;
  /** Calls per command name from INFO commandstats (e.g. `{ mget: 3, set: 1 }`). */
  commandCounts(): Promise<Record<string, number>>;
}

/** Calls per command name from a server's INFO commandstats, for {@link RedisEndpoint.commandCounts}. */
export async function commandStats(server: Pick<RedisEndpoint, 'command'>): Promise<Record<string, number>> {
  const info = String(await server.command('INFO', 'commandstats'));
  const counts: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1] as string] = Number(match[2]);
  return counts;
}

/**
 * `redis-server` arguments for a test's server: its port on loopback only, its own directory, no snapshots, warnings
 * only in the log; `extra` adds to them.
 */
export function serverArgs(port: number, dir: string, extra: readonly string[]): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--loglevel', 'warning', ...extra];
}

/** Sends `signal` to a server process and resolves once it has exited (at once when it already had). */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

export interface RedisServer extends RedisEndpoint {
  readonly dir: string;
  readonly process: ChildProcess;
  /** Resets the counters of INFO commandstats. */
  resetStats(): Promise<void>;
  /** Stops the server (SIGKILL when `hard`), keeping its directory. */
  stop(hard?: boolean): Promise<void>;
  /** Starts the server again on the same port and directory (AOF data kept when enabled). */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  dispose(): Promise<void>;
}

/**
 * Waits until a server started as `child` answers `probe` (which connects, asks, and closes), trying every 50 ms for at
 * most `deadlineMs`; fails at once when the process exits. Shared by every server the tests start.
 *
 * @example
 * ```ts
 * await waitForServer('postgres', child, () => pingPostgres(url));
 * ```
 */
export async function waitForServer(name: string, child: ChildProcess, probe: () => Promise<void>, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  let lastError: unknown;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`);
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`${name} did not become ready: ${String(lastError)}`);
}

/** One PING on a fresh connection that never reconnects. */
async function pingRedis(url: string): Promise<void> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    await client.close();
  } catch (error) {
    if (client.isOpen) client.destroy();
    throw error;
  }
}

/**
 * Starts Debian's `redis-server` on a free loopback port with its own
 * directory, for one test file. `appendonly` keeps data across a restart.
 */
export async function startRedis(options: { appendonly?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'trpc-caching-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  const args = serverArgs(port, dir, [
    '--appendonly',
    options.appendonly ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--protected-mode',
    'yes',
  ]);
  const launch = () => spawn('redis-server', args, { stdio: 'ignore' });
  let child = launch();
  await waitForServer('redis-server', child, () => pingRedis(url));

  const server: RedisServer = {
    url,
    port,
    dir,
    get process() {
      return child;
    },
    async command(...command: string[]) {
      const client = createClient({ url, socket: { reconnectStrategy: false } });
      client.on('error', () => {});
      await client.connect();
      try {
        return await client.sendCommand(command);
      } finally {
        await client.close();
      }
    },
    commandCounts: () => commandStats(server),
    async resetStats() {
      await server.command('CONFIG', 'RESETSTAT');
    },
    stop: (hard = false) => stopProcess(child, hard ? 'SIGKILL' : 'SIGTERM'),
    async restart() {
      child = launch();
      await waitForServer('redis-server', child, () => pingRedis(url));
    },
    async dispose() {
      await server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
