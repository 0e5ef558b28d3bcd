import { randomUUID } from 'node:crypto';

/**
 * Where a reader stands in a hub's stream: `pub` counts the hub's public positions (moves of paths, tags or `all`,
 * which every reader gets, and lost bus messages); `own` counts the moves of the reader's own scope alone. Neither
 * counts what other users did to their own scopes, so an event id tells a reader nothing about them.
 *
 * @example
 * ```ts
 * const position: Position = { pub: 12, own: 3 }; // id `3f2a9c01b7de.12.3`
 * ```
 */
export interface Position {
  readonly pub: number;
  readonly own: number;
}

/** `{epoch}.{pub}.{own}`: the epoch names the hub, so an id from another process (or a restart) never resumes there. */
const ID = /^([0-9a-f]{12})\.(\d{1,15})\.(\d{1,15})$/;

/**
 * The event id of a position in the hub named `epoch`.
 *
 * @example
 * ```ts
 * formatId('3f2a9c01b7de', { pub: 12, own: 3 }); // '3f2a9c01b7de.12.3'
 * ```
 */
export function formatId(epoch: string, position: Position): string {
  return `${epoch}.${position.pub}.${position.own}`;
}

/**
 * The position an event id names in the hub named `epoch`; undefined for an id of another hub or no id at all.
 *
 * @example
 * ```ts
 * parseId('3f2a9c01b7de', '3f2a9c01b7de.12.3'); // { pub: 12, own: 3 }
 * ```
 */
export function parseId(epoch: string, id: string): Position | undefined {
  const match = ID.exec(id);
  if (match === null || match[1] !== epoch) return undefined;
  return { pub: Number(match[2]), own: Number(match[3]) };
}

/** Connected scopes an eviction steps over before giving up for this move. */
const PINNED_SCAN = 32;

interface OwnMoves {
  /** Moves of this scope alone since the hub started (or since the scope was last forgotten). */
  count: number;
  /** The id of the latest of them: replaying it covers every earlier one (each invalidates the whole scope). */
  lastMoveId: string;
  /** Counted after the hub forgot some scope: an id's `own` may then be from before a forgetting, so not comparable. */
  readonly uncertain: boolean;
}

/**
 * What a reader coming back missed of its own scope's moves.
 *
 * @example
 * ```ts
 * const gap: OwnGap = { kind: 'moved', moveId: 'a1b2' }; // told as one `{ id: 'a1b2', self: true }`
 * ```
 */
export type OwnGap = { readonly kind: 'none' } | { readonly kind: 'moved'; readonly moveId: string } | { readonly kind: 'unknown' };

/**
 * The count of each scope's own moves, for the `own` part of ids and for resuming: a reader that comes back is
 * told of its scope's moves since its id as one `self` move (the latest's id), never replayed one by one, so no
 * per-scope history is kept. Bounded to `limit` scopes, forgetting the one that moved least recently among those
 * `pinned` does not hold (the scopes of open connections: a connected reader's ids never show that others moved);
 * once a scope is forgotten, a reader coming back without a certain count is told its scope moved (conservative).
 *
 * @example
 * ```ts
 * const own = new OwnCounts(10_000, (scope) => connected.has(scope));
 * own.moved('u.abc', 'move-1');
 * own.since('u.abc', 0); // { kind: 'moved', moveId: 'move-1' }
 * ```
 */
export class OwnCounts {
  private readonly counts = new Map<string, OwnMoves>();
  private forgotten = false;

  constructor(
    private readonly limit: number,
    /** Scopes never forgotten while it holds: those with an open connection. @default none */
    private readonly pinned: (scope: string) => boolean = () => false,
  ) {}

  /** The count of `scope`'s own moves, for its readers' ids. */
  of(scope: string): number {
    return this.counts.get(scope)?.count ?? 0;
  }

  /** Counts a move of `scope` alone, named `moveId`. */
  moved(scope: string, moveId: string): void {
    const entry = this.counts.get(scope);
    if (entry === undefined) {
      this.counts.set(scope, { count: 1, lastMoveId: moveId, uncertain: this.forgotten });
    } else {
      // Re-inserted: the Map's order is then the order of the latest move, the oldest first.
      this.counts.delete(scope);
      this.counts.set(scope, { ...entry, count: entry.count + 1, lastMoveId: moveId });
    }
    if (this.counts.size > this.limit) {
      // The least recent mover without an open connection: forgetting a connected reader's count would drop the `own`
      // of its next ids to 0, telling it that more than `limit` other scopes moved. A connected scope met on the way
      // goes to the back, so the scan stays short; past the limit only while the first few are all connected
      // (memory then grows with connections, as theirs does).
      for (let looked = 0; looked < PINNED_SCAN; looked++) {
        const oldest = this.counts.keys().next().value as string;
        const entry = this.counts.get(oldest) as OwnMoves;
        this.counts.delete(oldest);
        if (!this.pinned(oldest)) {
          this.forgotten = true;
          break;
        }
        this.counts.set(oldest, entry);
      }
    }
  }

  /**
   * What `scope` moved after a reader saw `own` of its moves: nothing, one `self` move to deliver, or `unknown`
   * (the id cannot be from this hub: the reader should reset).
   */
  since(scope: string, own: number): OwnGap {
    const entry = this.counts.get(scope);
    if (entry === undefined || entry.uncertain) {
      if (this.forgotten) return { kind: 'moved', moveId: entry?.lastMoveId ?? randomUUID() };
      return own === 0 ? { kind: 'none' } : { kind: 'unknown' };
    }
    if (own === entry.count) return { kind: 'none' };
    return own < entry.count ? { kind: 'moved', moveId: entry.lastMoveId } : { kind: 'unknown' };
  }
}
