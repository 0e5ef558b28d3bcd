import type { Keyv } from 'keyv';
import { afterPendingIo, monotonicNow } from '../engine/clock.js';
import type { EngineEvents } from '../engine/events.js';
import type { CacheStore } from '../engine/store.js';
import { CachingConfigError, CachingError, type CachingOperation, errorMessage } from '../errors.js';
import { capabilitiesOf, isNodeFault, isSkippedByNode } from './capabilities.js';
import { clusterRefusal } from './cluster-clients.js';
import { connectionErrorKind, isSocketError } from './connection-errors.js';
import { Deadlines } from './deadlines.js';
import { type KeyvAccess, keyvAccess } from './keyv-access.js';
import { memoryReader } from './memory.js';

/** How the store boundary bounds and isolates a store. */
export interface StoreGuardOptions {
  /** Longest a store call may take before the cache gives up on it, in ms. */
  readonly timeout: number;
  /** Consecutive failures that open the circuit. */
  readonly breakerThreshold: number;
  /** How long an open circuit skips the store, in ms. */
  readonly breakerCooldown: number;
  readonly report: (error: CachingError) => void;
  /** Told of every store call and breaker change. */
  readonly events?: EngineEvents | undefined;
}

/** Whether a timer that fired `lateBy` ms late says this process's event loop was blocked (timers are normally late by a few ms). */
function stalled(lateBy: number, timeout: number): boolean {
  return lateBy > Math.min(timeout / 2, 50);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

function kindOf(operation: CachingOperation): 'read' | 'write' | 'invalidate' {
  return operation === 'read' || operation === 'invalidate' ? operation : 'write';
}

class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
  constructor(
    message: string,
    /** How much later than the timeout the timer fired: the event loop's stall. */
    readonly lateBy: number,
  ) {
    super(message);
  }
}

const timedOut = Symbol('timedOut');

/**
 * The Keyv boundary. Every call is bounded in time, every failure is caught
 * and reported, and after a run of failures a circuit breaker skips the store
 * for a cool-down, so a dead store costs a request nothing.
 *
 * Keyv adapters differ in how they fail: some throw, some (like `@keyv/redis`
 * by default) emit `error` and return as if they succeeded. A call during which
 * the Keyv emitted an error is therefore counted as failed. That is
 * conservative: a write that may have landed is treated as lost and retried.
 */
export class GuardedStore implements CacheStore {
  private errorEpoch = 0;
  private lastStoreError: unknown;
  /** The connection error reported for the current outage of a plain Keyv's client; cleared by a call that succeeds. */
  private outage: Error | undefined;
  private consecutiveFailures = 0;
  /** 0 while the circuit is closed; otherwise when the open circuit lets one trial call through. */
  private openUntil = 0;
  /** True while the one trial call of a half-open circuit is in flight. */
  private probing = false;

  /** Keyv's calls, addressed so that reads find what writes stored whatever the Keyv's namespace. */
  private readonly access: KeyvAccess;
  /** The deadlines of guarded calls (all `options.timeout`), on one timer. */
  private readonly deadlines: Deadlines;
  /** Reads of the in-process default store, answered at once; undefined for any other store. */
  private readonly readNow: ((keys: readonly string[]) => unknown[] | undefined) | undefined;

  constructor(
    readonly keyv: Keyv,
    private readonly options: StoreGuardOptions,
  ) {
    const onCluster = clusterRefusal(keyv.store);
    if (onCluster !== undefined) throw new CachingConfigError('store', onCluster);
    this.access = keyvAccess(keyv);
    this.deadlines = new Deadlines(options.timeout);
    this.readNow = memoryReader(keyv);
    // Adapters that emit `error` and answer as if they succeeded (`@keyv/redis` by default) are judged by the events
    // seen during a call; a store whose calls fail by themselves is not, so that a background connection error (one
    // dead Cluster node, say) does not fail the calls that succeeded meanwhile.
    if (capabilitiesOf(keyv).failsByRejecting !== true) {
      keyv.on('error', (error: unknown) => {
        this.errorEpoch++;
        this.lastStoreError = error;
        // A client reconnecting emits its socket error at every attempt: the first of an outage is reported.
        if (this.outage !== undefined || !isSocketError(error)) return;
        this.outage = error;
        options.report(new CachingError('read', `store connection failed: ${error.message}`, { cause: error }));
      });
    } else {
      // Such a store emits its connection's own error once per outage, naming the server: reported as it is, once.
      keyv.on('error', (error: unknown) => {
        this.lastStoreError = error;
        if (connectionErrorKind(error) !== 'unreachable') return;
        options.report(new CachingError('read', `store connection failed: ${errorMessage(error)}`, { cause: error }));
      });
    }
  }

  /**
   * False while the circuit is open: callers skip the cache entirely. After the
   * cool-down the circuit is half-open: one call tries the store while every
   * other caller keeps skipping it, so a store that is still dead costs one
   * timeout per cool-down, not one per request that arrives meanwhile.
   */
  get available(): boolean {
    return this.openUntil === 0 || (!this.probing && monotonicNow() >= this.openUntil);
  }

  /** The circuit's state: `open` skips the store, `half-open` lets one trial call through. */
  get breaker(): 'closed' | 'open' | 'half-open' {
    if (this.openUntil === 0) return 'closed';
    return monotonicNow() >= this.openUntil ? 'half-open' : 'open';
  }

  /**
   * Reads keys in one store call (`getMany`, one MGET on Redis). Resolves to
   * undefined when the store failed, was slow, or is skipped by the breaker.
   */
  async getMany(keys: string[], path: string | undefined): Promise<unknown[] | undefined> {
    // The default store answers in this process at once: nothing to bound in time, no Keyv round (a hit's largest
    // store cost). Its reads cannot fail, so only a closed circuit is needed (the breaker's bookkeeping stays as is).
    if (this.readNow !== undefined && this.openUntil === 0) {
      const startedAt = monotonicNow();
      let rows: unknown[] | undefined;
      try {
        rows = this.readNow(keys);
      } catch {
        rows = undefined; // asked again through Keyv, which reports what fails
      }
      if (rows !== undefined) {
        this.options.events?.onStoreCall?.({ operation: 'read', ok: true, durationMs: monotonicNow() - startedAt });
        return rows;
      }
    }
    const outcome = await this.run('read', keys[0], path, () => this.access.getMany(keys));
    const rows = outcome?.value;
    return Array.isArray(rows) && rows.length === keys.length ? rows : undefined;
  }

  /** Writes one key (one SET on Redis). Resolves to true only when the write is known to have succeeded. */
  async set(key: string, value: string, ttl: number, path: string | undefined): Promise<boolean> {
    const outcome = await this.run('write', key, path, () => this.access.set(key, value, ttl).then((ok) => this.judged(ok)));
    return outcome !== undefined;
  }

  /**
   * Writes entries in one store call. Resolves to true only when the write is known to have succeeded.
   * An `unguarded` write is tried even while the circuit is open, within its own `timeout`: version
   * moves must reach the store whatever the reads did (the breaker protects the read path, and a
   * read that timed out tells nothing about whether a write would land). A `quiet` one (a retry of a write whose
   * failure was reported) is counted in stats but not reported again.
   */
  async setMany(
    entries: Array<{ key: string; value: string; ttl: number }>,
    operation: CachingOperation,
    path: string | undefined,
    unguarded?: { readonly timeout: number; readonly quiet?: boolean },
  ): Promise<boolean> {
    const outcome = await this.run(
      operation,
      entries[0]?.key,
      path,
      // Keyv answers booleans for some adapters and undefined for others; only `false` says it failed.
      () => this.access.setMany(entries).then((rows) => this.judged(!(Array.isArray(rows) && rows.includes(false)))),
      unguarded,
    );
    return outcome !== undefined;
  }

  /**
   * A write Keyv answered `false` failed: Keyv caught the adapter's rejection, emitted it and answered `false`. It is
   * counted and reported as a failed call, with the error Keyv emitted for it (just before answering) as its cause.
   */
  private judged(ok: boolean): true {
    if (ok) return true;
    const cause = this.lastStoreError;
    throw cause instanceof Error ? cause : new Error('the store answered that the write failed');
  }

  private async run<T>(
    operation: CachingOperation,
    key: string | undefined,
    path: string | undefined,
    call: () => Promise<T>,
    unguarded?: { readonly timeout: number; readonly quiet?: boolean },
  ): Promise<{ value: T } | undefined> {
    if (unguarded === undefined && !this.available) return undefined;
    const probe = unguarded === undefined && this.openUntil !== 0;
    if (probe) this.probing = true;
    if (probe) this.options.events?.onBreaker?.('half-open');
    const epoch = this.errorEpoch;
    const timeout = unguarded?.timeout ?? this.options.timeout;
    const startedAt = monotonicNow();
    let timer: NodeJS.Timeout | undefined;
    try {
      const pending = call();
      // Unguarded writes each have a timeout of their own (what is left of a flush's deadline): a timer each.
      let result =
        unguarded === undefined
          ? await this.deadlines.race(pending, startedAt, timedOut)
          : await Promise.race([
              pending,
              new Promise<typeof timedOut>((resolve) => {
                timer = setTimeout(resolve, timeout, timedOut);
              }),
            ]);
      if (result === timedOut) {
        // After an event-loop stall, timers fire before the I/O that arrived meanwhile is read: give a
        // reply that is already on the socket one turn to land before calling the store slow.
        result = await Promise.race([pending, afterPendingIo().then((): typeof timedOut => timedOut)]);
        let lateBy = monotonicNow() - startedAt - timeout;
        // A stall of this process's own event loop may have kept the command from even being sent (clients
        // write on a later tick): such a call gets its time again, now that the loop turns. That second window
        // is judged by its own timer: one that fires on time says the loop turned and the store is slow.
        if (result === timedOut && stalled(lateBy, timeout)) {
          const againAt = monotonicNow();
          result = await Promise.race([pending, sleep(timeout).then((): typeof timedOut => timedOut)]);
          lateBy = monotonicNow() - againAt - timeout;
        }
        if (result === timedOut) {
          pending.catch(() => {}); // it may still fail later: nobody listens any more
          throw new StoreTimeoutError(`store call took longer than ${timeout} ms`, lateBy);
        }
      }
      if (this.errorEpoch !== epoch) throw this.lastStoreError;
      this.outage = undefined;
      if (unguarded === undefined) {
        this.consecutiveFailures = 0;
        if (this.openUntil !== 0) {
          this.openUntil = 0;
          this.options.events?.onBreaker?.('closed');
        }
      }
      this.options.events?.onStoreCall?.({ operation: kindOf(operation), ok: true, durationMs: monotonicNow() - startedAt });
      return { value: result as T };
    } catch (cause) {
      // A store still making its first connection sent nothing: the call is skipped, as the open breaker would.
      if (connectionErrorKind(cause) === 'connecting') return undefined;
      this.options.events?.onStoreCall?.({ operation: kindOf(operation), ok: false, durationMs: monotonicNow() - startedAt });
      if (unguarded?.quiet !== true) this.fail(operation, key, path, cause, timeout, unguarded !== undefined);
      return undefined;
    } finally {
      clearTimeout(timer);
      if (probe) this.probing = false;
    }
  }

  private fail(
    operation: CachingOperation,
    key: string | undefined,
    path: string | undefined,
    cause: unknown,
    timeout: number,
    unguarded: boolean,
  ): void {
    // A timer that fired much later than asked says this process's event loop stalled, not that the store
    // is slow: such a timeout is reported but does not count towards opening the circuit. Nor do the
    // unguarded writes of version moves: the circuit is the read path's, and moves have bounds of their own.
    const localStall = cause instanceof StoreTimeoutError && stalled(cause.lateBy, timeout);
    // A fault of one node of several (a Redis Cluster's) is judged by the store's breaker for that node.
    const counted = !unguarded && !localStall && !isNodeFault(cause);
    if (counted) this.consecutiveFailures++;
    const opened = counted && this.consecutiveFailures >= this.options.breakerThreshold;
    if (opened) {
      this.openUntil = monotonicNow() + this.options.breakerCooldown;
      this.options.events?.onBreaker?.('open');
    }
    if (isSkippedByNode(cause)) return;
    // A client that only says it is offline is told why, when its connection said so.
    const why = this.outage !== undefined && this.outage !== cause ? ` (${this.outage.message})` : '';
    const reason = `${errorMessage(cause)}${why}${localStall ? ' (the event loop was blocked meanwhile)' : ''}`;
    this.options.report(
      new CachingError(
        operation,
        `store ${operation} failed: ${reason}${opened ? `; skipping the store for ${this.options.breakerCooldown} ms` : ''}`,
        { path, key, cause },
      ),
    );
  }
}
