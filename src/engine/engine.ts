import { CachingError, errorMessage } from '../errors.js';
import { capabilitiesOf, type Leases } from '../stores/capabilities.js';
import type { GuardedStore } from '../stores/guard.js';
import { type InputLimits, UncacheableInputError } from './canonical.js';
import { monotonicNow } from './clock.js';
import { Codec } from './codec.js';
import { formatEntry, readEntry } from './entry.js';
import type { BypassReason, EngineEvents } from './events.js';
import { Flights, type SharedResult } from './flights.js';
import { md5 } from './hash.js';
import { KeyFormat, type Scope } from './keys.js';
import { type LeaseSettings, type Probe, takeTurn } from './lease.js';
import { type EngineTargets, targetKeys } from './targets.js';
import { VersionBook } from './versions.js';

/** What a query asks of the cache: derived by the framework adapter from its request. */
export interface QueryRequest {
  /** The procedure path: part of the key, and what `paths` targets match. */
  readonly path: string;
  readonly scope: Scope;
  /** The input as the procedure receives it (after the transformer, before validation). */
  readonly input: unknown;
  /** Tags the entry depends on, already checked. */
  readonly tags: readonly string[] | undefined;
  /** Entry lifetime in ms. */
  readonly ttl: number;
  /** Stale-while-revalidate window in ms past `ttl`, during which an expired entry is served and refreshed; 0 or absent: none. */
  readonly staleWhileRevalidate?: number | undefined;
  /** Serve an expired entry within the window even after its refresh failed in this process. */
  readonly staleIfError?: boolean | undefined;
  /** Run the resolver of a miss once across processes (a lease in the store), when the store offers leases. */
  readonly lock?: boolean | undefined;
}

/** Where a query's entry lives and which versions it depends on. */
export interface QueryPlan {
  readonly path: string;
  readonly entryKey: string;
  /** The entry key, then its version keys: read together in one store call. */
  readonly keys: readonly string[];
  readonly ttl: number;
  readonly scope: Scope['kind'];
  /** The tags the entry depends on, sorted and unique (what a client is told it was cached under). */
  readonly tags: readonly string[];
  /** Stale-while-revalidate window in ms (0: none): the entry is stored for `ttl` + this. */
  readonly staleWhileRevalidate: number;
  readonly staleIfError: boolean;
  readonly lock: boolean;
}

/** The versions a read found (absent ones undefined), and when it started: what a fill stores its result under. */
export interface VersionsRead {
  readonly tokens: ReadonlyArray<string | undefined>;
  readonly readAt: number;
}

/** A read's outcome; `miss` carries what {@link CacheEngine.fill} needs. */
export type ReadOutcome =
  | { readonly kind: 'hit'; readonly value: unknown; readonly etag: string }
  | { readonly kind: 'miss'; readonly tokens: ReadonlyArray<string | undefined>; readonly readAt: number }
  /** An expired entry within the plan's stale-while-revalidate window, its versions all current: serve it, then {@link CacheEngine.refresh}. */
  | {
      readonly kind: 'stale';
      readonly value: unknown;
      readonly etag: string;
      readonly tokens: ReadonlyArray<string | undefined>;
      readonly readAt: number;
      /** When the entry's TTL ended (wall clock, ms). */
      readonly freshUntil: number;
    }
  | { readonly kind: 'bypass'; readonly reason: Exclude<BypassReason, 'disabled' | 'input'> };

/** What the resolver produced: the framework's own result, and whether it is a success worth caching. */
export interface Computed<R> {
  readonly result: R;
  readonly ok: boolean;
  /** The value to cache, when ok. */
  readonly data: unknown;
  /** What failed, when not ok: a background refresh reports it, since no caller sees it. */
  readonly error?: unknown;
}

/** A miss's outcome: the caller's own computed result, or a copy of an identical concurrent miss's success. */
export type FillOutcome<R> =
  | { readonly kind: 'computed'; readonly result: R; readonly cached: boolean; readonly etag: string | undefined }
  | { readonly kind: 'shared'; readonly value: unknown; readonly etag: string };

/** Everything the engine needs, resolved and validated by `createCaching`. */
export interface EngineOptions {
  readonly prefix: string;
  readonly store: GuardedStore;
  readonly versionTtl: number;
  readonly invalidationTimeout: number;
  readonly maxPendingInvalidations: number;
  readonly retryDelay: number;
  readonly retryMax: number;
  readonly maxEntryBytes: number;
  readonly inputLimits: InputLimits;
  readonly report: (error: CachingError) => void;
  /** Observers of every read, move and store call (stats, diagnostics channels). */
  readonly events?: EngineEvents | undefined;
  /** How locked misses share a lease across processes; plans with `lock` need it. */
  readonly lock?: LeaseSettings | undefined;
}

const NO_TAGS: readonly string[] = [];
const KEEP = (): void => {};
const BREAKER_OPEN: ReadOutcome = { kind: 'bypass', reason: 'breaker-open' };
const PENDING: ReadOutcome = { kind: 'bypass', reason: 'pending-invalidation' };
const STORE_ERROR: ReadOutcome = { kind: 'bypass', reason: 'store-error' };
/** Failed refreshes remembered per process; beyond this the oldest is forgotten (its entry may then be served stale once more). */
const MAX_FAILED_REFRESHES = 1_000;

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
  private readonly store: GuardedStore;
  private readonly versions: VersionBook;
  private readonly flights = new Flights();
  private readonly codec = new Codec();
  /** Entry key → `freshUntil` of the expired entry whose refresh failed here: not served stale again without staleIfError. */
  private readonly failedRefreshes = new Map<string, number>();
  /** Background refreshes running, so that none throws into nowhere and {@link idle} can wait for them. */
  private readonly refreshing = new Set<Promise<void>>();

  private readonly events: EngineEvents | undefined;
  /** The store's leases, when it offers them (createRedisStore): what `lock` takes. */
  private readonly leases: Leases | undefined;

  constructor(private readonly options: EngineOptions) {
    this.events = options.events;
    const offered = capabilitiesOf(options.store.keyv);
    // A Cluster store reads keys of one slot in one command: lay keys out so that a hit touches few slots.
    this.keys = new KeyFormat(options.prefix, { hashTags: offered.keyLayout === 'hash-tags' });
    this.leases = offered.leases;
    this.store = options.store;
    this.versions = new VersionBook(options.store, {
      versionTtl: options.versionTtl,
      invalidationTimeout: options.invalidationTimeout,
      maxPending: options.maxPendingInvalidations,
      allKey: this.keys.allVersion(),
      retryMin: options.retryDelay,
      retryMax: options.retryMax,
      report: options.report,
      events: options.events,
    });
  }

  /** Whether a store key is one of this engine's version keys (`{prefix}:v:…`), for stores that keep versions apart. */
  private readonly isTagVersion = (key: string): boolean => key.startsWith(this.tagVersionPrefix);
  private get tagVersionPrefix(): string {
    return this.keys.tagVersion('');
  }

  isVersionKey(key: string): boolean {
    return this.keys.isVersionKey(key);
  }

  /** Version keys whose move is not written yet (0 when healthy). */
  get pendingInvalidations(): number {
    return this.versions.pendingCount;
  }

  /** Keys of a query. Throws a CachingError (`key`) for an input that cannot be keyed exactly. */
  plan(request: QueryRequest): QueryPlan {
    const { path, scope } = request;
    let inputHash: string;
    try {
      inputHash = this.keys.inputHash(request.input, this.options.inputLimits);
    } catch (cause) {
      const reason = cause instanceof UncacheableInputError ? cause.message : errorMessage(cause);
      throw new CachingError('key', `cannot derive a cache key for "${path}": ${reason}`, { path, cause });
    }
    const segment = this.keys.scopeSegment(scope);
    const entryKey = this.keys.entry(path, segment, inputHash);
    const keys = [entryKey, this.keys.allVersion()];
    if (scope.kind !== 'public') keys.push(this.keys.scopeVersion(segment));
    for (const key of this.keys.pathVersions(path)) keys.push(key);
    // Sorted so that the order a callback lists tags in cannot split entries.
    const tags = request.tags !== undefined && request.tags.length > 0 ? [...new Set(request.tags)].sort() : NO_TAGS;
    for (const tag of tags) keys.push(this.keys.tagVersion(tag));
    return {
      path,
      entryKey,
      keys,
      ttl: request.ttl,
      scope: scope.kind,
      tags,
      staleWhileRevalidate: request.staleWhileRevalidate ?? 0,
      staleIfError: request.staleIfError ?? false,
      lock: request.lock === true,
    };
  }

  /** Reads the entry and its versions in one store call. */
  async read(plan: QueryPlan): Promise<ReadOutcome> {
    const startedAt = monotonicNow();
    const outcome = await this.readRows(plan, startedAt);
    if (outcome.kind !== 'miss')
      this.told(
        plan,
        outcome.kind === 'bypass' ? 'bypass' : outcome.kind,
        startedAt,
        outcome.kind === 'bypass' ? outcome.reason : undefined,
      );
    return outcome;
  }

  /** Tells observers that the adapter bypassed the cache for a call (caching disabled, input not keyable). */
  bypassed(path: string, scope: Scope['kind'], reason: 'disabled' | 'input'): void {
    this.events?.onRead?.({ path, scope, status: 'bypass', reason, durationMs: 0 });
  }

  private told(plan: QueryPlan, status: 'hit' | 'miss' | 'bypass' | 'coalesced' | 'stale', startedAt: number, reason?: BypassReason): void {
    this.events?.onRead?.({ path: plan.path, scope: plan.scope, status, reason, durationMs: monotonicNow() - startedAt });
  }

  private async readRows(plan: QueryPlan, readAt: number): Promise<ReadOutcome> {
    if (!this.store.available) return BREAKER_OPEN;
    if (this.versions.covers(plan.keys)) return PENDING;
    const rows = await this.store.getMany(plan.keys as string[], plan.path);
    if (rows === undefined) return STORE_ERROR;
    const tokens: Array<string | undefined> = new Array(rows.length - 1);
    let complete = true;
    for (let i = 1; i < rows.length; i++) {
      const token = asToken(rows[i]);
      tokens[i - 1] = token;
      if (token === undefined) complete = false;
    }
    // An absent version matches no entry: an entry from before a lost key's last move must not revive.
    const hit = complete ? readEntry(rows[0], tokens.join(' ')) : undefined;
    if (hit !== undefined) {
      let stale = false;
      if (hit.freshUntil !== undefined) {
        // Wall clock, since another process may have written the entry: skew moves only this boundary (README, "Stale-while-revalidate").
        const now = Date.now();
        if (now >= hit.freshUntil) {
          if (!this.servesStale(plan, hit.freshUntil, now)) return { kind: 'miss', tokens, readAt };
          stale = true;
        }
      }
      try {
        const value = this.codec.decode(hit.payload, plan.entryKey);
        if (stale) return { kind: 'stale', value, etag: hit.etag, tokens, readAt, freshUntil: hit.freshUntil as number };
        return { kind: 'hit', value, etag: hit.etag };
      } catch (cause) {
        const { path, entryKey: key } = plan;
        this.options.report(new CachingError('read', `cannot decode the entry of "${path}"`, { path, key, cause }));
      }
    }
    return { kind: 'miss', tokens, readAt };
  }

  /** Whether an entry past its TTL (its versions current) may be served: within the window, and not after a failed refresh unless staleIfError. */
  private servesStale(plan: QueryPlan, freshUntil: number, now: number): boolean {
    if (now >= freshUntil + plan.staleWhileRevalidate) return false;
    return plan.staleIfError || this.failedRefreshes.size === 0 || this.failedRefreshes.get(plan.entryKey) !== freshUntil;
  }

  /**
   * Fills a miss: runs `compute` once per identical concurrent miss (same entry, same versions read),
   * stores a successful result under the versions read, and hands followers a fresh copy of it. A
   * follower whose leader failed runs its own `compute`; one whose `signal` aborts stops waiting.
   */
  async fill<R>(plan: QueryPlan, miss: VersionsRead, compute: () => Promise<Computed<R>>, signal?: AbortSignal): Promise<FillOutcome<R>> {
    // Identical misses join one flight: same entry, same versions, counting a version read as absent as the token
    // this process is seeding for it (in flight, or landed after this read), since that is what the miss would record.
    let tokens = '';
    // A key with an absent version that nothing is seeding yet names no versions: it may be joined only until the
    // leader's seeds land (after that, a miss reading the version absent found it lost again, maybe after a move).
    let provisional = false;
    for (let i = 0; i < miss.tokens.length; i++) {
      let token = miss.tokens[i] ?? this.versions.reusableSeed(plan.keys[i + 1] as string, miss.readAt);
      if (token === undefined) {
        token = '-';
        provisional = true;
      }
      tokens += i === 0 ? token : ` ${token}`;
    }
    const flightKey = `${plan.entryKey}\n${tokens}`;
    for (;;) {
      const flight = this.flights.joinable(flightKey);
      if (flight === undefined)
        return this.flights.lead(flightKey, (alsoAs, retire) => this.leadLocked(plan, miss, compute, alsoAs, provisional ? retire : KEEP));
      const waitedFrom = monotonicNow();
      const shared = await untilAborted(flight, signal);
      if (shared !== undefined) {
        const value = this.codec.decode(shared.payload, plan.entryKey);
        // The wait is the leader's resolver time, not the cache's: only the read counts.
        this.told(plan, 'coalesced', miss.readAt + (monotonicNow() - waitedFrom));
        return { kind: 'shared', value, etag: shared.etag };
      }
    }
  }

  /**
   * Refreshes an entry that was just served stale, in the background: runs `compute` unless a refresh or an
   * identical miss (same entry, same versions) is already running in this process, and stores a success under
   * the versions the stale read found, so that a move since that read leaves it unreachable, as for any miss.
   * Never throws and never rejects: a failure is reported to onError (operation `refresh`, the resolver's error as
   * cause), and unless the plan says staleIfError this process stops serving that entry stale.
   */
  refresh<R>(plan: QueryPlan, stale: Extract<ReadOutcome, { kind: 'stale' }>, compute: () => Promise<Computed<R>>): void {
    const flightKey = `${plan.entryKey}\n${stale.tokens.map((token) => token ?? '-').join(' ')}`;
    if (this.flights.joinable(flightKey) !== undefined) return;
    let failure: { error: unknown } | undefined;
    const run = async (): Promise<Computed<R>> => {
      const computed = await compute();
      if (!computed.ok) failure = { error: computed.error };
      return computed;
    };
    const done = this.flights
      // With `lock`, the lease makes it one refresh across processes too.
      .lead(flightKey, (alsoAs) => this.leadLocked(plan, stale, run, alsoAs, KEEP, true))
      .then(
        () => {
          if (failure !== undefined) this.refreshFailed(plan, stale.freshUntil, failure.error);
        },
        (error: unknown) => this.refreshFailed(plan, stale.freshUntil, error),
      );
    this.refreshing.add(done);
    void done.then(() => this.refreshing.delete(done));
  }

  /** Resolves once no background refresh is running (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    while (this.refreshing.size > 0) await Promise.all(this.refreshing);
  }

  private refreshFailed(plan: QueryPlan, freshUntil: number, cause: unknown): void {
    // Remembered with staleIfError too (a read decides): bounded, and forgotten when the key is stored again.
    if (this.failedRefreshes.size >= MAX_FAILED_REFRESHES) this.failedRefreshes.delete(this.failedRefreshes.keys().next().value as string);
    this.failedRefreshes.set(plan.entryKey, freshUntil);
    const { path, entryKey: key } = plan;
    try {
      this.options.report(
        new CachingError('refresh', `the background refresh of "${path}" failed: ${errorMessage(cause)}`, { path, key, cause }),
      );
    } catch {
      // A refresh has no caller to tell: a throwing onError must not become an unhandled rejection.
    }
  }

  /** Version keys that targets move. Throws a CachingError for an invalid target. */
  targetKeys(targets: EngineTargets): string[] {
    return targetKeys(this.keys, targets);
  }

  /** Moves versions; resolves to false when the move is left pending (retried in the background). */
  invalidate(keys: readonly string[], path?: string): Promise<boolean> {
    return this.versions.move(keys, path);
  }

  /** Waits until pending moves are written, up to a deadline. */
  flush(deadlineMs?: number): Promise<boolean> {
    return this.versions.flush(deadlineMs);
  }

  /** Stops background retries and drops the decoded templates. */
  close(): void {
    this.versions.close();
    this.codec.clear();
    this.keys.clear();
  }

  /**
   * The lease step of a locked miss, before {@link lead}: waits for this miss's turn across processes, and
   * either takes the entry another process stored meanwhile (what a read calls a hit, so its versions are
   * current) or leads, holding the lease until the entry is stored. Without leases it is `lead` itself.
   */
  private async leadLocked<R>(
    plan: QueryPlan,
    miss: VersionsRead,
    compute: () => Promise<Computed<R>>,
    alsoAs: (flightKey: string) => void,
    retire: () => void,
    background = false,
  ): Promise<{ own: FillOutcome<R>; shared: SharedResult | undefined }> {
    const { leases, options } = this;
    if (!plan.lock || leases === undefined || options.lock === undefined || !this.store.available) {
      return this.lead(plan, miss, compute, alsoAs, retire, background);
    }
    const waitFrom = monotonicNow();
    const turn = await takeTurn(leases, this.keys.lease(plan.entryKey), options.lock, () => this.probe(plan));
    if (turn.kind === 'lead') {
      try {
        return await this.lead(plan, miss, compute, alsoAs, retire, background);
      } finally {
        turn.release();
      }
    }
    const { value, etag } = turn.found;
    // The wait is another process's resolver time, not the cache's: only the read counts (a refresh was told as its stale read).
    if (!background) this.told(plan, 'coalesced', miss.readAt + (monotonicNow() - waitFrom));
    let shared: SharedResult | undefined;
    try {
      // Identical misses of this process decode their own copies of it.
      shared = { payload: this.codec.encode(value, Number.POSITIVE_INFINITY), etag };
    } catch {
      shared = undefined;
    }
    return { own: { kind: 'shared', value, etag }, shared };
  }

  /** A look at the store while waiting for a lease: a hit, a miss, or a fault that ends the wait. */
  private async probe(plan: QueryPlan): Promise<Probe<{ value: unknown; etag: string }>> {
    const read = await this.readRows(plan, monotonicNow());
    if (read.kind === 'hit') return { kind: 'hit', found: { value: read.value, etag: read.etag } };
    return read.kind === 'bypass' ? { kind: 'give-up' } : { kind: 'miss' };
  }

  private async lead<R>(
    plan: QueryPlan,
    miss: VersionsRead,
    compute: () => Promise<Computed<R>>,
    alsoAs: (flightKey: string) => void,
    retire: () => void,
    background = false,
  ): Promise<{ own: FillOutcome<R>; shared: SharedResult | undefined }> {
    const { tokens, written } = this.seedAbsent(plan, miss);
    // Misses that read the versions being seeded are identical to this one: let them join.
    if (tokens !== miss.tokens) alsoAs(`${plan.entryKey}\n${tokens.join(' ')}`);
    const seeded = await written;
    retire();
    const computeFrom = monotonicNow();
    const computed = await compute();
    const computeTime = monotonicNow() - computeFrom;
    // A background refresh was told as the stale read that started it.
    if (!background) this.told(plan, 'miss', miss.readAt + computeTime);
    if (!computed.ok) return { own: { kind: 'computed', result: computed.result, cached: false, etag: undefined }, shared: undefined };
    let payload: string;
    try {
      payload = this.codec.encode(computed.data, this.options.maxEntryBytes);
    } catch (cause) {
      this.options.report(
        new CachingError('encode', `the result of "${plan.path}" is not cached: ${errorMessage(cause)}`, {
          path: plan.path,
          key: plan.entryKey,
          cause,
        }),
      );
      return { own: { kind: 'computed', result: computed.result, cached: false, etag: undefined }, shared: undefined };
    }
    if (!seeded) {
      // The versions could not be seeded: the result is fresh, so identical waiters may share it, but nothing is stored.
      return {
        own: { kind: 'computed', result: computed.result, cached: false, etag: undefined },
        shared: { payload, etag: md5(payload) },
      };
    }
    // With a window the entry records when its TTL ends and the store keeps it through the window.
    const window = plan.staleWhileRevalidate;
    // Every entry records when its TTL ends, and a read past it is a miss whatever the store says: stores that keep a
    // key longer than asked (a near cache between expiries, an adapter rounding TTLs) cannot serve an expired entry.
    const entry = formatEntry(tokens.join(' '), payload, Date.now() + plan.ttl);
    // An invalidation this process could not write covers these keys: storing would only add an entry it must not serve.
    const cached = !this.versions.covers(plan.keys) && (await this.store.set(plan.entryKey, entry.text, plan.ttl + window, plan.path));
    if (cached && this.failedRefreshes.size > 0) this.failedRefreshes.delete(plan.entryKey);
    return { own: { kind: 'computed', result: computed.result, cached, etag: entry.etag }, shared: { payload, etag: entry.etag } };
  }

  /** The tokens an entry records: those read, with absent versions seeded (written before the resolver runs). */
  private seedAbsent(plan: QueryPlan, miss: VersionsRead): { tokens: ReadonlyArray<string | undefined>; written: Promise<boolean> } {
    const read = miss.tokens;
    const absent: string[] = [];
    for (let i = 0; i < read.length; i++) if (read[i] === undefined) absent.push(plan.keys[i + 1] as string);
    if (absent.length === 0) return { tokens: read, written: Promise.resolve(true) };
    const seed = this.versions.seed(absent, plan.path, miss.readAt, this.isTagVersion, plan.ttl + plan.staleWhileRevalidate);
    let next = 0;
    return { tokens: read.map((token) => token ?? seed.tokens[next++]), written: seed.written };
  }
}

/** A version row as a token: a non-empty string that cannot be confused with the entry format's separators. */
function asToken(row: unknown): string | undefined {
  if (typeof row !== 'string' || row.length === 0 || row.length > 64) return undefined;
  return row.includes(' ') || row.includes('\n') ? undefined : row;
}

/** The promise's value, unless the signal aborts first (then its reason is thrown). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
