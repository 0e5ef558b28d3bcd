import pg from 'pg';
import { clientConfig } from './replication.js';
import type { PostgresConnection } from './types.js';

/**
 * A replication slot as `pg_replication_slots` describes it.
 *
 * @example
 * ```ts
 * const state = await inspectSlot(process.env.DATABASE_URL, 'trpc_caching');
 * if (state.exists && !state.active && state.lagBytes > 1e9) console.warn('the cache listener is gone');
 * ```
 */
export interface SlotState {
  readonly exists: boolean;
  /** A listener streams from it now. */
  readonly active: boolean;
  /** `reserved`, `extended`, `unreserved` (about to lose WAL) or `lost` (changes were lost: the listener must resync). */
  readonly walStatus: string;
  /** WAL written since the slot's confirmed position: changes a listener has not applied yet (at most), in bytes. */
  readonly lagBytes: number;
  /** WAL the server keeps on disk for the slot (from its restart position to now), in bytes. */
  readonly retainedBytes: number;
  /** Its confirmed position (`0/0` when missing). */
  readonly confirmedLsn: string;
}

/** Runs `work` on a plain (non-replication) connection of its own. */
export async function withClient<T>(connection: PostgresConnection, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(clientConfig(connection, false));
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** {@link inspectSlot} on a connection already open. */
export async function slotState(client: pg.Client, slot: string): Promise<SlotState> {
  const { rows } = await client.query<{
    active: boolean;
    wal_status: string | null;
    lag: string | null;
    retained: string | null;
    confirmed: string | null;
  }>(
    `SELECT active, wal_status, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), confirmed_flush_lsn)::text AS lag,
            pg_wal_lsn_diff(pg_current_wal_insert_lsn(), restart_lsn)::text AS retained, confirmed_flush_lsn::text AS confirmed
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = rows[0];
  if (row === undefined) return { exists: false, active: false, walStatus: 'missing', lagBytes: 0, retainedBytes: 0, confirmedLsn: '0/0' };
  return {
    exists: true,
    active: row.active,
    walStatus: row.wal_status ?? 'lost',
    lagBytes: Math.max(0, Number(row.lag ?? 0)),
    retainedBytes: Math.max(0, Number(row.retained ?? 0)),
    confirmedLsn: row.confirmed ?? '0/0',
  };
}

/**
 * Reads a replication slot's state, from any process (a health check, a cron job): whether a listener follows it
 * and how much WAL it makes PostgreSQL keep. A slot nobody follows keeps WAL until it is dropped or, with
 * `max_slot_wal_keep_size` set, until PostgreSQL marks it lost.
 *
 * @example
 * ```ts
 * const { active, lagBytes, walStatus } = await inspectSlot('postgres://monitor@db/app', 'trpc_caching');
 * ```
 */
export function inspectSlot(connection: PostgresConnection, slot: string): Promise<SlotState> {
  return withClient(connection, (client) => slotState(client, slot));
}

/**
 * Drops a replication slot, releasing the WAL it holds. The next listener on it starts with a resync (it
 * invalidates everything its mapping covers). Fails while a listener streams from it.
 *
 * @example
 * ```ts
 * await dropSlot(process.env.DATABASE_URL, 'trpc_caching');
 * ```
 */
export async function dropSlot(connection: PostgresConnection, slot: string): Promise<boolean> {
  return withClient(connection, async (client) => {
    const { rowCount } = await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [
      slot,
    ]);
    return (rowCount ?? 0) > 0;
  });
}

/**
 * Makes sure the slot can stream: creates it when missing, and again when PostgreSQL lost WAL it needed. Says which,
 * since either way changes before now cannot be read from it. `beforeCreate` runs (and may refuse by throwing) just
 * before a slot is made.
 */
export async function ensureSlot(
  client: pg.Client,
  slot: string,
  beforeCreate: () => Promise<void> = async () => {},
): Promise<'ok' | 'slot-created' | 'slot-lost'> {
  const state = await slotState(client, slot);
  if (state.exists && state.walStatus !== 'lost') return 'ok';
  // Whatever made the slot unusable, the caller must be able to tell later that its resync is still owed.
  await beforeCreate();
  if (state.exists) await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
  await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  return state.exists ? 'slot-lost' : 'slot-created';
}

/** `schema.table` for a mapping key (`posts` is `public.posts`). */
export function qualified(table: string): { schema: string; name: string } {
  const dot = table.indexOf('.');
  return dot < 0 ? { schema: 'public', name: table } : { schema: table.slice(0, dot), name: table.slice(dot + 1) };
}

const ident = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * Makes the publication `FOR TABLE` the mapped tables when it is missing, and answers the mapped tables it lacks
 * (their changes would never arrive).
 */
export async function ensurePublication(client: pg.Client, publication: string, tables: readonly string[]): Promise<string[]> {
  const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  if (exists.rowCount === 0) {
    const list = tables.map((table) => {
      const { schema, name } = qualified(table);
      return `${ident(schema)}.${ident(name)}`;
    });
    await client.query(`CREATE PUBLICATION ${ident(publication)} FOR TABLE ${list.join(', ')}`);
  }
  const { rows } = await client.query<{ schemaname: string; tablename: string }>(
    'SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1',
    [publication],
  );
  const published = new Set(rows.map((row) => `${row.schemaname}.${row.tablename}`));
  return tables.filter((table) => {
    const { schema, name } = qualified(table);
    return !published.has(`${schema}.${name}`);
  });
}
