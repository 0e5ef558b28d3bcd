/**
 * The invalidation protocol: what the server tells a client about its cache, in a form any client can read
 * (docs/client.md documents it for non-TypeScript clients). Shared by the server (`trpc-caching`,
 * `trpc-caching/http`) and the browser (`trpc-caching/client`): no imports, no Node APIs.
 *
 * This file: the version, and a move as a client learns it.
 */

/**
 * The protocol version this library speaks. A reader that meets another version treats every move as `all`.
 *
 * @example
 * ```ts
 * if (JSON.parse(header).v !== PROTOCOL_VERSION) invalidateEverything();
 * ```
 */
export const PROTOCOL_VERSION = 1;

/**
 * What one move of versions invalidated, as one client may learn it: its own scope (`self`, never another
 * user's id or scope digest), procedure paths or router prefixes, tags, or everything.
 *
 * @example
 * ```ts
 * const moved: Moved = { id: '5f0c…', self: true, tags: ['note:1'] };
 * ```
 */
export interface Moved {
  /** Names the move: the same in a mutation's response and on the live stream, so a client applies it once. */
  readonly id?: string;
  /** Every entry of the reader's own scope (its user, or every anonymous caller when it is anonymous). @default false */
  readonly self?: boolean;
  /** Procedure paths or router prefixes: `notes` covers `notes.list`. @default [] */
  readonly paths?: readonly string[];
  /** Tags declared by cached queries. @default [] */
  readonly tags?: readonly string[];
  /** Everything. @default false */
  readonly all?: boolean;
}

/**
 * Whether a value is a list of strings.
 *
 * @example
 * ```ts
 * isStringList(['feed']); // true
 * ```
 */
export const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** A {@link Moved} read from untrusted JSON; undefined when it is not one. */
export function readMoved(value: unknown): Moved | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  const moved: { id?: string; self?: boolean; paths?: string[]; tags?: string[]; all?: boolean } = {};
  if (typeof raw.id === 'string') moved.id = raw.id;
  if (raw.self === true) moved.self = true;
  if (raw.all === true) moved.all = true;
  if (isStringList(raw.paths)) moved.paths = raw.paths;
  if (isStringList(raw.tags)) moved.tags = raw.tags;
  return moved;
}

/** Whether a moved path (or router prefix) covers a procedure path: itself, or a path under it. */
export function pathCovers(moved: string, path: string): boolean {
  return path === moved || (path.length > moved.length && path.startsWith(moved) && path[moved.length] === '.');
}

/** `text` parsed as JSON when it holds an object (or an array); undefined when it is not JSON or holds anything else. */
export function parseJsonObject(text: string): object | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
}
