import type { InvalidationTargets } from '../index.js';
import { createApplier } from './apply.js';
import { mappingFingerprint } from './fingerprint.js';
import { formatLsn, parseLsn } from './lsn.js';
import { openReplication, type ReplicationStream } from './replication.js';
import { ensurePublication, ensureSlot, qualified, slotState, withClient } from './slot.js';
import type { InvalidatingCaching, PostgresListenerEvent, PostgresListenerOptions, ResyncReason, TableMapping } from './types.js';

/**
 * A running listener; see {@link createPostgresListener}.
 *
 * @example
 * ```ts
 * await listener.ready;
 * await listener.caughtUp(); // every change committed before this line is invalidated
 * await listener.close();
 * ```
 */
export interface PostgresListener {
  /** Resolves once the listener streams from its slot for the first time (after its resync, if one was due). */
  readonly ready: Promise<void>;
  /** Whether it streams now. */
  readonly connected: boolean;
  /** The slot position up to which every change is applied and acknowledged (`0/0` before the first session). */
  readonly confirmedLsn: string;
  /**
   * Resolves once every change committed before the call has been applied (its invalidation returned); rejects
   * after `timeoutMs`.
   * @default timeoutMs 30_000
   */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** Stops streaming. The slot stays, keeping WAL until a listener resumes from it or it is dropped (`dropSlot`). */
  close(): Promise<void>;
}

type Mapper = TableMapping<Record<string, unknown>>;
/** Stored instead of the fingerprint while a new slot's resync is owed: never equal to a fingerprint (hex). */
const RESYNC_OWED = 'resync-owed';

/**
 * Follows PostgreSQL's committed changes through logical replication (pgoutput) and moves the versions the
 * mapping names through `caching.invalidate`, the same path as a mutation: every process, near cache and live
 * stream sees them. Run it in one process per slot (a second one waits, and takes over when the first stops).
 *
 * Nothing is missed: each transaction's moves are applied together after its COMMIT, then acknowledged; the slot
 * keeps whatever is not, and the next session (after a disconnect, a restart of either side, a failed
 * invalidation) reads it again. Where the slot cannot tell (it was just made, dropped, lost its WAL, or the
 * mapping changed) the listener invalidates `covers` and reports a `resync`.
 *
 * @example
 * ```ts
 * interface Tables { posts: { id: number; owner_id: string } }
 * const listener = createPostgresListener<Tables>(caching, {
 *   connection: process.env.DATABASE_URL,
 *   tables: { posts: ({ row, old }) => ({ tags: [`post:${row.id}`], users: [row.owner_id, old?.owner_id ?? row.owner_id] }) },
 * });
 * ```
 */
export function createPostgresListener<Tables>(caching: InvalidatingCaching, options: PostgresListenerOptions<Tables>): PostgresListener {
  const slot = options.slot ?? 'trpc_caching';
  const publication = options.publication ?? 'trpc_caching';
  const covers: InvalidationTargets = options.covers ?? { all: true };
  const maxTargets = options.maxTargets ?? 10_000;
  const maxLagBytes = options.maxLagBytes ?? 256 * 1024 * 1024;
  const maxRetryDelay = options.maxRetryDelay ?? 5_000;
  if (!/^[a-z0-9_]{1,63}$/.test(slot)) throw new Error(`slot must be 1 to 63 lowercase letters, digits or underscores; got ${slot}`);
  const mappers = new Map<string, Mapper>();
  const sources: Record<string, string> = {};
  for (const [table, mapper] of Object.entries(options.tables as Record<string, Mapper | undefined>)) {
    if (mapper === undefined) continue;
    const { schema, name } = qualified(table);
    mappers.set(`${schema}.${name}`, mapper);
    sources[`${schema}.${name}`] = String(mapper);
  }
  if (mappers.size === 0) throw new Error('tables must map at least one table');
  const fingerprintOf = (unpublished: readonly string[]) =>
    mappingFingerprint({ publication, tables: sources, covers, version: options.mappingVersion ?? '', unpublished });
  const fingerprintKey = `trpc-caching:postgres:${slot}:mapping`;

  const emit = (event: PostgresListenerEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // The hook's failure must not stop the stream.
    }
  };
  let stopped = false;
  let stream: ReplicationStream | undefined;
  let confirmed = 0n;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const warned = new Set<string>();
  const applier = createApplier({
    caching,
    covers,
    maxTargets,
    mappers,
    warned,
    emit,
    confirmed: (lsn) => {
      confirmed = lsn;
    },
  });

  /** Invalidates everything covered; throws when the store could not take it (the caller must not acknowledge). */
  const resync = async (reason: ResyncReason, detail?: string): Promise<void> => {
    if (!(await caching.invalidate(covers))) throw new Error(`the resync (${reason}) could not be written to the cache store`);
    emit({ type: 'resync', reason, targets: covers, ...(detail === undefined ? {} : { detail }) });
  };

  /** One session: setup on a plain connection, then streaming until the stream ends. Resolves to why it ended. */
  const session = async (): Promise<Error> => {
    const setup = await withClient(options.connection, async (client) => {
      const missing = await ensurePublication(client, publication, [...mappers.keys()]);
      for (const table of missing) {
        if (warned.has(`publication:${table}`)) continue;
        warned.add(`publication:${table}`);
        emit({
          type: 'warning',
          table,
          message: `publication ${publication} lacks ${table}: its changes never arrive (ALTER PUBLICATION ${publication} ADD TABLE ${table})`,
        });
      }
      const before = await slotState(client, slot);
      if (before.active) throw new Error(`replication slot ${slot} is followed by another listener`);
      // Forget the fingerprint before a new slot exists, so that a resync that fails then is retried, never skipped
      // (even by another process after this one died). Overwritten and read back, not deleted: with the store down,
      // Keyv answers a delete with false (as for a missing key) and @keyv/redis a set with true, so neither result
      // proves anything, and an old fingerprint left in place would vouch for a slot that missed changes.
      const status = await ensureSlot(client, slot, async () => {
        await caching.store.set(fingerprintKey, RESYNC_OWED);
        if ((await caching.store.get(fingerprintKey)) !== RESYNC_OWED) {
          throw new Error('the cache store did not keep the mark of a resync owed: no new slot is made before it does');
        }
      });
      const state = await slotState(client, slot);
      return { status, state, missing };
    });
    let current: ReplicationStream | undefined;
    let prepare: () => void = () => {};
    let fail: (error: Error) => void = () => {};
    const prepared = new Promise<void>((resolve, reject) => {
      prepare = resolve;
      fail = reject;
    });
    prepared.catch(() => {});
    current = await openReplication({
      connection: options.connection,
      slot,
      publication,
      from: parseLsn(setup.state.confirmedLsn),
      statusInterval: 10_000,
      apply: applier(() => current, prepared, new Set(setup.missing)),
    });
    if (stopped) {
      await current.close();
      return new Error('closed');
    }
    stream = current;
    confirmed = current.confirmed;
    // The slot is ours now: resync before any item is applied, when the slot or the mapping cannot be trusted.
    try {
      // A table added to the publication since the fingerprint was stored changes it: what it missed is resynced.
      const fingerprint = fingerprintOf(setup.missing);
      const stored = await caching.store.get(fingerprintKey);
      if (setup.status !== 'ok') await resync(setup.status);
      else if (stored !== fingerprint) {
        const detail =
          stored === undefined ? 'no fingerprint stored' : stored === RESYNC_OWED ? 'the resync of a new slot was not written' : undefined;
        await resync('mapping-changed', detail);
      }
      if (stored !== fingerprint && !(await caching.store.set(fingerprintKey, fingerprint))) {
        throw new Error('the mapping fingerprint could not be stored');
      }
      prepare();
    } catch (error) {
      fail(error as Error);
      await current.close();
      throw error;
    }
    emit({ type: 'connected', slot, lagBytes: setup.state.lagBytes });
    markReady();
    return current.ended;
  };

  let wake: () => void = () => {};
  const run = async (): Promise<void> => {
    let retries = 0;
    while (!stopped) {
      const started = Date.now();
      let error: Error;
      try {
        error = await session();
      } catch (cause) {
        error = cause instanceof Error ? cause : new Error(String(cause));
      }
      stream = undefined;
      if (stopped) return;
      // A session that streamed a while starts the backoff over.
      if (Date.now() - started > maxRetryDelay) retries = 0;
      const retryInMs = Math.min(100 * 2 ** retries++, maxRetryDelay);
      emit({ type: 'disconnected', error, retryInMs });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, retryInMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  const running = run();

  const checkSlot = async (): Promise<void> => {
    if (stopped) return;
    try {
      const state = await withClient(options.connection, (client) => slotState(client, slot));
      if (state.exists && (state.lagBytes > maxLagBytes || state.walStatus === 'unreserved' || state.walStatus === 'lost')) {
        emit({ type: 'slot-lagging', slot, lagBytes: state.lagBytes, walStatus: state.walStatus });
      }
    } catch {
      // PostgreSQL unreachable: the stream's own reconnection reports it.
    }
  };
  const slotTimer = setInterval(() => void checkSlot(), options.slotCheckInterval ?? 30_000);
  slotTimer.unref();

  return {
    ready,
    get connected() {
      return stream !== undefined;
    },
    get confirmedLsn() {
      return formatLsn(confirmed);
    },
    async caughtUp(timeoutMs = 30_000) {
      const target = parseLsn(
        await withClient(options.connection, async (client) => {
          const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
          return rows[0]?.lsn ?? '0/0';
        }),
      );
      // The insert position may sit just past a page header that no record ends before: the page start is enough then.
      const offset = target % 8192n;
      const enough = offset <= 40n ? target - offset : target;
      const end = Date.now() + timeoutMs;
      while (confirmed < enough) {
        if (Date.now() > end) throw new Error(`the listener did not catch up with ${formatLsn(target)} in ${timeoutMs} ms`);
        stream?.ping();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      stopped = true;
      clearInterval(slotTimer);
      await stream?.close();
      wake();
      await running;
    },
  };
}
