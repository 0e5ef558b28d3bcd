import type { Pgoutput } from 'pg-logical-replication';
import type { InvalidationTargets } from '../index.js';
import { parseLsn } from './lsn.js';
import { msSince, type ReplicationStream, type StreamItem } from './replication.js';
import { validTargets } from './targets.js';
import { TransactionMoves, unionTargets } from './transaction.js';
import type { InvalidatingCaching, PostgresListenerEvent, RowChange, TableMapping } from './types.js';

type Transaction = { moves: TransactionMoves; xid: number; commitTime: bigint };
type Finished = Transaction & { endLsn: string | null };
/** Most committed transactions one invalidation applies when a backlog is read. */
const MAX_BATCH = 256;

/** What {@link createApplier} works with: the listener's resolved options and its event hook. */
export interface ApplierDeps {
  readonly caching: InvalidatingCaching;
  readonly covers: InvalidationTargets;
  readonly maxTargets: number;
  /** A mapping function per `schema.table`. */
  readonly mappers: ReadonlyMap<string, TableMapping<Record<string, unknown>>>;
  /** Warnings already given (one per table). */
  readonly warned: Set<string>;
  readonly emit: (event: PostgresListenerEvent) => void;
  /** Hears the stream's confirmed position after each acknowledgement. */
  readonly confirmed: (lsn: bigint) => void;
}

/**
 * How a session applies its stream: rows mapped as they arrive, each transaction's moves gathered until its
 * COMMIT, then written (several at once while a backlog is read) and only then acknowledged. Answers a factory
 * for one session's apply function, which waits for `prepared` (the session's resync) before its first item;
 * `unpublished`: the mapped tables the publication lacked when the session began.
 */
export function createApplier(deps: ApplierDeps) {
  const changeOf = (
    message: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete,
  ): RowChange<Record<string, unknown>> => {
    const table = message.relation.name;
    const sent = (row: Record<string, unknown>) => guarded(row, message.relation);
    if (message.tag === 'insert') return { op: 'insert', table, row: message.new, old: undefined };
    if (message.tag === 'update') {
      // Without REPLICA IDENTITY FULL, an update that changed the key still sends the old key: the mapping gets it.
      const before = message.old ?? message.key;
      return { op: 'update', table, row: sent(message.new), old: before === null ? undefined : sent(before) };
    }
    const old = sent(message.old ?? message.key ?? {});
    return { op: 'delete', table, row: old, old };
  };

  /**
   * Applies finished transactions with one invalidation (their union, or `covers` when one of them must resync),
   * then acknowledges the last one's end. Throws, acknowledging nothing, when the store could not take it.
   */
  const applyBatch = async (batch: readonly Finished[], current: ReplicationStream): Promise<void> => {
    const last = batch[batch.length - 1];
    if (last === undefined) return;
    // A transaction that resyncs moves `covers`; the others in the batch still move their own targets (covers need
    // not reach them: a user's scope, a path outside it), so the batch moves the union of both.
    const targets = unionTargets(batch.map((tx) => (tx.moves.resync === undefined ? tx.moves.targets() : deps.covers)));
    const lsn = last.endLsn ?? '0/0';
    if (targets !== undefined) {
      let written = false;
      try {
        written = await deps.caching.invalidate(targets);
      } catch (error) {
        deps.emit({ type: 'apply-failed', lsn, error });
        throw error;
      }
      if (!written) {
        deps.emit({ type: 'apply-failed', lsn });
        throw new Error(`the moves of the transactions up to ${lsn} could not be written to the cache store`);
      }
    }
    if (last.endLsn !== null) current.confirm(parseLsn(last.endLsn));
    deps.confirmed(current.confirmed);
    for (const tx of batch) {
      const { resync: why } = tx.moves;
      if (why !== undefined) deps.emit({ type: 'resync', reason: why.reason, targets: deps.covers, detail: why.detail });
      if (tx.moves.changes === 0) continue;
      const moved = why === undefined ? tx.moves.targets() : deps.covers;
      deps.emit({
        type: 'applied',
        lsn: tx.endLsn ?? '0/0',
        xid: tx.xid,
        changes: tx.moves.changes,
        targets: moved ?? {},
        latencyMs: msSince(tx.commitTime),
      });
    }
  };

  /** The session's apply function: one transaction at a time, acknowledged once its moves are written. */
  return (current: () => ReplicationStream | undefined, prepared: Promise<void>, unpublished: Set<string> = new Set()) => {
    let tx: Transaction | undefined;
    // Committed transactions not applied yet: only while a backlog is being read, never longer than it lasts.
    let batch: Finished[] = [];
    let batchSize = 0;
    const flush = async (live: ReplicationStream): Promise<void> => {
      const done = batch;
      batch = [];
      batchSize = 0;
      await applyBatch(done, live);
    };
    return async (item: StreamItem, more: boolean): Promise<void> => {
      await prepared;
      const live = current();
      if (live === undefined) throw new Error('the stream is gone');
      if (item.kind === 'keepalive') {
        await flush(live);
        // Everything before this keepalive is applied: outside a transaction, the server's position is confirmed too.
        if (tx === undefined) live.confirm(item.lsn);
        deps.confirmed(live.confirmed);
        return;
      }
      const message = item.message;
      switch (message.tag) {
        case 'begin':
          tx = { moves: new TransactionMoves(deps.maxTargets), xid: message.xid, commitTime: message.commitTime as bigint };
          return;
        case 'relation': {
          const key = `${message.schema}.${message.name}`;
          // A mapped table the publication lacked when the session began now sends changes: it was added, and what
          // it changed before never arrived. The transaction that brings it invalidates everything covered.
          if (unpublished.delete(key) && tx !== undefined) tx.moves.fallBack('publication-changed', `${key} was added to the publication`);
          if (deps.mappers.has(key) && message.replicaIdentity !== 'full' && !deps.warned.has(key)) {
            deps.warned.add(key);
            deps.emit({
              type: 'warning',
              table: key,
              message: `${key} has REPLICA IDENTITY ${message.replicaIdentity.toUpperCase()}: updates carry no old row and deletes only the key (ALTER TABLE ${key} REPLICA IDENTITY FULL)`,
            });
          }
          return;
        }
        case 'insert':
        case 'update':
        case 'delete': {
          const mapper = deps.mappers.get(`${message.relation.schema}.${message.relation.name}`);
          if (mapper === undefined || tx === undefined) return;
          try {
            const targets = mapper(changeOf(message));
            if (validTargets(targets)) tx.moves.add(targets);
            else tx.moves.fallBack('mapping-failed', `${message.relation.name}: the mapping returned targets caching.invalidate refuses`);
          } catch (error) {
            tx.moves.fallBack('mapping-failed', `${message.relation.name}: ${error instanceof Error ? error.message : String(error)}`);
          }
          return;
        }
        case 'truncate': {
          const hit = message.relations.find((relation) => deps.mappers.has(`${relation.schema}.${relation.name}`));
          if (hit !== undefined && tx !== undefined) tx.moves.fallBack('truncate', `${hit.schema}.${hit.name}`);
          return;
        }
        case 'commit': {
          const done = tx;
          tx = undefined;
          if (done === undefined) return;
          batch.push({ ...done, endLsn: message.commitEndLsn });
          batchSize += done.moves.size;
          if (!more || batch.length >= MAX_BATCH || batchSize >= deps.maxTargets) await flush(live);
          return;
        }
        default:
          return;
      }
    };
  };
}

/**
 * The row as the mapping reads it: a column PostgreSQL did not send (not in the replica identity of a delete or of
 * an update's old row, or an unchanged TOAST value of an update without the old row) throws when read, so that a
 * mapping that needs it falls back to a resync (`mapping-failed`) instead of naming `post:undefined` and missing
 * the row's real targets. The decoder marks such a column `undefined`; a SQL NULL is `null`.
 */
function guarded(row: Record<string, unknown>, relation: Pgoutput.MessageRelation): Record<string, unknown> {
  const unsent = new Set(relation.columns.filter((column) => row[column.name] === undefined).map((column) => column.name));
  if (unsent.size === 0) return row;
  return new Proxy(row, {
    get(target, key, receiver) {
      if (typeof key === 'string' && unsent.has(key)) {
        throw new Error(
          `${relation.schema}.${relation.name}.${key} was not sent by PostgreSQL (not in the replica identity, or an unchanged TOAST value): ALTER TABLE ${relation.schema}.${relation.name} REPLICA IDENTITY FULL`,
        );
      }
      return Reflect.get(target, key, receiver);
    },
  });
}
