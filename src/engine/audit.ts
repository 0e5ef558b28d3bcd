import { canonicalInput } from './canonical.js';
import { monotonicNow } from './clock.js';
import type { Codec } from './codec.js';
import { asToken } from './entry.js';
import type { AuditEvent, AuditReason, Divergence, EngineEvents } from './events.js';
import { LoopLag } from './loop-lag.js';
import type { Computed, QueryPlan, ReadOutcome } from './plan.js';
import { RecentMoves } from './recent-moves.js';
import type { CacheStore } from './store.js';
import type { VersionBook } from './versions.js';

/**
 * The auditor's settings, resolved by createCaching from its `audit` option.
 *
 * @example
 * ```ts
 * const settings: AuditSettings = { sampleRate: 0.01, maxConcurrent: 4, window: 1_000, maxLag: 100, onDivergence: undefined };
 * ```
 */
export interface AuditSettings {
  /** Share of hits checked, 0 to 1. */
  readonly sampleRate: number;
  /** Checks running at once at most (a check holds its place through its window). */
  readonly maxConcurrent: number;
  /** How long after the resolver ran again the versions are read again, in ms: moves made meanwhile discard the check. */
  readonly window: number;
  /** Event-loop lateness above which sampled hits are not checked, in ms. */
  readonly maxLag: number;
  /** Told of every divergence, after observers (development mode logs or throws here). */
  readonly onDivergence: ((divergence: Divergence) => void) | undefined;
}

/** A hit as the auditor checks it. */
export type Hit = Extract<ReadOutcome, { kind: 'hit' }>;

/** What the auditor shares with the engine that owns it. */
export interface AuditDeps {
  readonly store: CacheStore;
  readonly versions: VersionBook;
  readonly codec: Codec;
  readonly events: EngineEvents | undefined;
  readonly maxEntryBytes: number;
}

/** Bounds of the canonical walk of a result: generous (a result is bounded by maxEntryBytes already). */
const COMPARE_DEPTH = 256;

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * The consistency auditor: on a sampled hit, after its caller was answered, runs the resolver again and compares
 * the result with the entry served. A difference while every version the entry depends on stayed put through
 * `window` after the run is a divergence: data changed without an invalidation that reaches the entry.
 *
 * A check is discarded, never reported, when any version moved or could not be read (a mutation of this or another
 * process declared the change), when this process has an unwritten invalidation covering the entry, or when the
 * resolver failed. Sampled hits are skipped while the store's breaker is open, while the event loop is late, and
 * beyond `maxConcurrent` checks. Only query hits are ever checked: nothing here runs a mutation.
 */
export class Auditor {
  private running = 0;
  private readonly lag = new LoopLag();
  private readonly moves = new RecentMoves();
  private readonly checks = new Set<Promise<void>>();

  constructor(
    private readonly settings: AuditSettings,
    private readonly d: AuditDeps,
  ) {}

  /** Whether to check this hit: a draw at the sample rate (the skip rules come after, in {@link check}). */
  sampled(): boolean {
    const rate = this.settings.sampleRate;
    return rate >= 1 || (rate > 0 && Math.random() < rate);
  }

  /** Remembers an invalidation made by the mutation at `path`, to name it in divergences found later. */
  moved(path: string): void {
    this.moves.record(path, Date.now());
  }

  /** Checks a sampled hit in the background; call before the caller gets the value. Never throws, never rejects. */
  check(plan: QueryPlan, hit: Hit, compute: () => Promise<Computed<unknown>>): void {
    const skip = this.skipReason();
    if (skip !== undefined) {
      this.tell({ path: plan.path, scope: plan.scope, outcome: 'skipped', reason: skip, durationMs: 0 });
      return;
    }
    this.running++;
    // On a turn of its own: the resolver's first synchronous steps must not run before the caller has its answer.
    const done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run(plan, hit, compute))
      .catch(() => this.tell({ path: plan.path, scope: plan.scope, outcome: 'discarded', reason: 'resolver', durationMs: 0 }))
      .finally(() => {
        this.running--;
        this.checks.delete(done);
      });
    this.checks.add(done);
  }

  /** Resolves once no check is running. */
  async idle(): Promise<void> {
    while (this.checks.size > 0) await Promise.all(this.checks);
  }

  close(): void {
    this.lag.close();
  }

  private skipReason(): AuditReason | undefined {
    if (!this.d.store.available) return 'breaker-open';
    if (this.running >= this.settings.maxConcurrent) return 'busy';
    if (this.lag.ms > this.settings.maxLag) return 'lagging';
    return undefined;
  }

  private async run(plan: QueryPlan, hit: Hit, compute: () => Promise<Computed<unknown>>): Promise<void> {
    const { path, scope } = plan;
    const startedAt = monotonicNow();
    const computed = await compute();
    const durationMs = monotonicNow() - startedAt;
    const discard = (reason: AuditReason) => this.tell({ path, scope, outcome: 'discarded', reason, durationMs });
    if (!computed.ok) return discard('resolver');
    // A mutation's invalidation lands a moment after its write, maybe in another process, maybe seen here through a
    // near cache later still: only versions still unmoved a window after the run make a difference a divergence.
    if (this.settings.window > 0) await sleep(this.settings.window);
    if (this.d.versions.covers(plan.keys)) return discard('pending-invalidation');
    const rows = await this.d.store.getMany(plan.keys.slice(1) as string[], path);
    if (rows === undefined) return discard('store-error');
    if (joined(rows) !== hit.tokens) return discard('moved');
    const agrees = this.agrees(hit.payload, computed.data);
    if (agrees === undefined) return discard('resolver');
    if (agrees) return this.tell({ path, scope, outcome: 'agreed', durationMs });
    const now = Date.now();
    const storedAt = hit.freshUntil === undefined ? undefined : hit.freshUntil - plan.ttl;
    const divergence: Divergence = {
      path,
      scope,
      outcome: 'diverged',
      durationMs,
      tags: plan.tags,
      ageMs: storedAt === undefined ? undefined : Math.max(0, now - storedAt),
      mutations: this.moves.since(storedAt),
    };
    this.tell(divergence);
    try {
      this.settings.onDivergence?.(divergence);
    } catch {
      // The hook runs in the background: what it throws has nowhere to go (development mode throws on its own turn).
    }
  }

  /**
   * Whether the fresh result equals the served payload, both as the cache would hand them out (decoded), compared by
   * canonical text (object keys sorted, so key order is no difference); undefined when they cannot be compared.
   */
  private agrees(payload: string, data: unknown): boolean | undefined {
    const { codec, maxEntryBytes } = this.d;
    let fresh: string;
    try {
      fresh = codec.encode(data, Number.POSITIVE_INFINITY);
    } catch {
      return undefined;
    }
    if (fresh === payload) return true;
    try {
      const limits = { maxInputBytes: 4 * Math.max(maxEntryBytes, fresh.length, payload.length), maxInputDepth: COMPARE_DEPTH };
      return canonicalInput(codec.decode(fresh), limits) === canonicalInput(codec.decode(payload), limits);
    } catch {
      // A value the canonical walk refuses (a class instance registered with superjson): no verdict.
      return undefined;
    }
  }

  private tell(event: AuditEvent | Divergence): void {
    try {
      this.d.events?.onAudit?.(event);
    } catch {
      // An observer's fault must not become an unhandled rejection.
    }
  }
}

/** Version rows as the hit path joins them; an absent or unusable one makes a text no hit matched. */
function joined(rows: readonly unknown[]): string | undefined {
  let text = '';
  for (let i = 0; i < rows.length; i++) {
    const token = asToken(rows[i]);
    if (token === undefined) return undefined;
    text += i === 0 ? token : ` ${token}`;
  }
  return text;
}
