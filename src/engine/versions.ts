import { randomUUID } from 'node:crypto';
import { CachingError } from '../errors.js';
import { afterPendingIo, monotonicNow } from './clock.js';
import type { EngineOptions } from './plan.js';
import type { CacheStore } from './store.js';

/** How the version book writes and bounds its moves: the engine's settings for them. */
export type VersionBookOptions = Pick<
  EngineOptions,
  'versionTtl' | 'invalidationTimeout' | 'maxPendingInvalidations' | 'retryDelay' | 'retryMax' | 'report' | 'events'
>;

/** A fresh token for an absent version key: offered to identical misses while in flight, and to misses that read before it landed. */
interface Seed {
  readonly token: string;
  readonly written: Promise<boolean>;
  /** When the write was answered (infinity while in flight). */
  landedAt: number;
}

/** How long a seeded token is offered to other misses of the same version after it landed, in ms. */
const SEED_REUSE_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Version keys written in one store call: small enough to fit the write timeout, large enough to drain fast. */
const CHUNK = 200;

/**
 * Version keys and their moves. Keyv has no atomic increment, and none is
 * needed: a move writes a fresh random token, and an entry is valid only while
 * every version it recorded is still current. Unique tokens make moves
 * commutative, so retries, races between processes and late writes can only
 * ever cause a miss, never a stale hit.
 *
 * An absent version key matches no entry: entries only record tokens that
 * were in the store, so a version key that was evicted, deleted or expired
 * costs misses, never the revival of an entry from before a move. A miss that
 * finds a key absent {@link seed}s it with a fresh token before its resolver
 * runs, so what it stores is newer than any move that token overwrote.
 *
 * Moves are never skipped by the circuit breaker (it protects reads). A move
 * that cannot be written in time stays pending: `covers` makes this process
 * bypass the keys, and a background retry writes them in chunks. Pending keys
 * are bounded: above `maxPendingInvalidations` they collapse into one move of the global
 * version, coarse but O(1) and always correct.
 */
export class VersionBook {
  /** Version key → the generation of its latest unwritten move. */
  private readonly pending = new Map<string, number>();
  /** Seeds in flight, so that concurrent misses on one absent key share one token. */
  private readonly seeding = new Map<string, Seed>();
  private generation = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private retrying = false;
  private closed = false;

  constructor(
    private readonly store: CacheStore,
    private readonly options: VersionBookOptions,
    /** The global version: moving it invalidates everything. */
    private readonly allKey: string,
  ) {
    this.retryDelay = options.retryDelay;
  }

  /** Invalidations of this process not yet written: how many version keys wait. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** True when any of the keys has a move this process could not write yet. */
  covers(keys: readonly string[]): boolean {
    if (this.pending.size === 0) return false;
    if (this.pending.has(this.allKey)) return true;
    for (const key of keys) if (this.pending.has(key)) return true;
    return false;
  }

  /**
   * Moves versions to fresh tokens and waits for the write, up to `invalidationTimeout`.
   * Resolves to true when written; otherwise the keys stay pending (bypassed here) and are
   * retried in the background.
   */
  async move(keys: readonly string[], path?: string): Promise<boolean> {
    if (keys.length === 0) return true;
    const generation = ++this.generation;
    const batch: Array<[string, number]> = [];
    // While a move of everything waits, it subsumes any other: moving it again (after this change) is enough.
    const moved = this.pending.has(this.allKey) ? [this.allKey] : new Set(keys);
    for (const key of moved) {
      this.seeding.delete(key);
      this.pending.set(key, generation);
      batch.push([key, generation]);
    }
    this.bound();
    const startedAt = monotonicNow();
    const deadline = startedAt + this.options.invalidationTimeout;
    let written = await this.write(batch, path, deadline);
    // A store that refused the write at once (memory full under `noeviction`, a failover, a connection being made
    // again) may take it a moment later, and until it lands other processes serve data from before the move: try
    // again until the deadline, as a write that timed out would have waited. The retries' failures are not
    // reported again (the first was); the background retry takes over after the deadline.
    for (let pause = 5; !written && !this.closed && monotonicNow() + pause < deadline; pause = Math.min(pause * 2, 100)) {
      await sleep(pause);
      written = await this.write(batch, path, deadline, true);
    }
    if (!written) this.scheduleRetry();
    const events = this.options.events;
    if (events !== undefined) {
      events.onInvalidate?.({ path, keys: batch.length, written, durationMs: monotonicNow() - startedAt });
      events.onPending?.(this.pending.size);
    }
    return written;
  }

  /**
   * Fresh tokens for version keys that a read found absent, to be written before the resolver
   * runs. The tokens are known at once (so that identical misses can be told which versions
   * to expect); `written` resolves to whether they all reached the store (if not, nothing may
   * be stored under them). Concurrent seeds of one key share one token and one write.
   */
  /**
   * The token a miss that read `key` as absent at `readAt` would record without writing one: a seed
   * in flight, or one that landed after that read. Undefined when the miss must seed it itself.
   */
  reusableSeed(key: string, readAt: number): string | undefined {
    const seed = this.seeding.get(key);
    return seed !== undefined && seed.landedAt > readAt ? seed.token : undefined;
  }

  seed(
    keys: readonly string[],
    path: string,
    readAt: number,
    shortLived: (key: string) => boolean,
    entryLife: number,
  ): { readonly tokens: readonly string[]; readonly written: Promise<boolean> } {
    // A seed that landed before this miss read the store is not for it: that read found the key gone again.
    const fresh = keys.filter((key) => {
      const seed = this.seeding.get(key);
      return seed === undefined || seed.landedAt <= readAt;
    });
    if (fresh.length > 0) this.startSeed(fresh, path, shortLived, entryLife);
    const seeds = keys.map((key) => this.seeding.get(key) as Seed);
    return {
      tokens: seeds.map((seed) => seed.token),
      written: Promise.all(seeds.map((seed) => seed.written)).then((all) => all.every(Boolean)),
    };
  }

  /**
   * Waits until every pending move is written, or the deadline passes. Resolves to whether none is left.
   * Like every move, it writes even while the circuit breaker is open.
   */
  async flush(deadlineMs = 5_000): Promise<boolean> {
    const end = monotonicNow() + deadlineMs;
    while (this.pending.size > 0 && monotonicNow() < end) {
      await this.write([...this.pending], undefined, end);
      if (this.pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.pending.size === 0;
  }

  /** Stops background retries; pending moves are dropped with the process. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }

  /**
   * Writes fresh tokens for absent keys in one store call. A token stays on offer for a moment after it
   * landed, so that misses which read the key as absent just before (other entries depending on the same
   * version) record it instead of overwriting it with yet another token and invalidating each other.
   * Reusing a landed token is safe: those misses run their resolvers after it was written.
   */
  private startSeed(keys: readonly string[], path: string, shortLived: (key: string) => boolean, entryLife: number): void {
    const tokens = keys.map(() => randomUUID());
    const { versionTtl } = this.options;
    // A seeded version only has to outlive the entries recorded under it; tags come from inputs, so anyone can make
    // new ones: their seeds live as long as the entry that made them, not a day (a version that expires costs a miss).
    const written = this.store.setMany(
      keys.map((key, i) => ({ key, value: tokens[i] as string, ttl: shortLived(key) ? Math.min(entryLife, versionTtl) : versionTtl })),
      'write',
      path,
    );
    keys.forEach((key, i) => {
      const seed: Seed = { token: tokens[i] as string, written, landedAt: Number.POSITIVE_INFINITY };
      this.seeding.set(key, seed);
      void written.then((ok) => {
        seed.landedAt = monotonicNow();
        const forget = () => {
          if (this.seeding.get(key) === seed) this.seeding.delete(key);
        };
        if (ok && !this.closed) setTimeout(forget, SEED_REUSE_MS).unref();
        else forget();
      });
    });
  }

  /**
   * Writes moves in chunks, each bounded by the time left until `deadline` (and by
   * `invalidationTimeout`), yielding to I/O between chunks so that a large backlog never
   * stalls the event loop. A key whose move was re-queued meanwhile (newer generation)
   * waits for that move. Resolves to whether every key of the batch was written.
   */
  private async write(
    batch: ReadonlyArray<readonly [string, number]>,
    path: string | undefined,
    deadline: number,
    quiet = false,
  ): Promise<boolean> {
    const { versionTtl, invalidationTimeout } = this.options;
    for (let at = 0; at < batch.length; at += CHUNK) {
      const left = deadline - monotonicNow();
      if (left <= 0) return false;
      if (at > 0) await afterPendingIo();
      const chunk = batch.slice(at, at + CHUNK);
      const written = await this.store.setMany(
        chunk.map(([key]) => ({ key, value: randomUUID(), ttl: versionTtl })),
        'invalidate',
        path,
        { timeout: Math.min(left, invalidationTimeout), quiet },
      );
      if (!written) return false;
      for (const [key, generation] of chunk) {
        if (this.pending.get(key) === generation) this.pending.delete(key);
      }
    }
    return true;
  }

  /** Collapses an oversized backlog into one move of the global version. */
  private bound(): void {
    if (this.pending.size <= this.options.maxPendingInvalidations) return;
    const collapsed = this.pending.size;
    this.pending.clear();
    this.pending.set(this.allKey, ++this.generation);
    this.options.report(
      new CachingError(
        'invalidate',
        `${collapsed} invalidations are waiting for the store (more than maxPendingInvalidations, ${this.options.maxPendingInvalidations}); ` +
          'they are replaced by one invalidation of everything, written when the store answers',
        { key: this.allKey },
      ),
    );
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.retrying || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retry();
    }, this.retryDelay);
    this.retryTimer.unref();
  }

  private async retry(): Promise<void> {
    this.retrying = true;
    try {
      const batch = [...this.pending];
      await this.write(batch, undefined, Number.POSITIVE_INFINITY);
    } finally {
      this.retrying = false;
    }
    this.options.events?.onPending?.(this.pending.size);
    if (this.pending.size === 0) {
      this.retryDelay = this.options.retryDelay;
      return;
    }
    this.retryDelay = Math.min(this.retryDelay * 2, this.options.retryMax);
    this.scheduleRetry();
  }
}
