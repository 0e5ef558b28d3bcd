import type { Moved } from './protocol.js';
import { pathCovers } from './protocol.js';
import { infiniteKeyInput, inputText } from './query-keys.js';

/**
 * What a call's result depends on, as its response said: the scope kind it was cached in and its tags
 * (undefined: not known, so any tag may be one), or `uncached` for a call that did not use the server's cache.
 */
export type Dependencies = { readonly scope: 'user' | 'anon' | 'public'; readonly tags: ReadonlySet<string> | undefined } | 'uncached';

/** A move as the link applies it: every list present. */
export interface Move {
  readonly all: boolean;
  readonly self: boolean;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
}

/** Calls remembered per link: far more than a page holds queries; the oldest go first. */
const MAX_REMEMBERED = 10_000;

const keyOf = (path: string, input: unknown): string | undefined => {
  const text = inputText(input);
  return text === undefined ? undefined : `${path}\n${text}`;
};

/**
 * The dependencies of the calls this client made, by (path, input): what tells which of its cached results a
 * move reaches. Bounded; a call it has forgotten (or never saw a response of) counts as depending on anything.
 */
export class DependencyBook {
  private readonly known = new Map<string, Dependencies>();

  /** Notes what a call's response said it depends on; a page of an infinite query adds to its query's. */
  record(path: string, input: unknown, dependencies: Dependencies): void {
    this.set(keyOf(path, input), dependencies);
    const pages = infiniteKeyInput(input);
    if (pages === undefined) return;
    const key = keyOf(path, pages);
    const before = key === undefined ? undefined : this.known.get(key);
    this.set(key, before === undefined ? dependencies : merged(before, dependencies));
  }

  /**
   * Notes that nothing is known of what a call depends on (its response said nothing of it): the call, and the
   * infinite query a page of it belongs to, then count as depending on any scope or tag move.
   */
  unknown(path: string, input: unknown): void {
    this.forget(path, input);
    const pages = infiniteKeyInput(input);
    if (pages !== undefined) this.forget(path, pages);
  }

  /** Forgets a call (its query left the client's cache). */
  forget(path: string, input: unknown): void {
    const key = keyOf(path, input);
    if (key !== undefined) this.known.delete(key);
  }

  /** What a call depends on; undefined when unknown. */
  lookup(path: string, input: unknown): Dependencies | undefined {
    const key = keyOf(path, input);
    return key === undefined ? undefined : this.known.get(key);
  }

  /**
   * Whether a move reaches a call's cached result: `all`; a moved path or prefix covering its path; its tags; the
   * reader's own scope for a result cached per user (or anonymous caller). A call of unknown dependencies is
   * reached by any scope or tag move: over-invalidating costs a refetch, missing a move would keep stale data.
   */
  affects(move: Move, path: string, input: unknown): boolean {
    if (move.all) return true;
    for (const moved of move.paths) if (pathCovers(moved, path)) return true;
    if (!move.self && move.tags.length === 0) return false;
    const dependencies = this.lookup(path, input);
    if (dependencies === undefined) return true;
    if (dependencies === 'uncached') return false;
    if (move.self && dependencies.scope !== 'public') return true;
    if (move.tags.length === 0) return false;
    const tags = dependencies.tags;
    return tags === undefined || move.tags.some((tag) => tags.has(tag));
  }

  private set(key: string | undefined, dependencies: Dependencies): void {
    if (key === undefined) return;
    // Re-inserted, so that the map's order is the order of last use and the oldest is the first key.
    this.known.delete(key);
    this.known.set(key, dependencies);
    if (this.known.size > MAX_REMEMBERED) this.known.delete(this.known.keys().next().value as string);
  }
}

function merged(a: Dependencies, b: Dependencies): Dependencies {
  if (a === 'uncached') return b;
  if (b === 'uncached') return a;
  const scope = a.scope === b.scope ? a.scope : 'user';
  const tags = a.tags === undefined || b.tags === undefined ? undefined : new Set([...a.tags, ...b.tags]);
  return { scope, tags };
}

/** A protocol {@link Moved} with every list present. */
export function moveOf(moved: Moved): Move {
  return { all: moved.all === true, self: moved.self === true, paths: moved.paths ?? [], tags: moved.tags ?? [] };
}

/** Moves seen per id, so that one seen twice (in a response and on the stream) is applied once. */
const MAX_SEEN = 512;

/** The moves already applied, by id: what is left to apply of a move seen again. */
export class AppliedMoves {
  private readonly seen = new Map<string, { all: boolean; self: boolean; paths: Set<string>; tags: Set<string> }>();

  /** The part of a move not applied yet (all of it when it has no id); undefined when nothing is left. */
  remainder(id: string | undefined, move: Move): Move | undefined {
    if (id === undefined) return move;
    const before = this.seen.get(id);
    if (before === undefined) {
      this.seen.set(id, { all: move.all, self: move.self, paths: new Set(move.paths), tags: new Set(move.tags) });
      if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value as string);
      return move;
    }
    const left: Move = {
      all: move.all && !before.all,
      self: move.self && !before.self,
      paths: move.paths.filter((path) => !before.paths.has(path)),
      tags: move.tags.filter((tag) => !before.tags.has(tag)),
    };
    before.all ||= left.all;
    before.self ||= left.self;
    for (const path of left.paths) before.paths.add(path);
    for (const tag of left.tags) before.tags.add(tag);
    return left.all || left.self || left.paths.length > 0 || left.tags.length > 0 ? left : undefined;
  }
}
