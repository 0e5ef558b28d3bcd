import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, stopProcess, waitForServer } from './redis.js';

/** Where Debian keeps the server binaries (initdb and postgres are not on PATH there). */
function binDir(): string {
  for (const dir of ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin']) {
    if (existsSync(join(dir, 'postgres'))) return dir;
  }
  return '/usr/local/bin';
}

/**
 * initdb and postgres refuse to run as root: as root, the cluster belongs to Debian's `postgres` user (or `nobody`)
 * and both run as that user through Node's own setuid; as anyone else, as themselves.
 */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      // No such user: try the next.
    }
  }
  throw new Error('running as root with neither a postgres nor a nobody user to run PostgreSQL as');
}

/** A PostgreSQL server process a test talks to on connections of its own. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:{port}/postgres` (trust authentication on loopback). */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly process: ChildProcess;
  /** Runs SQL on a fresh connection and returns the rows. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Runs SQL through the `psql` binary, as an operator would (outside any app). */
  psql(sql: string): string;
  /** Stops the server: a fast shutdown (SIGINT), or SIGKILL when `hard`. Keeps its data directory. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  dispose(): Promise<void>;
}

/** One `SELECT 1` on a fresh connection. */
async function pingPostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A throwaway cluster for one test file: Debian's `initdb` in a temporary directory, `postgres` on a free loopback
 * port with `wal_level = logical` (logical replication slots need it), no fsync (a commit is written, not synced:
 * the tests never crash the machine), its socket in its own directory.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir();
  const user = runAs();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'trpc-caching-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const ids = user ? { uid: user.uid, gid: user.gid } : {};
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], {
    ...ids,
    stdio: 'ignore',
  });
  const args = ['-D', data, '-p', String(port), '-k', dir, '-h', '127.0.0.1'];
  const settings = {
    wal_level: 'logical',
    max_wal_senders: '10',
    max_replication_slots: '10',
    fsync: 'off',
    full_page_writes: 'off',
    shared_buffers: '32MB',
    max_connections: '60',
    log_min_messages: 'fatal',
  };
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
  const launch = () => spawn(join(bin, 'postgres'), args, { ...ids, stdio: 'ignore' });
  let child = launch();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitForServer('postgres', child, () => pingPostgres(url));

  const server: PostgresServer = {
    url,
    port,
    dir,
    get process() {
      return child;
    },
    async query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []) {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      await client.connect();
      try {
        return (await client.query(sql, params)).rows as R[];
      } finally {
        await client.end();
      }
    },
    psql(sql) {
      return execFileSync(
        'psql',
        ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql],
        {
          encoding: 'utf8',
        },
      );
    },
    stop: (hard = false) => stopProcess(child, hard ? 'SIGKILL' : 'SIGINT'),
    async restart() {
      child = launch();
      await waitForServer('postgres', child, () => pingPostgres(url));
    },
    async dispose() {
      await server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
