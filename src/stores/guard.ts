import type { Keyv } from 'keyv';
import { CachingError, type CachingOperation } from '../errors.js';

/** How the store boundary bounds and isolates a store. */
export interface StoreGuardOptions {
  /** Longest a store call may take before the cache gives up on it, in ms. */
  readonly timeout: number;
  /** Consecutive failures that open the circuit. */
  readonly breakerThreshold: number;
  /** How long an open circuit skips the store, in ms. */
  readonly breakerCooldown: number;
  readonly report: (error: CachingError) => void;
}

class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
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
export class GuardedStore {
  private errorEpoch = 0;
  private lastStoreError: unknown;
  private consecutiveFailures = 0;
  /** 0 while the circuit is closed; otherwise when the open circuit lets one trial call through. */
  private openUntil = 0;
  /** True while the one trial call of a half-open circuit is in flight. */
  private probing = false;

  constructor(
    readonly keyv: Keyv,
    private readonly options: StoreGuardOptions,
  ) {
    keyv.on('error', (error: unknown) => {
      this.errorEpoch++;
      this.lastStoreError = error;
    });
  }

  /**
   * False while the circuit is open: callers skip the cache entirely. After the
   * cool-down the circuit is half-open: one call tries the store while every
   * other caller keeps skipping it, so a store that is still dead costs one
   * timeout per cool-down, not one per request that arrives meanwhile.
   */
  get available(): boolean {
    return this.openUntil === 0 || (!this.probing && Date.now() >= this.openUntil);
  }

  /**
   * Reads keys in one store call (`getMany`, one MGET on Redis). Resolves to
   * undefined when the store failed, was slow, or is skipped by the breaker.
   */
  async getMany(keys: string[], path: string | undefined): Promise<unknown[] | undefined> {
    const outcome = await this.run('read', keys[0], path, () => this.keyv.getMany(keys));
    const rows = outcome?.value;
    return Array.isArray(rows) && rows.length === keys.length ? rows : undefined;
  }

  /** Writes one key (one SET on Redis). Resolves to true only when the write is known to have succeeded. */
  async set(key: string, value: string, ttl: number, path: string | undefined): Promise<boolean> {
    const outcome = await this.run('write', key, path, () => this.keyv.set(key, value, ttl));
    return outcome !== undefined && outcome.value !== false;
  }

  /**
   * Writes entries in one store call. Resolves to true only when the write is known to have succeeded.
   * `force` tries the store even while the circuit is open (still bounded by the timeout): for a last
   * flush at shutdown, which cannot wait for the cool-down.
   */
  async setMany(
    entries: Array<{ key: string; value: string; ttl: number }>,
    operation: CachingOperation,
    path: string | undefined,
    force = false,
  ): Promise<boolean> {
    const outcome = await this.run(operation, entries[0]?.key, path, () => this.keyv.setMany(entries), force);
    // Keyv answers booleans for some adapters and undefined for others; only `false` says it failed.
    return outcome !== undefined && !(Array.isArray(outcome.value) && outcome.value.includes(false));
  }

  private async run<T>(
    operation: CachingOperation,
    key: string | undefined,
    path: string | undefined,
    call: () => Promise<T>,
    force = false,
  ): Promise<{ value: T } | undefined> {
    if (!force && !this.available) return undefined;
    const probe = !force && this.openUntil !== 0;
    if (probe) this.probing = true;
    const epoch = this.errorEpoch;
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        call(),
        new Promise<typeof timedOut>((resolve) => {
          timer = setTimeout(resolve, this.options.timeout, timedOut);
        }),
      ]);
      if (result === timedOut) {
        throw new StoreTimeoutError(`store call took longer than ${this.options.timeout} ms`);
      }
      if (this.errorEpoch !== epoch) throw this.lastStoreError;
      this.consecutiveFailures = 0;
      this.openUntil = 0;
      return { value: result };
    } catch (cause) {
      this.fail(operation, key, path, cause);
      return undefined;
    } finally {
      clearTimeout(timer);
      if (probe) this.probing = false;
    }
  }

  private fail(operation: CachingOperation, key: string | undefined, path: string | undefined, cause: unknown): void {
    this.consecutiveFailures++;
    const opened = this.consecutiveFailures >= this.options.breakerThreshold;
    if (opened) this.openUntil = Date.now() + this.options.breakerCooldown;
    const reason = cause instanceof Error ? cause.message : String(cause);
    this.options.report(
      new CachingError(
        operation,
        `store ${operation} failed: ${reason}${opened ? `; skipping the store for ${this.options.breakerCooldown} ms` : ''}`,
        { path, key, cause },
      ),
    );
  }
}
