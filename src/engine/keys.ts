import { createHash } from 'node:crypto';
import { CachingError } from '../errors.js';
import { canonicalInput, type InputLimits } from './canonical.js';
import { BoundedMemo, Hasher } from './hash.js';

// Re-exported for modules that import them from here; new code imports canonical.js and hash.js directly.
export { canonicalInput, type InputLimits, UncacheableInputError } from './canonical.js';
export { md5 } from './hash.js';

/**
 * The scope an entry belongs to: one user, every anonymous caller, or everyone.
 *
 * @example
 * ```ts
 * const alice: Scope = { kind: 'user', id: 'alice' };
 * ```
 */
export type Scope = { readonly kind: 'user'; readonly id: string } | { readonly kind: 'anon' } | { readonly kind: 'public' };

/** A lone (unpaired) surrogate: a string holding one has no exact UTF-8 form. */
const LONE_SURROGATE = /\p{Cs}/u;
/** First byte of the exact encoding: UTF-8 never holds 0xFF, so no id hashed the short way starts or contains it. */
const EXACT_MARK = Buffer.from([0xff]);

/**
 * The part of a key a hash-tagged store (Redis Cluster) hashes to place it: the text between the first `{` and
 * the first `}` after it when that text is not empty (a hash tag), else the
 * whole key. Two keys whose hashed parts are equal always share a slot.
 *
 * @example
 * ```ts
 * hashedPart('app:q:{u.1f}:list'); // 'u.1f'
 * hashedPart('app:v:all'); // 'app:v:all'
 * ```
 */
export function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close);
}

/**
 * Key segment of a user: `u.` + the first 32 hex digits of a SHA-256 of the
 * prefix and the id, so raw ids never appear in the store and the segment
 * cannot be forged by an id that looks like another segment.
 *
 * The hashed bytes are an exact encoding of the pair. When both are
 * well-formed text and the prefix holds no NUL, they are UTF-8(prefix), NUL,
 * UTF-8(id): unambiguous (the first NUL ends the prefix), and the same bytes for
 * every release, so processes of different releases share scope versions during
 * a rolling deploy. Otherwise (an id with a lone surrogate, which UTF-8 would
 * turn into U+FFFD and merge with another id) they are 0xFF, the prefix's
 * length in UTF-16 code units, then both as UTF-16 code units: 0xFF never
 * occurs in UTF-8, so the two forms never meet.
 */
function userSegment(prefix: string, plainPrefix: boolean, id: string): string {
  const hash = createHash('sha256');
  if (plainPrefix && !LONE_SURROGATE.test(id)) {
    hash.update(prefix).update('\0').update(id);
  } else {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(prefix.length);
    hash.update(EXACT_MARK).update(length).update(Buffer.from(prefix, 'utf16le')).update(Buffer.from(id, 'utf16le'));
  }
  return `u.${hash.digest('hex').slice(0, 32)}`;
}

function isPlainPrefix(prefix: string): boolean {
  return !prefix.includes('\0') && !LONE_SURROGATE.test(prefix);
}

/**
 * Key segment of a scope, computed afresh: for tests and one-off callers.
 * Request paths use {@link KeyFormat.scopeSegment}, which remembers recent users.
 *
 * @example
 * ```ts
 * scopeSegment('trpc-caching', { kind: 'user', id: 'alice' }); // 'u.' + 32 hex digits
 * scopeSegment('trpc-caching', { kind: 'anon' }); // 'anon'
 * ```
 */
export function scopeSegment(prefix: string, scope: Scope): string {
  if (scope.kind === 'anon') return 'anon';
  if (scope.kind === 'public') return 'public';
  return userSegment(prefix, isPlainPrefix(prefix), scope.id);
}

/**
 * Escapes the key separator in a free-form segment (path, tag), so that no
 * path or tag can be read as two segments or reach into another key family.
 *
 * @example
 * ```ts
 * escapeSegment('post:1'); // 'post%3A1'
 * ```
 */
export function escapeSegment(text: string): string {
  return /[%:]/.test(text) ? text.replace(/%/g, '%25').replace(/:/g, '%3A') : text;
}

/** `{` and `}` escaped too, for the hash-tag layout: only the library's own hash tags may decide a key's Cluster slot. */
function escapeTagged(text: string): string {
  const escaped = escapeSegment(text);
  return /[{}]/.test(escaped) ? escaped.replace(/\{/g, '%7B').replace(/\}/g, '%7D') : escaped;
}

/** Options of {@link KeyFormat}. */
export interface KeyFormatOptions {
  /**
   * The Redis Cluster layout (docs/how-it-works.md, "Key format"): a user's entries and scope version share the user's
   * hash tag, and the versions every hit reads (`all`, paths, the anonymous scope) share one tag per
   * prefix, so that a hit touches 2 slots (plus one per tag) instead of one per key.
   * @default false
   */
  readonly hashTags?: boolean;
}

/** Most router paths whose version keys are remembered; a router has far fewer. */
const MAX_REMEMBERED_PATHS = 4096;

/**
 * Every key the library writes, under one prefix (documented in docs/how-it-works.md,
 * "Key format"), and the hashing behind them. One per cache instance: its memos of
 * input digests, user segments and path versions belong to that instance and
 * go with it.
 *
 * @example
 * ```ts
 * const keys = new KeyFormat('shop-api');
 * keys.entry('post.byId', keys.scopeSegment({ kind: 'user', id: 'alice' }), keys.inputHash({ id: 1 }, limits));
 * // 'shop-api:q:post.byId:u.…:…'
 * ```
 */
export class KeyFormat {
  private readonly hasher = new Hasher();
  private readonly segments = new BoundedMemo();
  private readonly pathVersionMemo = new Map<string, readonly string[]>();
  private readonly versionPrefix: string;
  private readonly plainPrefix: boolean;
  private readonly hashTags: boolean;
  /** Where the versions every hit reads start: `{prefix}:v:`, or `{prefix}:v:{{prefix}}:` in the hash-tag layout. */
  private readonly sharedVersions: string;
  private readonly escape: (text: string) => string;
  private readonly tagVersionPrefix: string;

  /**
   * @param prefix What every key starts with. @default 'trpc-caching' (set by createCaching)
   * @param options The key layout; the default is the plain one.
   */
  constructor(
    readonly prefix: string,
    options: KeyFormatOptions = {},
  ) {
    this.versionPrefix = `${prefix}:v:`;
    this.plainPrefix = isPlainPrefix(prefix);
    this.hashTags = options.hashTags === true;
    this.sharedVersions = this.hashTags ? `${prefix}:v:{${prefix}}:` : this.versionPrefix;
    this.escape = this.hashTags ? escapeTagged : escapeSegment;
    this.tagVersionPrefix = this.tagVersion('');
  }

  /**
   * MD5 of the canonical text of an input (see `canonicalInput`), remembered
   * for short texts. Throws an `UncacheableInputError` for an input that is too
   * large, too deep, or holds a value that cannot be keyed exactly.
   */
  inputHash(input: unknown, limits: InputLimits): string {
    return this.hasher.md5(canonicalInput(input, limits));
  }

  /** Key segment of a scope (see {@link scopeSegment}), remembered for recent users. */
  scopeSegment(scope: Scope): string {
    if (scope.kind === 'anon') return 'anon';
    if (scope.kind === 'public') return 'public';
    return this.segments.get(scope.id) ?? this.segments.set(scope.id, userSegment(this.prefix, this.plainPrefix, scope.id));
  }

  /** Whether a store key is one of these version keys (`{prefix}:v:…`), for stores that keep versions apart. */
  isVersionKey(key: string): boolean {
    return key.startsWith(this.versionPrefix);
  }

  /** Whether a store key is a tag's version (`{prefix}:v:t:…`): tags come from inputs, so their seeds live short. */
  isTagVersionKey(key: string): boolean {
    return key.startsWith(this.tagVersionPrefix);
  }

  /** Forgets every remembered digest and segment (on close); keys stay the same. */
  clear(): void {
    this.hasher.clear();
    this.segments.clear();
    this.pathVersionMemo.clear();
  }

  /** `{prefix}:q:{path}:{scope}:{md5(input)}` */
  entry(path: string, scope: string, inputHash: string): string {
    // Hash-tag layout: a user's entries sit in the slot of their scope version. Anonymous and public entries keep
    // slots of their own: one tag for all of them would put every such entry on one node.
    if (this.hashTags && scope.startsWith('u.')) return `${this.prefix}:q:${this.escape(path)}:{${scope}}:${inputHash}`;
    return `${this.prefix}:q:${this.escape(path)}:${scope}:${inputHash}`;
  }

  /**
   * `{prefix}:l:…`, the lease a miss takes when `lock` is on: in the slot of the entry key, so that on a Cluster
   * the lease lives (and moves, in a reshard) with its entry. A tagged entry key keeps its tag; an untagged one is
   * wrapped whole in braces, which hashes exactly as the entry key does.
   */
  lease(entryKey: string): string {
    const family = entryKey.startsWith(`${this.prefix}:`) ? entryKey.slice(this.prefix.length + 1) : entryKey;
    const named = `${this.prefix}:l:${family}`;
    const slotOf = hashedPart(entryKey);
    if (hashedPart(named) === slotOf) return named;
    const wrapped = `${this.prefix}:l:{${entryKey}}`;
    return hashedPart(wrapped) === slotOf ? wrapped : named;
  }

  /** `{prefix}:v:all`, moved by `invalidate({ all: true })`. */
  allVersion(): string {
    return `${this.sharedVersions}all`;
  }

  /** `{prefix}:v:s:{scope}`, moved by a mutation of that user (or `users`). */
  scopeVersion(scope: string): string {
    // Hash-tag layout: a user's version in the slot of the user's entries; the anonymous scope's with the shared versions.
    if (this.hashTags) return scope.startsWith('u.') ? `${this.prefix}:v:s:{${scope}}` : `${this.sharedVersions}s:${scope}`;
    return `${this.prefix}:v:s:${scope}`;
  }

  /** `{prefix}:v:p:{path or router prefix}`, moved by `paths`. */
  pathVersion(path: string): string {
    return `${this.sharedVersions}p:${this.escape(path)}`;
  }

  /** `{prefix}:v:t:{tag}`, moved by `tags`. */
  tagVersion(tag: string): string {
    return `${this.prefix}:v:t:${this.escape(tag)}`;
  }

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
    if (this.pathVersionMemo.size < MAX_REMEMBERED_PATHS) this.pathVersionMemo.set(path, keys);
    return keys;
  }
}

/**
 * The scope of a user id as returned by the `user` option: null or undefined
 * is anonymous; a string or safe integer is a user (compared as a string, so
 * `42` and `"42"` are the same user, as they are in every database lookup);
 * anything else is a configuration error.
 *
 * @example
 * ```ts
 * userScope(42); // { kind: 'user', id: '42' }
 * userScope(null); // { kind: 'anon' }
 * ```
 */
export function userScope(id: unknown): Scope {
  if (id === null || id === undefined) return ANON;
  // A number beyond 2^53 may already be another id rounded: two users would share one scope. Such ids must come as strings.
  if ((typeof id === 'string' && id.length > 0) || (typeof id === 'number' && Number.isSafeInteger(id))) {
    return { kind: 'user', id: String(id) };
  }
  throw new CachingError(
    'config',
    `the user option must return a non-empty string, a safe integer, null or undefined; got ${describeValue(id)}` +
      (typeof id === 'number' && Number.isFinite(id) ? ' (pass ids beyond 2^53, or fractional ones, as strings)' : ''),
  );
}

const ANON: Scope = { kind: 'anon' };

function describeValue(value: unknown): string {
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${typeof value} ${String(value)}`;
}
