import { CachingError, errorMessage } from '../errors.js';
import { monotonicNow } from './clock.js';
import type { Codec } from './codec.js';
import { formatEntry } from './entry.js';
import type { BypassReason } from './events.js';
import { type Flights, type SharedResult, untilAborted } from './flights.js';
import { md5 } from './hash.js';
import type { KeyFormat } from './keys.js';
import { type Probe, takeTurn } from './lease.js';
import type { Computed, EngineOptions, FillOutcome, QueryPlan, ReadOutcome, VersionsRead } from './plan.js';
import type { StaleRefreshes } from './refresh.js';
import type { CacheStore, Leases } from './store.js';
import type { VersionBook } from './versions.js';

/** What the miss path shares with the engine that owns it. */
export interface FillDeps {
  readonly store: CacheStore;
  readonly versions: VersionBook;
  readonly flights: Flights;
  readonly codec: Codec;
  readonly refreshes: StaleRefreshes;
  readonly options: EngineOptions;
  readonly leases: Leases | undefined;
  readonly keys: KeyFormat;
  readonly told: (
    plan: QueryPlan,
    status: 'hit' | 'miss' | 'bypass' | 'coalesced' | 'stale',
    startedAt: number,
    reason?: BypassReason,
  ) => void;
  readonly readRows: (plan: QueryPlan, readAt: number) => Promise<ReadOutcome>;
}

const KEEP = (): void => {};

/** A miss this process leads: its resolver, and how its flight takes identical misses. */
interface Lead<R> {
  readonly plan: QueryPlan;
  readonly miss: VersionsRead;
  readonly compute: () => Promise<Computed<R>>;
  /** Lets identical misses join under another flight key too (the versions this lead seeds). */
  readonly alsoAs: (flightKey: string) => void;
  /** Stops misses joining under the key the flight was started with. */
  readonly retire: () => void;
  /** A background refresh of a stale entry: it was told as the stale read that started it. */
  readonly background: boolean;
}

/** What a lead gives its own caller, and what identical misses may share (only a success). */
interface Led<R> {
  readonly own: FillOutcome<R>;
  readonly shared: SharedResult | undefined;
}

/**
 * The miss path of the engine: single-flight of identical misses, the cross-process lease of `lock`, seeding the
 * versions a miss found absent before its resolver runs, and storing the result under the versions read. Only
 * successful results are shared; background refreshes of stale entries take the same path.
 */
export class MissFiller {
  private readonly isTagVersion: (key: string) => boolean;

  constructor(private readonly d: FillDeps) {
    this.isTagVersion = (key) => d.keys.isTagVersionKey(key);
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
      let token = miss.tokens[i] ?? this.d.versions.reusableSeed(plan.keys[i + 1] as string, miss.readAt);
      if (token === undefined) {
        token = '-';
        provisional = true;
      }
      tokens += i === 0 ? token : ` ${token}`;
    }
    const flightKey = `${plan.entryKey}\n${tokens}`;
    for (;;) {
      const flight = this.d.flights.joinable(flightKey);
      if (flight === undefined)
        return this.d.flights.lead(flightKey, (alsoAs, retire) =>
          this.leadLocked({ plan, miss, compute, alsoAs, retire: provisional ? retire : KEEP, background: false }),
        );
      const waitedFrom = monotonicNow();
      const shared = await untilAborted(flight, signal);
      if (shared !== undefined) {
        const value = this.d.codec.decode(shared.payload, plan.entryKey);
        // The wait is the leader's resolver time, not the cache's: only the read counts.
        this.d.told(plan, 'coalesced', miss.readAt + (monotonicNow() - waitedFrom));
        return shared.tokens === undefined
          ? { kind: 'shared', value, etag: shared.etag }
          : { kind: 'shared', value, etag: shared.etag, tokens: shared.tokens };
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
    if (this.d.flights.joinable(flightKey) !== undefined) return;
    let failure: { error: unknown } | undefined;
    const run = async (): Promise<Computed<R>> => {
      const computed = await compute();
      if (!computed.ok) failure = { error: computed.error };
      return computed;
    };
    const done = this.d.flights
      // With `lock`, the lease makes it one refresh across processes too.
      .lead(flightKey, (alsoAs) => this.leadLocked({ plan, miss: stale, compute: run, alsoAs, retire: KEEP, background: true }))
      .then(
        () => {
          if (failure !== undefined) this.d.refreshes.failed(plan, stale.freshUntil, failure.error, this.d.options.report);
        },
        (error: unknown) => this.d.refreshes.failed(plan, stale.freshUntil, error, this.d.options.report),
      );
    this.d.refreshes.track(done);
  }

  /**
   * The lease step of a locked miss, before {@link lead}: waits for this miss's turn across processes, and
   * either takes the entry another process stored meanwhile (what a read calls a hit, so its versions are
   * current) or leads, holding the lease until the entry is stored. Without leases it is `lead` itself.
   */
  private async leadLocked<R>(job: Lead<R>): Promise<Led<R>> {
    const { plan, miss, background } = job;
    const { leases, options } = this.d;
    if (!plan.lock || leases === undefined || options.lock === undefined || !this.d.store.available) {
      return this.lead(job);
    }
    const waitFrom = monotonicNow();
    const turn = await takeTurn(leases, this.d.keys.lease(plan.entryKey), options.lock, () => this.probe(plan));
    if (turn.kind === 'lead') {
      try {
        return await this.lead(job);
      } finally {
        turn.release();
      }
    }
    const { value, etag, tokens } = turn.found;
    // The wait is another process's resolver time, not the cache's: only the read counts (a refresh was told as its stale read).
    if (!background) this.d.told(plan, 'coalesced', miss.readAt + (monotonicNow() - waitFrom));
    let shared: SharedResult | undefined;
    try {
      // Identical misses of this process decode their own copies of it.
      shared = { payload: this.d.codec.encode(value, Number.POSITIVE_INFINITY), etag, tokens };
    } catch {
      shared = undefined;
    }
    return { own: { kind: 'shared', value, etag, tokens }, shared };
  }

  /** A look at the store while waiting for a lease: a hit, a miss, or a fault that ends the wait. */
  private async probe(plan: QueryPlan): Promise<Probe<{ value: unknown; etag: string; tokens: string }>> {
    const read = await this.d.readRows(plan, monotonicNow());
    if (read.kind === 'hit') return { kind: 'hit', found: { value: read.value, etag: read.etag, tokens: read.tokens } };
    return read.kind === 'bypass' ? { kind: 'give-up' } : { kind: 'miss' };
  }

  private async lead<R>({ plan, miss, compute, alsoAs, retire, background }: Lead<R>): Promise<Led<R>> {
    const { tokens, written } = this.seedAbsent(plan, miss);
    // Misses that read the versions being seeded are identical to this one: let them join.
    if (tokens !== miss.tokens) alsoAs(`${plan.entryKey}\n${tokens.join(' ')}`);
    const seeded = await written;
    retire();
    const recorded = tokens.join(' ');
    const computeFrom = monotonicNow();
    const computed = await compute();
    const computeTime = monotonicNow() - computeFrom;
    // A background refresh was told as the stale read that started it.
    if (!background) this.d.told(plan, 'miss', miss.readAt + computeTime);
    if (!computed.ok)
      return { own: { kind: 'computed', result: computed.result, cached: false, etag: undefined, tokens: recorded }, shared: undefined };
    let payload: string;
    try {
      payload = this.d.codec.encode(computed.data, this.d.options.maxEntryBytes);
    } catch (cause) {
      this.d.options.report(
        new CachingError('encode', `the result of "${plan.path}" is not cached: ${errorMessage(cause)}`, {
          path: plan.path,
          key: plan.entryKey,
          cause,
        }),
      );
      return { own: { kind: 'computed', result: computed.result, cached: false, etag: undefined, tokens: recorded }, shared: undefined };
    }
    if (!seeded) {
      // The versions could not be seeded: the result is fresh, so identical waiters may share it, but nothing is stored.
      return {
        own: { kind: 'computed', result: computed.result, cached: false, etag: undefined, tokens: recorded },
        shared: { payload, etag: md5(payload), tokens: recorded },
      };
    }
    // With a window the entry records when its TTL ends and the store keeps it through the window.
    const window = plan.staleWhileRevalidate;
    // Every entry records when its TTL ends, and a read past it is a miss whatever the store says: stores that keep a
    // key longer than asked (a near cache between expiries, an adapter rounding TTLs) cannot serve an expired entry.
    const entry = formatEntry(recorded, payload, Date.now() + plan.ttl);
    // An invalidation this process could not write covers these keys: storing would only add an entry it must not serve.
    const cached = !this.d.versions.covers(plan.keys) && (await this.d.store.set(plan.entryKey, entry.text, plan.ttl + window, plan.path));
    if (cached) this.d.refreshes.stored(plan.entryKey);
    return {
      own: { kind: 'computed', result: computed.result, cached, etag: entry.etag, tokens: recorded },
      shared: { payload, etag: entry.etag, tokens: recorded },
    };
  }

  /** The tokens an entry records: those read, with absent versions seeded (written before the resolver runs). */
  private seedAbsent(plan: QueryPlan, miss: VersionsRead): { tokens: ReadonlyArray<string | undefined>; written: Promise<boolean> } {
    const read = miss.tokens;
    const absent: string[] = [];
    for (let i = 0; i < read.length; i++) if (read[i] === undefined) absent.push(plan.keys[i + 1] as string);
    if (absent.length === 0) return { tokens: read, written: Promise.resolve(true) };
    const seed = this.d.versions.seed(absent, plan.path, miss.readAt, this.isTagVersion, plan.ttl + plan.staleWhileRevalidate);
    let next = 0;
    return { tokens: read.map((token) => token ?? seed.tokens[next++]), written: seed.written };
  }
}
