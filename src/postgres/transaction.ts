import type { InvalidationTargets } from '../index.js';
import type { ResyncReason } from './types.js';

/**
 * The moves of one committed transaction, gathered row by row as pgoutput sends them and applied once, after
 * its COMMIT: a transaction's changes become visible together, and so do their invalidations.
 *
 * @example
 * ```ts
 * const tx = new TransactionMoves(1_000);
 * tx.add({ tags: ['post:1'], users: ['ann'] });
 * tx.targets(); // { tags: ['post:1'], users: ['ann'] }
 * ```
 */
export class TransactionMoves {
  private readonly users = new Set<string | number>();
  private readonly paths = new Set<string>();
  private readonly tags = new Set<string>();
  private all = false;
  /** Rows of mapped tables seen. */
  changes = 0;
  /** Set when the transaction must invalidate everything the mapping covers instead. */
  resync: { reason: ResyncReason; detail: string } | undefined;

  /** `maxTargets`: distinct targets above which the transaction falls back to `covers`. */
  constructor(private readonly maxTargets: number) {}

  /** Adds one row's targets. */
  add(targets: InvalidationTargets | null | undefined): void {
    this.changes++;
    if (targets === null || targets === undefined || this.resync !== undefined) return;
    if (targets.all === true) this.all = true;
    for (const user of targets.users ?? []) this.users.add(user);
    for (const path of targets.paths ?? []) this.paths.add(path);
    for (const tag of targets.tags ?? []) this.tags.add(tag);
    if (this.users.size + this.paths.size + this.tags.size > this.maxTargets) {
      this.fallBack('too-many-targets', `more than ${this.maxTargets} distinct targets`);
    }
  }

  /** Gives up on rows: the transaction invalidates everything covered (the first reason is kept). */
  fallBack(reason: ResyncReason, detail: string): void {
    this.resync ??= { reason, detail };
    this.users.clear();
    this.paths.clear();
    this.tags.clear();
  }

  /** Distinct targets gathered so far. */
  get size(): number {
    return this.users.size + this.paths.size + this.tags.size;
  }

  /** The union of every row's targets, or undefined when there is nothing to move. */
  targets(): InvalidationTargets | undefined {
    if (this.all) return { all: true };
    const targets: { users?: (string | number)[]; paths?: string[]; tags?: string[] } = {};
    if (this.users.size > 0) targets.users = [...this.users];
    if (this.paths.size > 0) targets.paths = [...this.paths];
    if (this.tags.size > 0) targets.tags = [...this.tags];
    return Object.keys(targets).length === 0 ? undefined : targets;
  }
}

/**
 * One set of targets for several transactions' moves, applied with one `caching.invalidate` when a backlog is
 * read (each transaction is whole in it, so each still moves at once, after its commit).
 *
 * @example
 * ```ts
 * unionTargets([{ tags: ['a'] }, undefined, { tags: ['b'], users: ['ann'] }]); // { tags: ['a', 'b'], users: ['ann'] }
 * ```
 */
export function unionTargets(list: readonly (InvalidationTargets | undefined)[]): InvalidationTargets | undefined {
  const all = new TransactionMoves(Number.POSITIVE_INFINITY);
  for (const targets of list) if (targets !== undefined) all.add(targets);
  return all.targets();
}
