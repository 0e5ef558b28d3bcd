import { ProtectedVersions } from './protected-versions.js';
import { SLOTS } from './slots.js';

/**
 * Watches the primary of every hash slot and tells failovers from migrations, so that a promoted replica's data is
 * never served before versions moved.
 *
 * A slot whose primary changed is taken to have changed hands by failover when its new primary was no primary before
 * (a promoted replica) and its old one is no primary any more (dead, or rejoined as a replica). A reshard moves slots
 * between primaries that stay primaries, keys and all, and loses nothing: it is not fenced. (Moving every slot of a
 * primary to a node added for it looks like a failover: it costs one move of every version, no stale data.)
 *
 * A fenced slot's reads are refused until `renew` wrote fresh values to every protected key (the engine's global
 * version): every entry from before the failover is then invalid, in every process.
 *
 * @example
 * ```ts
 * const watch = new FailoverWatch(async (keys, ttl) => writeFreshTokens(keys, ttl));
 * watch.observe((slot) => client._slots.slots[slot]?.master.address);
 * if (watch.fenced(slot)) throw new Error('slot fenced after a failover');
 * ```
 */
export class FailoverWatch extends ProtectedVersions {
  /** The primary of each slot as last observed (`host:port`), undefined before the first observation. */
  private owners: Array<string | undefined> | undefined;
  /** Fences on each slot: non-zero while a failover's move is in flight. */
  private readonly fences = new Uint16Array(SLOTS);
  /** The primary of `slot` as last observed. */
  ownerOf(slot: number): string | undefined {
    return this.owners?.[slot];
  }

  /** True while reads of `slot` must not be served: its primary changed by failover and versions are being moved. */
  fenced(slot: number): boolean {
    return this.fences[slot] !== 0;
  }

  /** Whether `owner` (the client's primary of `slot` now) differs from the last observed one: the map needs observing. */
  changed(slot: number, owner: string | undefined): boolean {
    return owner !== undefined && this.owners !== undefined && this.owners[slot] !== owner;
  }

  /**
   * Compares the client's slot map now (`ownerNow`) with the last one observed, and fences the slots that changed hands
   * by failover, until the protected keys are renewed. Resolves once they are (at once when there was no failover).
   */
  observe(ownerNow: (slot: number) => string | undefined): Promise<void> {
    const next: Array<string | undefined> = new Array(SLOTS);
    for (let slot = 0; slot < SLOTS; slot++) next[slot] = ownerNow(slot) ?? this.owners?.[slot];
    const previous = this.owners;
    this.owners = next;
    if (previous === undefined) return Promise.resolve();
    const before = new Set(previous);
    const after = new Set(next);
    const lost: number[] = [];
    for (let slot = 0; slot < SLOTS; slot++) {
      const was = previous[slot];
      const now = next[slot];
      if (was !== undefined && now !== undefined && was !== now && !before.has(now) && !after.has(was)) lost.push(slot);
    }
    if (lost.length === 0) return Promise.resolve();
    this.failovers++;
    for (const slot of lost) this.fences[slot] = (this.fences[slot] ?? 0) + 1;
    return this.renewAll().then(() => {
      for (const slot of lost) this.fences[slot] = (this.fences[slot] ?? 1) - 1;
    });
  }
}
