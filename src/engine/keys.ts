import { createHash } from 'node:crypto';
import { CachingError } from '../errors.js';

/** Bounds that keep key derivation cheap whatever a client sends. */
export interface InputLimits {
  /** Longest canonical input, in characters, that is hashed; a longer one bypasses the cache. */
  readonly maxInputBytes: number;
  /** Deepest nesting of an input; a deeper one bypasses the cache. */
  readonly maxInputDepth: number;
}

/** Raised while canonicalizing an input that the cache will not key. */
export class UncacheableInputError extends Error {
  override readonly name = 'UncacheableInputError';
}

/**
 * Canonical text of an input: object key order does not matter, types do
 * (`1` and `"1"` differ, a Date is not its ISO string), and the text is
 * unambiguous because strings are JSON-quoted and every other value carries a
 * one-letter type mark. Bounded in depth and length so that a hostile input
 * cannot stall or crash the process.
 */
export function canonicalInput(value: unknown, limits: InputLimits): string {
  const state: CanonicalWalk = { text: '', limits, seen: new Set() };
  walk(state, value, 0);
  return state.text;
}

/** The text written so far; module-level functions rather than closures keep a hit free of per-call allocations. */
interface CanonicalWalk {
  text: string;
  readonly limits: InputLimits;
  readonly seen: Set<object>;
}

function emit(state: CanonicalWalk, text: string): void {
  if (state.text.length + text.length > state.limits.maxInputBytes) {
    throw new UncacheableInputError(`input is larger than maxInputBytes (${state.limits.maxInputBytes})`);
  }
  state.text += text;
}

function walk(state: CanonicalWalk, node: unknown, depth: number): void {
  switch (typeof node) {
    case 'string':
      emit(state, JSON.stringify(node));
      return;
    case 'number':
      emit(state, `d${Object.is(node, -0) ? '0' : String(node)}`);
      return;
    case 'boolean':
      emit(state, node ? 't' : 'f');
      return;
    case 'bigint':
      emit(state, `b${node.toString()}`);
      return;
    case 'undefined':
      emit(state, 'u');
      return;
    case 'function':
    case 'symbol':
      throw new UncacheableInputError(`input holds a ${typeof node}`);
  }
  if (node === null) {
    emit(state, 'n');
    return;
  }
  const { limits, seen } = state;
  if (depth >= limits.maxInputDepth) {
    throw new UncacheableInputError(`input is nested deeper than maxInputDepth (${limits.maxInputDepth})`);
  }
  const object = node as object;
  if (seen.has(object)) throw new UncacheableInputError('input holds a cycle');
  seen.add(object);
  if (object instanceof Date) {
    emit(state, `D${object.getTime()}`);
  } else if (Array.isArray(object)) {
    emit(state, '[');
    for (let i = 0; i < object.length; i++) {
      if (i > 0) emit(state, ',');
      walk(state, object[i], depth + 1);
    }
    emit(state, ']');
  } else if (object instanceof Map || object instanceof Set) {
    // Entries are sorted by their own canonical text, so insertion order does not matter. Every item
    // takes at least one character, and all items share what is left of the budget: a huge collection
    // is refused before any work, not after canonicalizing and sorting all of it.
    let budget = limits.maxInputBytes - state.text.length;
    if (object.size > budget) throw new UncacheableInputError(`input is larger than maxInputBytes (${limits.maxInputBytes})`);
    const items: string[] = [];
    for (const item of object instanceof Map ? object.entries() : object.values()) {
      const text = canonicalInput(item, { maxInputBytes: budget, maxInputDepth: limits.maxInputDepth - depth - 1 });
      budget -= text.length;
      items.push(text);
    }
    items.sort();
    emit(state, object instanceof Map ? 'M[' : 'S[');
    for (let i = 0; i < items.length; i++) emit(state, i > 0 ? `,${items[i]}` : (items[i] as string));
    emit(state, ']');
  } else if (ArrayBuffer.isView(object)) {
    emit(state, `B${Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('base64')}`);
  } else {
    const keys = Object.keys(object);
    // A key takes at least four characters (`"":` and a value): refuse a huge object before sorting its keys.
    if (keys.length * 4 > limits.maxInputBytes - state.text.length) {
      throw new UncacheableInputError(`input is larger than maxInputBytes (${limits.maxInputBytes})`);
    }
    keys.sort();
    emit(state, '{');
    let first = true;
    for (const key of keys) {
      const child = (object as Record<string, unknown>)[key];
      // An absent key and a key set to undefined parse to the same input, so they share a key.
      if (child === undefined) continue;
      emit(state, first ? JSON.stringify(key) : `,${JSON.stringify(key)}`);
      emit(state, ':');
      walk(state, child, depth + 1);
      first = false;
    }
    emit(state, '}');
  }
  seen.delete(object);
}

/**
 * Recent digests of short texts (canonical inputs, user ids), so that a hit on
 * a popular input or user does not hash again. Bounded: it starts over when full.
 */
const MEMO_MAX_TEXT = 256;
const MEMO_MAX_SIZE = 4096;
const md5Memo = new Map<string, string>();
const segmentMemo = new Map<string, string>();

function remember(memo: Map<string, string>, text: string, digest: string): string {
  if (memo.size >= MEMO_MAX_SIZE) memo.clear();
  memo.set(text, digest);
  return digest;
}

/** MD5 of a text, hex. Used for inputs (as adrf-caching does): fast and fixed-width, not a secret. */
export function md5(text: string): string {
  if (text.length > MEMO_MAX_TEXT) return createHash('md5').update(text).digest('hex');
  return md5Memo.get(text) ?? remember(md5Memo, text, createHash('md5').update(text).digest('hex'));
}

/** The scope an entry belongs to: one user, every anonymous caller, or everyone. */
export type Scope = { readonly kind: 'user'; readonly id: string } | { readonly kind: 'anon' } | { readonly kind: 'public' };

/**
 * Key segment of a scope. A user's id is hashed with the prefix, so raw ids
 * never appear in the store and the segment (`u.` + 32 hex) cannot be forged by
 * an id that looks like another segment.
 */
export function scopeSegment(prefix: string, scope: Scope): string {
  if (scope.kind === 'anon') return 'anon';
  if (scope.kind === 'public') return 'public';
  const memoKey = `${prefix}\0${scope.id}`;
  const known = memoKey.length <= MEMO_MAX_TEXT ? segmentMemo.get(memoKey) : undefined;
  if (known !== undefined) return known;
  const segment = `u.${createHash('sha256').update(prefix).update('\0').update(scope.id).digest('hex').slice(0, 32)}`;
  return memoKey.length <= MEMO_MAX_TEXT ? remember(segmentMemo, memoKey, segment) : segment;
}

/**
 * Escapes the key separator in a free-form segment (path, tag), so that no
 * path or tag can be read as two segments or reach into another key family.
 */
export function escapeSegment(text: string): string {
  return /[%:]/.test(text) ? text.replace(/%/g, '%25').replace(/:/g, '%3A') : text;
}

/** Every key the library writes, under one prefix. Documented in README "Key format". */
export class KeyFormat {
  constructor(readonly prefix: string) {}

  /** `{prefix}:q:{path}:{scope}:{md5(input)}` */
  entry(path: string, scope: string, inputHash: string): string {
    return `${this.prefix}:q:${escapeSegment(path)}:${scope}:${inputHash}`;
  }

  /** `{prefix}:v:all`, moved by `invalidate({ all: true })`. */
  allVersion(): string {
    return `${this.prefix}:v:all`;
  }

  /** `{prefix}:v:s:{scope}`, moved by a mutation of that user (or `users`). */
  scopeVersion(scope: string): string {
    return `${this.prefix}:v:s:${scope}`;
  }

  /** `{prefix}:v:p:{path or router prefix}`, moved by `paths`. */
  pathVersion(path: string): string {
    return `${this.prefix}:v:p:${escapeSegment(path)}`;
  }

  /** `{prefix}:v:t:{tag}`, moved by `tags`. */
  tagVersion(tag: string): string {
    return `${this.prefix}:v:t:${escapeSegment(tag)}`;
  }

  private readonly pathVersionMemo = new Map<string, readonly string[]>();

  /** Version keys of a path and of each router prefix above it: `a`, `a.b`, `a.b.c`. Memoized: paths are the router's. */
  pathVersions(path: string): readonly string[] {
    const known = this.pathVersionMemo.get(path);
    if (known !== undefined) return known;
    const keys: string[] = [];
    let at = path.indexOf('.');
    while (at !== -1) {
      keys.push(this.pathVersion(path.slice(0, at)));
      at = path.indexOf('.', at + 1);
    }
    keys.push(this.pathVersion(path));
    if (this.pathVersionMemo.size < MEMO_MAX_SIZE) this.pathVersionMemo.set(path, keys);
    return keys;
  }
}

/**
 * The scope of a user id as returned by the `user` option: null or undefined
 * is anonymous; a string or finite number is a user (compared as a string, so
 * `42` and `"42"` are the same user, as they are in every database lookup);
 * anything else is a configuration error.
 */
export function userScope(id: unknown): Scope {
  if (id === null || id === undefined) return ANON;
  if ((typeof id === 'string' && id.length > 0) || (typeof id === 'number' && Number.isFinite(id))) {
    return { kind: 'user', id: String(id) };
  }
  throw new CachingError(
    'config',
    `the user option must return a non-empty string, a finite number, null or undefined; got ${describeValue(id)}`,
  );
}

const ANON: Scope = { kind: 'anon' };

function describeValue(value: unknown): string {
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${typeof value} ${String(value)}`;
}
