import type { RollbackGuard } from '../capabilities.js';

/**
 * The version keys an engine asked to protect against rollbacks (its global version), and the move that makes every
 * entry from before a rollback miss: fresh random values written to each of them. Shared by the watches that detect a
 * rollback: a Cluster's failovers ({@link FailoverWatch}) and a single server that is not the one it was
 * ({@link ServerSwitchWatch}).
 *
 * @example
 * ```ts
 * const versions = new ProtectedVersions(async (keys, ttl) => writeFreshTokens(keys, ttl));
 * const stop = versions.protect(['trpc-caching:v:all'], 86_400_000);
 * await versions.renewAll(); // after a failover: every entry from before it misses
 * stop();
 * ```
 */
export class ProtectedVersions implements RollbackGuard {
  private readonly protectedKeys = new Set<{ readonly keys: readonly string[]; readonly ttl: number }>();
  /** Rollbacks seen (failovers, server switches), for tests and logs. */
  failovers = 0;

  constructor(
    /** Writes fresh random values to `keys` with a TTL of `ttl` ms, retrying until it did (or the store closed). */
    private readonly renew: (keys: readonly string[], ttl: number) => Promise<void>,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  protect(keys: readonly string[], ttl: number): () => void {
    const entry = { keys, ttl };
    this.protectedKeys.add(entry);
    return () => this.protectedKeys.delete(entry);
  }

  /** Writes fresh values to every protected key; resolves once every write settled (a failed one is told to `onError`). */
  protected async renewAll(): Promise<void> {
    const outcomes = await Promise.allSettled(Array.from(this.protectedKeys, ({ keys, ttl }) => this.renew(keys, ttl)));
    for (const outcome of outcomes) if (outcome.status === 'rejected') this.onError(outcome.reason);
  }
}
