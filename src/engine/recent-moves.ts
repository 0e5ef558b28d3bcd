/** Moves remembered; beyond this the oldest is forgotten (a divergence then names fewer mutations, never wrong ones). */
const CAPACITY = 256;
/** Mutation paths a divergence names at most. */
const MAX_NAMED = 10;

/**
 * The last invalidations this process made, by mutation path and wall-clock time: what a divergence names as the
 * likely culprits (the mutations that ran since the entry was stored, whose invalidations did not reach it). A ring
 * of fixed size, written once per invalidation. Moves made by other processes are not here: they reach this one
 * only as version changes (and the live stream's terms, which carry no mutation path).
 *
 * @example
 * ```ts
 * const moves = new RecentMoves();
 * moves.record('post.rename', Date.now());
 * moves.since(Date.now() - 60_000); // ['post.rename']
 * ```
 */
export class RecentMoves {
  private readonly paths: Array<string | undefined> = new Array(CAPACITY);
  private readonly times = new Float64Array(CAPACITY);
  private next = 0;

  /** Remembers that the mutation at `path` invalidated at `at` (wall clock, ms). */
  record(path: string, at: number): void {
    this.paths[this.next] = path;
    this.times[this.next] = at;
    this.next = (this.next + 1) % CAPACITY;
  }

  /** Distinct mutation paths recorded at or after `from` (wall clock, ms; undefined: any remembered), most recent first. */
  since(from: number | undefined): string[] {
    const named: string[] = [];
    for (let n = 1; n <= CAPACITY && named.length < MAX_NAMED; n++) {
      const i = (this.next - n + CAPACITY) % CAPACITY;
      const path = this.paths[i];
      if (path === undefined || (from !== undefined && (this.times[i] as number) < from)) break;
      if (!named.includes(path)) named.push(path);
    }
    return named;
  }
}
