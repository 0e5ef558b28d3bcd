import { randomUUID } from 'node:crypto';
import { CachingError } from '../errors.js';
import type { Moved } from '../protocol/index.js';
import { type KeyFormat, userScope } from './keys.js';
import type { EngineTargets } from './targets.js';

/**
 * A move in the terms clients and other processes see: scopes by their key segment (`u.` + digest, or `anon`),
 * never by user id, so the bus between processes carries no more than the store already holds.
 */
export interface MoveTerms {
  /** Random: names the move in the mutation's response and on every stream, so a client applies it once. */
  readonly id: string;
  readonly all: boolean;
  /** Key segments of the scopes moved (`users`, the acting user's `self`, `anon`). */
  readonly scopes: readonly string[];
  readonly paths: readonly string[];
  readonly tags: readonly string[];
}

/**
 * One invalidation, computed once from its targets: the version keys the engine writes, and the terms in which the
 * sync header (for the caller) and the live stream (for every reader) report it.
 */
export interface Move extends MoveTerms {
  /** Version keys to write, in the order the targets name them. */
  readonly keys: readonly string[];
}

/** The move that targets make. Throws a CachingError (`config`) for an invalid target, before anything moves. */
export function moveOf(format: KeyFormat, targets: EngineTargets, id: string = randomUUID()): Move {
  const keys: string[] = [];
  const scopes = new Set<string>();
  const all = targets.all === true;
  if (all) keys.push(format.allVersion());
  for (const user of targets.users ?? []) {
    if (!((typeof user === 'string' && user.length > 0) || (typeof user === 'number' && Number.isSafeInteger(user)))) {
      throw new CachingError(
        'config',
        `a user to invalidate must be a non-empty string or a safe integer; got ${typeof user} ${String(user)}`,
      );
    }
    const segment = format.scopeSegment(userScope(user));
    keys.push(format.scopeVersion(segment));
    scopes.add(segment);
  }
  for (const scope of targets.scopes ?? []) {
    if (scope.kind === 'public') continue;
    const segment = format.scopeSegment(scope);
    keys.push(format.scopeVersion(segment));
    scopes.add(segment);
  }
  for (const path of targets.paths ?? []) {
    if (typeof path !== 'string' || path.length === 0) throw new CachingError('config', 'a path to invalidate must be a non-empty string');
    keys.push(format.pathVersion(path));
  }
  for (const tag of targets.tags ?? []) {
    if (typeof tag !== 'string' || tag.length === 0) throw new CachingError('config', 'a tag to invalidate must be a non-empty string');
    keys.push(format.tagVersion(tag));
  }
  return { id, keys, all, scopes: [...scopes], paths: [...new Set(targets.paths ?? [])], tags: [...new Set(targets.tags ?? [])] };
}

/** A move of everything: the fallback when a mutation's targets cannot be used. */
export function moveOfAll(format: KeyFormat, id: string = randomUUID()): Move {
  return { id, keys: [format.allVersion()], all: true, scopes: [], paths: [], tags: [] };
}

/**
 * What one reader may learn of a move: its own scope as `self` (never another's), paths, tags, `all`.
 * `reader` is the reader's scope segment (`u.…` or `anon`), undefined when unknown (then no scope reads as its own).
 * With `always`, a move that concerns the reader in nothing still gives `{ id }` (a mutation's caller is told that
 * nothing of theirs moved); otherwise undefined.
 */
export function movedFor(move: MoveTerms, reader: string | undefined, always = false): Moved | undefined {
  const self = reader !== undefined && move.scopes.includes(reader);
  if (!always && !move.all && !self && move.paths.length === 0 && move.tags.length === 0) return undefined;
  const moved: { id: string; self?: boolean; paths?: readonly string[]; tags?: readonly string[]; all?: boolean } = { id: move.id };
  if (move.all) moved.all = true;
  if (self) moved.self = true;
  if (move.paths.length > 0) moved.paths = move.paths;
  if (move.tags.length > 0) moved.tags = move.tags;
  return moved;
}
