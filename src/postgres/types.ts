import type { Caching, InvalidationTargets } from '../index.js';

/**
 * One committed row change of a mapped table, as the mapping function gets it. `row` is the row as it is after the
 * change (for a delete: as it was); `old` is the row before an update or delete. Both are complete only when the
 * table has `REPLICA IDENTITY FULL` (docs/postgres.md): otherwise `old` of an update is missing (or holds only the
 * old key, when the key changed), a delete's `row` holds only the primary key, an update's `row` lacks unchanged
 * TOAST values, and the listener reports a warning for the table. Reading a column PostgreSQL did not send throws,
 * so that the row falls back to a resync (`mapping-failed`) instead of mapping `undefined`.
 *
 * @example
 * ```ts
 * const posts = ({ op, row, old }: RowChange<Post>) => ({ tags: [`post:${row.id}`], users: [row.owner_id, old?.owner_id ?? row.owner_id] });
 * ```
 */
export type RowChange<Row> =
  | { readonly op: 'insert'; readonly table: string; readonly row: Row; readonly old: undefined }
  | { readonly op: 'update'; readonly table: string; readonly row: Row; readonly old: Row | undefined }
  | { readonly op: 'delete'; readonly table: string; readonly row: Row; readonly old: Row };

/**
 * What a change of one table invalidates: the targets `caching.invalidate` takes, or nothing (`undefined`/`null`).
 *
 * @example
 * ```ts
 * const posts: TableMapping<Post> = ({ row }) => ({ tags: [`post:${row.id}`], users: [row.owner_id] });
 * ```
 */
export type TableMapping<Row> = (change: RowChange<Row>) => InvalidationTargets | null | undefined;

/**
 * A mapping function per table, keyed by table name (`posts` for `public.posts`, `audit.events` for another
 * schema), typed from `Tables`: the row type of each table as `pg` decodes it (int4 as number, int8 and numeric as
 * string, timestamps as Date, json as parsed JSON).
 *
 * @example
 * ```ts
 * interface Tables { posts: { id: number; owner_id: string; title: string } }
 * const tables: TableMappings<Tables> = { posts: ({ row }) => ({ tags: [`post:${row.id}`] }) };
 * ```
 */
export type TableMappings<Tables> = { readonly [K in keyof Tables & string]?: TableMapping<Tables[K]> };

/**
 * How to reach PostgreSQL: a connection string, or the fields of a `pg` client's configuration (passed through).
 * The listener's role needs the REPLICATION attribute (docs/postgres.md "Setup").
 *
 * @example
 * ```ts
 * const connection: PostgresConnection = { host: '127.0.0.1', port: 5432, user: 'cache_listener', database: 'app' };
 * ```
 */
export type PostgresConnection =
  | string
  | {
      readonly connectionString?: string;
      readonly host?: string;
      readonly port?: number;
      readonly user?: string;
      readonly password?: string | (() => string | Promise<string>);
      readonly database?: string;
      /** `true`, or the options of `tls.connect` (`pg`'s `ssl`). */
      readonly ssl?: boolean | Readonly<Record<string, unknown>>;
      readonly connectionTimeoutMillis?: number;
    };

/** Why the listener invalidated everything its mapping covers instead of following rows. */
export type ResyncReason =
  /** The slot did not exist (first start, or dropped): changes before it was created cannot be read. */
  | 'slot-created'
  /** PostgreSQL removed WAL the slot still needed (`wal_status = lost`, past `max_slot_wal_keep_size`): the slot was made again. */
  | 'slot-lost'
  /** The mapping (tables, functions, `mappingVersion`) differs from the one that followed the slot before. */
  | 'mapping-changed'
  /** A mapping function threw, or returned targets `caching.invalidate` refused, for a row of the transaction. */
  | 'mapping-failed'
  /** A `TRUNCATE` of a mapped table: no rows to map. */
  | 'truncate'
  /** One transaction mapped to more than `maxTargets` distinct targets. */
  | 'too-many-targets'
  /** A mapped table the publication lacked (its earlier changes never arrived) was added to it while the listener ran. */
  | 'publication-changed';

/**
 * What the listener tells `onEvent`: connections, every applied transaction, every fallback to invalidating
 * everything, and problems with the slot.
 *
 * @example
 * ```ts
 * onEvent: (event) => { if (event.type === 'resync' || event.type === 'slot-lagging') log.warn(event); }
 * ```
 */
export type PostgresListenerEvent =
  /** Streaming from the slot started; `lagBytes`: WAL the slot had to catch up on when it did. */
  | { readonly type: 'connected'; readonly slot: string; readonly lagBytes: number }
  /** The replication connection ended or could not start; the listener tries again after `retryInMs`. */
  | { readonly type: 'disconnected'; readonly error: Error; readonly retryInMs: number }
  /**
   * A committed transaction's moves were applied, then acknowledged. `latencyMs`: from its commit on the server to
   * now, on this process's clock (meaningful when both clocks agree).
   */
  | {
      readonly type: 'applied';
      readonly lsn: string;
      readonly xid: number;
      readonly changes: number;
      readonly targets: InvalidationTargets;
      readonly latencyMs: number;
    }
  /** The listener invalidated `targets` (the `covers` option) instead of following rows. */
  | { readonly type: 'resync'; readonly reason: ResyncReason; readonly targets: InvalidationTargets; readonly detail?: string }
  /** `caching.invalidate` failed or could not write: nothing was acknowledged; the transaction is read again after a reconnect. */
  | { readonly type: 'apply-failed'; readonly lsn: string; readonly error?: unknown }
  /** The slot holds more WAL than `maxLagBytes` (or PostgreSQL says it will lose it soon: `walStatus`). */
  | { readonly type: 'slot-lagging'; readonly slot: string; readonly lagBytes: number; readonly walStatus: string }
  /** Something about the setup that weakens the guarantees (a table without REPLICA IDENTITY FULL, a mapped table the publication lacks). */
  | { readonly type: 'warning'; readonly message: string; readonly table?: string };

/**
 * Options of {@link createPostgresListener}.
 *
 * @example
 * ```ts
 * createPostgresListener<Tables>(caching, { connection: process.env.DATABASE_URL, tables: { posts: ({ row }) => ({ tags: [`post:${row.id}`] }) } });
 * ```
 */
export interface PostgresListenerOptions<Tables> {
  /** How to reach PostgreSQL, as a role with REPLICATION. */
  readonly connection: PostgresConnection;
  /** A mapping function per table. Tables without one are ignored, even when the publication has them. */
  readonly tables: TableMappings<Tables>;
  /**
   * The logical replication slot (made when missing): 1 to 63 lowercase letters, digits or underscores. One
   * listener follows a slot at a time; others wait for it.
   * @default 'trpc_caching'
   */
  readonly slot?: string;
  /**
   * The publication the slot reads (made `FOR TABLE` the mapped tables when missing, if the role may).
   * @default 'trpc_caching'
   */
  readonly publication?: string;
  /**
   * What "everything the mapping covers" is, invalidated on a resync (a new or lost slot, a changed mapping, a
   * truncate, a mapping that threw). Name the paths and tags your mapping can reach to keep the rest cached.
   * @default { all: true }
   */
  readonly covers?: InvalidationTargets;
  /**
   * Changes the mapping's fingerprint without a code change: bump it when a mapping function's meaning changes
   * through something it closes over (its source text is part of the fingerprint already).
   * @default ''
   */
  readonly mappingVersion?: string;
  /**
   * Distinct targets one transaction may move; a bigger one (a migration) invalidates `covers` instead.
   * @default 10_000
   */
  readonly maxTargets?: number;
  /**
   * WAL held by the slot above which `slot-lagging` is reported (checked every `slotCheckInterval`).
   * @default 268_435_456 (256 MiB)
   */
  readonly maxLagBytes?: number;
  /**
   * How often the slot's lag is checked, in ms.
   * @default 30_000
   */
  readonly slotCheckInterval?: number;
  /**
   * Longest wait between reconnection attempts, in ms (backoff from 100 ms).
   * @default 5_000
   */
  readonly maxRetryDelay?: number;
  /** Hears what the listener does. A throwing hook is ignored. */
  readonly onEvent?: (event: PostgresListenerEvent) => void;
}

/** The caching instance's part the listener uses: its public `invalidate`, and its store for the mapping fingerprint. */
export type InvalidatingCaching = Pick<Caching<never>, 'invalidate' | 'store'>;
