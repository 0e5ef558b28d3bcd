import { randomUUID } from 'node:crypto';
import { type KeyFormat, userScope } from '../engine/keys.js';
import type { EngineTargets } from '../engine/targets.js';
import type { Moved } from '../protocol/index.js';

/**
 * A move of versions as the server fans it out to clients: scopes by their key segment (`u.` + digest,
 * or `anon`), never by user id, so the bus between processes carries no more than the store already holds.
 */
export interface LiveMove {
  /** Random: names the move in the mutation's response and on every stream, so a client applies it once. */
  readonly id: string;
  readonly all: boolean;
  /** Key segments of the scopes moved (`users`, the acting user's `self`, `anon`). */
  readonly scopes: readonly string[];
  readonly paths: readonly string[];
  readonly tags: readonly string[];
}

/**
 * The move that targets make, in client terms. Call it after `targetKeys` accepted the targets (it does not
 * validate them again).
 */
export function liveMoveOf(keys: KeyFormat, targets: EngineTargets, id: string = randomUUID()): LiveMove {
  const scopes = new Set<string>();
  for (const user of targets.users ?? []) scopes.add(keys.scopeSegment(userScope(user)));
  for (const scope of targets.scopes ?? []) if (scope.kind !== 'public') scopes.add(keys.scopeSegment(scope));
  return {
    id,
    all: targets.all === true,
    scopes: [...scopes],
    paths: [...new Set(targets.paths ?? [])],
    tags: [...new Set(targets.tags ?? [])],
  };
}

/** A move of everything (the fallback when a mutation's targets cannot be used). */
export function moveOfAll(id: string = randomUUID()): LiveMove {
  return { id, all: true, scopes: [], paths: [], tags: [] };
}

/**
 * What one reader may learn of a move: its own scope as `self` (never another's), paths, tags, `all`.
 * `reader` is the reader's scope segment (`u.…` or `anon`), undefined when unknown (then no scope reads as its own).
 * With `always`, a move that concerns the reader in nothing still gives `{ id }` (a mutation's caller is told that
 * nothing of theirs moved); otherwise undefined.
 */
export function movedFor(move: LiveMove, reader: string | undefined, always = false): Moved | undefined {
  const self = reader !== undefined && move.scopes.includes(reader);
  if (!always && !move.all && !self && move.paths.length === 0 && move.tags.length === 0) return undefined;
  const moved: { id: string; self?: boolean; paths?: readonly string[]; tags?: readonly string[]; all?: boolean } = { id: move.id };
  if (move.all) moved.all = true;
  if (self) moved.self = true;
  if (move.paths.length > 0) moved.paths = move.paths;
  if (move.tags.length > 0) moved.tags = move.tags;
  return moved;
}
