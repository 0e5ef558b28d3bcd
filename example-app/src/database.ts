// Which database the example runs on: sql.js in memory by default; PostgreSQL when DATABASE_URL (or the
// databaseUrl option) is set, with a listener that turns the database's own committed changes into invalidations.
import type { Caching } from 'trpc-caching';
import { openDatabase } from './db.js';
import type { NotesDb } from './notes-db.js';
import type { FollowOptions } from './postgres-listener.js';
import type { Context } from './trpc.js';
import { withoutPassword } from './urls.js';

/** Options of {@link openAppDatabase}. */
export interface AppDatabaseOptions {
  /** A PostgreSQL URL; default `DATABASE_URL` from the environment; none: sql.js in memory. */
  databaseUrl?: string | undefined;
  /** Delay of every data query in ms; default `DB_DELAY_MS`, else 50. */
  delayMs?: number | undefined;
  /** The Postgres listener's slot and mapping (tests). */
  follow?: FollowOptions | undefined;
}

/** The open database, its name for the banner, and how to follow its changes once the cache exists. */
export interface AppDatabase {
  db: NotesDb;
  /** `sql.js (in memory)` or the PostgreSQL URL without its password. */
  name: string;
  /** Starts following the database's committed changes (Postgres mode); answers how to stop. */
  follow(caching: Caching<Context>): Promise<{ close(): Promise<void> } | undefined>;
}

/** Opens the database the options or the environment ask for. */
export async function openAppDatabase(options: AppDatabaseOptions = {}): Promise<AppDatabase> {
  const delay = options.delayMs === undefined ? {} : { delayMs: options.delayMs };
  const url = options.databaseUrl ?? process.env.DATABASE_URL;
  if (!url) return { db: await openDatabase(delay), name: 'sql.js (in memory)', follow: async () => undefined };
  // Loaded only in Postgres mode: the embedded default never touches `pg`.
  const [{ openPostgresDatabase }, { followPostgres }] = await Promise.all([import('./db-postgres.js'), import('./postgres-listener.js')]);
  return {
    db: await openPostgresDatabase(url, delay),
    name: withoutPassword(url, 'postgres'),
    follow: (caching) => followPostgres(caching, url, options.follow),
  };
}
