import { CachingError } from '../errors.js';
import { Auditor, type Hit } from './audit.js';
import { monotonicNow } from './clock.js';
import { Codec } from './codec.js';
import { asToken, readEntry } from './entry.js';
import type { BypassReason, EngineEvents } from './events.js';
import { MissFiller } from './fill.js';
import { Flights } from './flights.js';
import { KeyFormat, type Scope } from './keys.js';
import { type Move, moveOf, moveOfAll } from './move.js';
import {
  type Computed,
  type EngineOptions,
  type FillOutcome,
  planQuery,
  type QueryPlan,
  type QueryRequest,
  type ReadOutcome,
  type VersionsRead,
} from './plan.js';
import { StaleRefreshes } from './refresh.js';
import { deliverMove } from './sinks.js';
import type { CacheStore, Leases } from './store.js';
import type { EngineTargets } from './targets.js';
import { VersionBook } from './versions.js';

const BREAKER_OPEN: ReadOutcome = { kind: 'bypass', reason: 'breaker-open' };
const PENDING: ReadOutcome = { kind: 'bypass', reason: 'pending-invalidation' };
const STORE_ERROR: ReadOutcome = { kind: 'bypass', reason: 'store-error' };

export type { Computed, EngineOptions, FillOutcome, QueryPlan, QueryRequest, ReadOutcome, VersionsRead };

/**
 * The cache, free of any framework: plans keys, reads an entry with its
 * versions in one store call, fills a miss once per identical concurrent
 * request, and moves versions. Its behaviour is the consistency contract:
 *
 * - an entry is served only while every version it recorded is current, and
 *   an absent version matches nothing;
 * - a miss records tokens read (or seeded) before its resolver ran, so a move
 *   after that read makes the entry unreachable;
 * - a move is written before `invalidate` resolves, or stays pending and
 *   covers its keys in this process until written.
 */
export class CacheEngine {
  readonly keys: KeyFormat;
  private readonly store: CacheStore;
  private readonly versions: VersionBook;
  private readonly flights = new Flights();
  private readonly codec = new Codec();
  /** Background refreshes of entries served stale, and which failed. */
  private readonly refreshes = new StaleRefreshes();

  private readonly events: EngineEvents | undefined;
  /** The store's leases, when it offers them (createRedisStore): what `lock` takes. */
  private readonly leases: Leases | undefined;
  private readonly filler: MissFiller;
  /** Stops listening for the store's failovers. */
  private readonly unsubscribe: (() => void) | undefined;
  /** The consistency auditor, when `audit` is on. */
  private readonly auditor: Auditor | undefined;

  constructor(private readonly options: EngineOptions) {
    this.events = options.events;
    const offered = options.capabilities;
    // A Cluster store reads keys of one slot in one command: lay keys out so that a hit touches few slots.
    this.keys = new KeyFormat(options.prefix, { hashTags: offered.keyLayout === 'hash-tags' });
    this.leases = offered.leases;
    this.store = options.store;
    this.versions = new VersionBook(options.store, options, this.keys.allVersion());
    // After a failover that may have rolled versions back (a promoted Redis replica), every entry from before must miss.
    this.unsubscribe = offered.rollbacks?.protect([this.keys.allVersion()], options.versionTtl);
    this.filler = new MissFiller({
      store: this.store,
      versions: this.versions,
      flights: this.flights,
      codec: this.codec,
      refreshes: this.refreshes,
      options,
      leases: this.leases,
      keys: this.keys,
      told: (plan, status, startedAt, reason) => this.told(plan, status, startedAt, reason),
      readRows: (plan, readAt) => this.readRows(plan, readAt, false),
    });
    this.auditor =
      options.audit === undefined
        ? undefined
        : new Auditor(options.audit, {
            store: this.store,
            versions: this.versions,
            codec: this.codec,
            events: this.events,
            maxEntryBytes: options.maxEntryBytes,
          });
  }

  /** Whether a store key is one of this engine's version keys (`{prefix}:v:…`), for stores that keep versions apart. */
  isVersionKey(key: string): boolean {
    return this.keys.isVersionKey(key);
  }

  /** Version keys whose move is not written yet (0 when healthy). */
  get pendingInvalidations(): number {
    return this.versions.pendingCount;
  }

  /** Keys of a query. Throws a CachingError (`key`) for an input that cannot be keyed exactly. */
  plan(request: QueryRequest): QueryPlan {
    return planQuery(this.keys, request, this.options.inputLimits);
  }

  /** Reads the entry and its versions in one store call, and tells observers what it found (a miss is told by its fill). */
  read(plan: QueryPlan): Promise<ReadOutcome> {
    return this.readRows(plan, monotonicNow(), true);
  }

  /** Tells observers that the adapter bypassed the cache for a call (caching disabled, input not keyable). */
  bypassed(path: string, scope: Scope['kind'], reason: 'disabled' | 'input'): void {
    this.events?.onRead?.({ path, scope, status: 'bypass', reason, durationMs: 0 });
  }

  private told(plan: QueryPlan, status: 'hit' | 'miss' | 'bypass' | 'coalesced' | 'stale', startedAt: number, reason?: BypassReason): void {
    this.events?.onRead?.({ path: plan.path, scope: plan.scope, status, reason, durationMs: monotonicNow() - startedAt });
  }

  /** What is told of a read that is not a miss, when `tell` (a lease's probe reads without telling). */
  private telling(plan: QueryPlan, outcome: ReadOutcome, readAt: number, tell: boolean): ReadOutcome {
    if (tell && outcome.kind !== 'miss') this.told(plan, outcome.kind, readAt, outcome.kind === 'bypass' ? outcome.reason : undefined);
    return outcome;
  }

  private async readRows(plan: QueryPlan, readAt: number, tell: boolean): Promise<ReadOutcome> {
    if (!this.store.available) return this.telling(plan, BREAKER_OPEN, readAt, tell);
    if (this.versions.covers(plan.keys)) return this.telling(plan, PENDING, readAt, tell);
    const rows = await this.store.getMany(plan.keys as string[], plan.path);
    if (rows === undefined) return this.telling(plan, STORE_ERROR, readAt, tell);
    // The hit path joins the tokens as it checks them; the per-version array is built only for a miss.
    let joined = '';
    let complete = true;
    for (let i = 1; i < rows.length; i++) {
      const token = asToken(rows[i]);
      if (token === undefined) {
        complete = false;
        break;
      }
      joined += i === 1 ? token : ` ${token}`;
    }
    // An absent version matches no entry: an entry from before a lost key's last move must not revive.
    const hit = complete ? readEntry(rows[0], joined) : undefined;
    if (hit !== undefined) {
      let stale = false;
      if (hit.freshUntil !== undefined) {
        // Wall clock, since another process may have written the entry: skew moves only this boundary (docs/freshness.md).
        const now = Date.now();
        if (now >= hit.freshUntil) {
          if (!this.servesStale(plan, hit.freshUntil, now)) return { kind: 'miss', tokens: tokensOf(rows), readAt };
          stale = true;
        }
      }
      try {
        const value = this.codec.decode(hit.payload, plan.entryKey, rows[0] as string);
        const found: ReadOutcome = stale
          ? { kind: 'stale', value, etag: hit.etag, tokens: tokensOf(rows), readAt, freshUntil: hit.freshUntil as number }
          : { kind: 'hit', value, etag: hit.etag, payload: hit.payload, tokens: joined, freshUntil: hit.freshUntil };
        return this.telling(plan, found, readAt, tell);
      } catch (cause) {
        const { path, entryKey: key } = plan;
        this.options.report(new CachingError('read', `cannot decode the entry of "${path}"`, { path, key, cause }));
      }
    }
    return { kind: 'miss', tokens: tokensOf(rows), readAt };
  }

  /** Whether an entry past its TTL (its versions current) may be served: within the window, and not after a failed refresh unless staleIfError. */
  private servesStale(plan: QueryPlan, freshUntil: number, now: number): boolean {
    return now < freshUntil + plan.staleWhileRevalidate && (plan.staleIfError || !this.refreshes.failedFor(plan.entryKey, freshUntil));
  }

  /**
   * Fills a miss: runs `compute` once per identical concurrent miss (same entry, same versions read),
   * stores a successful result under the versions read, and hands followers a fresh copy of it. A
   * follower whose leader failed runs its own `compute`; one whose `signal` aborts stops waiting.
   */
  fill<R>(plan: QueryPlan, miss: VersionsRead, compute: () => Promise<Computed<R>>, signal?: AbortSignal): Promise<FillOutcome<R>> {
    return this.filler.fill(plan, miss, compute, signal);
  }

  /**
   * Whether the versions a fill's result was computed under (its outcome's `tokens`) are all still current: read
   * again, in one store call, after the resolver ran. False when any moved, when a move of this process covering
   * them is pending, or when it cannot be told (no tokens, store down or failing): such a result may be from before
   * a mutation that has already purged the edge, so the HTTP layer keeps it out of shared caches.
   */
  async stillCurrent(plan: QueryPlan, tokens: string | undefined): Promise<boolean> {
    if (tokens === undefined || !this.store.available || this.versions.covers(plan.keys)) return false;
    const versionKeys = plan.keys.slice(1) as string[];
    if (versionKeys.length === 0) return true;
    const rows = await this.store.getMany(versionKeys, plan.path);
    if (rows === undefined) return false;
    let joined = '';
    for (let i = 0; i < rows.length; i++) {
      const token = asToken(rows[i]);
      if (token === undefined) return false;
      joined += i === 0 ? token : ` ${token}`;
    }
    return joined === tokens;
  }

  /**
   * Refreshes an entry that was just served stale, in the background, once per entry in this process (and
   * across processes with `lock`). Never throws: a failure is reported to onError (operation `refresh`).
   */
  refresh<R>(plan: QueryPlan, stale: Extract<ReadOutcome, { kind: 'stale' }>, compute: () => Promise<Computed<R>>): void {
    this.filler.refresh(plan, stale, compute);
  }

  /**
   * Whether to audit this hit: false at once without an auditor, else a draw at the sample rate. Cheap, so that the
   * adapter builds its resolver re-run only for a sampled hit.
   */
  sampled(): boolean {
    return this.auditor?.sampled() === true;
  }

  /**
   * Audits a sampled hit in the background: runs `compute` (the resolver again, with the hit's context and input)
   * and compares its result with the entry served; see {@link Auditor}. Call before handing the caller the value.
   * Never throws; what it finds reaches observers (`onAudit`).
   */
  audit(plan: QueryPlan, hit: Hit, compute: () => Promise<Computed<unknown>>): void {
    this.auditor?.check(plan, hit, compute);
  }

  /** Resolves once no background refresh or audit check is running (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    await Promise.all([this.refreshes.idle(), this.auditor?.idle()]);
  }

  /** The move that targets make: its version keys and its terms for clients. Throws a CachingError for an invalid target. */
  planMove(targets: EngineTargets): Move {
    return moveOf(this.keys, targets);
  }

  /** A move of everything under the prefix. */
  moveAll(): Move {
    return moveOfAll(this.keys);
  }

  /**
   * Writes a move's versions, then hands it to the move sinks (edge purgers) and waits for them, each up to its bound,
   * then tells observers (`onMoved`: the live streams) what moved. Resolves to false when the write is left
   * pending: retried in the background, and covering its keys in this process until written.
   */
  async invalidate(move: Move, path?: string): Promise<boolean> {
    // Named in divergences found later: a mutation that ran since an entry was stored is a likely culprit.
    if (path !== undefined) this.auditor?.moved(path);
    const written = await this.versions.move(move.keys, path);
    // After the write, never before: an edge that refetches at once must get the new versions' data. Before the live
    // streams hear of it (within the sink's bound): a client told of the move refetches, through the edge too.
    const sinks = this.options.sinks;
    if (sinks !== undefined && sinks.length > 0) {
      await Promise.all(sinks.map((sink) => deliverMove(sink, move, this.options.invalidationTimeout, this.options.report)));
    }
    this.events?.onMoved?.(move);
    return written;
  }

  /** Moves kept by the move sinks for a retry (0 when healthy, or without sinks). */
  get pendingPurges(): number {
    let pending = 0;
    for (const sink of this.options.sinks ?? []) pending += sink.pending;
    return pending;
  }

  /** Waits until pending moves are written, up to a deadline. */
  flush(deadlineMs?: number): Promise<boolean> {
    return this.versions.flush(deadlineMs);
  }

  /** Stops background retries and drops the decoded templates. */
  close(): void {
    this.unsubscribe?.();
    this.auditor?.close();
    this.versions.close();
    for (const sink of this.options.sinks ?? []) sink.close?.();
    this.codec.clear();
    this.keys.clear();
  }
}

/** The versions a read found, in order after the entry's row: absent or unusable ones undefined. */
function tokensOf(rows: readonly unknown[]): Array<string | undefined> {
  const tokens: Array<string | undefined> = new Array(rows.length - 1);
  for (let i = 1; i < rows.length; i++) tokens[i - 1] = asToken(rows[i]);
  return tokens;
}
