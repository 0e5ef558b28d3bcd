import { CachingError, errorMessage } from '../errors.js';
import type { QueryPlan } from './plan.js';

/** Failed refreshes remembered per process; beyond this the oldest is forgotten (its entry may then be served stale once more). */
const MAX_FAILED_REFRESHES = 1_000;

/**
 * The bookkeeping of stale-while-revalidate: background refreshes in flight (so that none throws into nowhere and
 * a shutdown can wait for them), and the entries whose refresh failed here, which are not served stale again
 * unless the procedure says `staleIfError`.
 */
export class StaleRefreshes {
  /** Entry key → `freshUntil` of the expired entry whose refresh failed here. */
  private readonly failedRefreshes = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();

  /** Whether the refresh of this entry (this expiry of it) failed in this process. */
  failedFor(entryKey: string, freshUntil: number): boolean {
    return this.failedRefreshes.size > 0 && this.failedRefreshes.get(entryKey) === freshUntil;
  }

  /** Remembers a failed refresh and reports it: a refresh has no caller to tell. */
  failed(plan: QueryPlan, freshUntil: number, cause: unknown, report: (error: CachingError) => void): void {
    // Remembered with staleIfError too (a read decides): bounded, and forgotten when the key is stored again.
    if (this.failedRefreshes.size >= MAX_FAILED_REFRESHES) this.failedRefreshes.delete(this.failedRefreshes.keys().next().value as string);
    this.failedRefreshes.set(plan.entryKey, freshUntil);
    const { path, entryKey: key } = plan;
    try {
      report(new CachingError('refresh', `the background refresh of "${path}" failed: ${errorMessage(cause)}`, { path, key, cause }));
    } catch {
      // A throwing onError must not become an unhandled rejection.
    }
  }

  /** Forgets a failure once the entry is stored again. */
  stored(entryKey: string): void {
    if (this.failedRefreshes.size > 0) this.failedRefreshes.delete(entryKey);
  }

  /** Keeps a running refresh until it settles. */
  track(done: Promise<void>): void {
    this.running.add(done);
    void done.then(() => this.running.delete(done));
  }

  /** Resolves once no refresh is running. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }
}
