import { randomUUID } from 'node:crypto';
import type { GuardedStore } from '../stores/guard.js';

/** The token an absent version key stands for: the state before any invalidation. */
export const INITIAL_TOKEN = '-';

/**
 * Version keys and their moves. Keyv has no atomic increment, and none is
 * needed: a move writes a fresh random token, and an entry is valid only while
 * every version it recorded is still current. Unique tokens make moves
 * commutative, so retries, races between processes and late writes can only
 * ever cause a miss, never a stale hit.
 *
 * A move that cannot be written is kept as pending and retried until it lands;
 * meanwhile `covers` tells queries in this process to bypass the cache for
 * those keys, so this process never serves what the lost write would have
 * invalidated.
 */
export class VersionBook {
  /** Version key → the generation of its latest failed move. */
  private readonly pending = new Map<string, number>();
  private generation = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private closed = false;

  constructor(
    private readonly store: GuardedStore,
    private readonly options: { readonly versionTtl: number; readonly retryMin: number; readonly retryMax: number },
  ) {
    this.retryDelay = options.retryMin;
  }

  /** Tokens of the version rows read with an entry, as one comparable string. */
  static tokensOf(rows: readonly unknown[], from: number): string {
    let tokens = '';
    for (let i = from; i < rows.length; i++) {
      const row = rows[i];
      tokens += i === from ? '' : ' ';
      tokens += typeof row === 'string' ? row : INITIAL_TOKEN;
    }
    return tokens;
  }

  /** Invalidations of this process not yet written: how many version keys wait. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** True when any of the keys has a move this process could not write yet. */
  covers(keys: readonly string[]): boolean {
    if (this.pending.size === 0) return false;
    for (const key of keys) if (this.pending.has(key)) return true;
    return false;
  }

  /**
   * Moves versions to fresh tokens. Resolves to true when written; otherwise
   * the keys stay pending and are retried in the background.
   */
  async move(keys: readonly string[], path?: string): Promise<boolean> {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return true;
    const written = await this.write(unique, path);
    if (!written) {
      this.generation++;
      for (const key of unique) this.pending.set(key, this.generation);
      this.scheduleRetry();
    }
    return written;
  }

  /**
   * Waits until every pending move is written, or the deadline passes. Resolves to whether none is left.
   * It tries the store even while the circuit breaker is open: a flush at shutdown cannot wait out the
   * cool-down, and pending moves are lost with the process.
   */
  async flush(deadlineMs = 5_000): Promise<boolean> {
    const end = Date.now() + deadlineMs;
    while (this.pending.size > 0 && Date.now() < end) {
      await this.retryNow(true);
      if (this.pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.pending.size === 0;
  }

  /** Stops background retries; pending moves are dropped with the process. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }

  private write(keys: readonly string[], path: string | undefined, force = false): Promise<boolean> {
    const ttl = this.options.versionTtl;
    return this.store.setMany(
      keys.map((key) => ({ key, value: randomUUID(), ttl })),
      'invalidate',
      path,
      force,
    );
  }

  private async retryNow(force = false): Promise<void> {
    if (this.pending.size === 0) return;
    // Keys stay pending (and bypassed) until the write lands; a key that failed
    // again meanwhile has a newer generation and waits for its own retry.
    const batch = [...this.pending];
    const written = await this.write(
      batch.map(([key]) => key),
      undefined,
      force,
    );
    if (!written) return;
    for (const [key, generation] of batch) {
      if (this.pending.get(key) === generation) this.pending.delete(key);
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = undefined;
      await this.retryNow();
      if (this.pending.size > 0) {
        this.retryDelay = Math.min(this.retryDelay * 2, this.options.retryMax);
        this.scheduleRetry();
      } else {
        this.retryDelay = this.options.retryMin;
      }
    }, this.retryDelay);
    this.retryTimer.unref();
  }
}
