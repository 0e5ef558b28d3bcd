import { CachingConfigError, CachingError } from '../errors.js';
import { checkDuration, describe } from '../options.js';
import type { CacheMeta, CachingMeta, InvalidateMeta } from './caching-meta.js';

/** `meta.cache` after validation, with defaults applied. */
export interface ResolvedCacheMeta {
  readonly enabled: boolean;
  readonly ttl: number;
  readonly scope: 'user' | 'public';
  readonly tags: CacheMeta['tags'] | undefined;
  /** Stale-while-revalidate window in ms; 0 when off. */
  readonly staleWhileRevalidate: number;
  readonly staleIfError: boolean;
  /** Whether a miss takes a lease so that processes missing it at once run the resolver once. */
  readonly lock: boolean;
  /** Whether the consistency auditor may check this procedure's hits (`meta.cache.audit`). */
  readonly audit: boolean;
  /** How long shared caches (a CDN) may keep a public response, in ms (`s-maxage`); undefined: as `max-age`. */
  readonly sMaxAge?: number | undefined;
}

/** `meta.invalidate` after validation, with defaults applied; undefined when it invalidates nothing. */
export interface ResolvedInvalidateMeta {
  readonly self: boolean;
  readonly users: InvalidateMeta['users'] | undefined;
  readonly paths: readonly string[];
  readonly tags: InvalidateMeta['tags'] | undefined;
  readonly all: boolean;
}

function checkObject(option: string, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CachingConfigError(option, `expected an object or false, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new CachingConfigError(`${option}.${key}`, `unknown option; expected one of ${allowed.join(', ')}`);
    }
  }
  return value as Record<string, unknown>;
}

function checkStringList(option: string, value: unknown, allowFunction: boolean): void {
  if (value === undefined || (allowFunction && typeof value === 'function')) return;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item.length > 0)) {
    throw new CachingConfigError(
      option,
      `expected an array of non-empty strings${allowFunction ? ' or a function returning one' : ''}, got ${describe(value)}`,
    );
  }
}

// What `${value}` gives for a value that is not there: `post:${input.id}` on a number input is `post:undefined`.
// A segment is delimited by anything but a letter or digit, so `user:null` and `page-NaN` are caught and `nullable` is not.
const MISSING_SEGMENT = /(?:^|[^\p{L}\p{N}])(undefined|null|NaN)(?![\p{L}\p{N}])/u;
const OBJECT_TEXT = /\[object [^\]]*\]/;
// Tags are checked on every call of a tagged query: this cheap test lets almost every tag skip the two above.
const SUSPECT = /undefined|null|NaN|\[object /;

/** Why these tags cannot be used, or undefined when each is a non-empty string with no stringified missing value in it. */
function tagsProblem(tags: unknown): string | undefined {
  if (!Array.isArray(tags)) return `expected an array of tags, got ${describe(tags)}`;
  for (const tag of tags) {
    if (typeof tag !== 'string') return `expected every tag to be a string, got ${describe(tag)}`;
    if (tag.length === 0) return 'expected non-empty tags, got the empty string';
    const missing = SUSPECT.test(tag) ? (MISSING_SEGMENT.exec(tag)?.[1] ?? OBJECT_TEXT.exec(tag)?.[0]) : undefined;
    if (missing !== undefined) {
      return (
        `the tag ${JSON.stringify(tag)} contains "${missing}", the text of a missing value: a field the callback read is not there ` +
        '(`input` and `result` are empty records when the value is not an object: read `rawInput` or `rawResult`)'
      );
    }
  }
  return undefined;
}

/**
 * Checks the tags a `meta.cache.tags` or `meta.invalidate.tags` callback returned, so that a tag built from a
 * missing value (`post:${input.id}` when the input is a number gives `post:undefined`) never silently names
 * the wrong tag. Refuses a non-array, a non-string or empty tag, and a tag with `undefined`, `null` or `NaN`
 * as a segment or `[object …]` in it.
 *
 * @param option - The option the tags came from, e.g. `meta.cache.tags`.
 * @param path - The procedure the tags belong to.
 * @param value - What the callback returned.
 * @returns The tags, unchanged.
 * @throws {CachingError} With operation `config`, naming the procedure: a query then bypasses the cache and
 *   reports it; a mutation invalidates everything instead.
 * @example
 * ```ts
 * checkTags('meta.cache.tags', 'post.byId', ['post:1']); // ['post:1']
 * checkTags('meta.cache.tags', 'post.byId', ['post:undefined']); // throws CachingError
 * ```
 */
export function checkTags(option: string, path: string, value: unknown): readonly string[] {
  const problem = tagsProblem(value);
  if (problem !== undefined) throw new CachingError('config', `${option} of "${path}": ${problem}`, { path });
  return value as readonly string[];
}

/**
 * Static tags are checked once, here. A callback's tags are checked at each call, by the middleware that calls
 * it (with {@link checkTags} and the path of that call: procedures that share a base's meta share this object).
 */
function checkStaticTags(option: string, tags: unknown): void {
  if (tags === undefined || typeof tags === 'function') return;
  const problem = tagsProblem(tags);
  if (problem !== undefined) throw new CachingConfigError(option, problem);
}

/** Validates and resolves `meta.cache` of the procedure at `path`. */
export function resolveCacheMeta(
  path: string,
  meta: unknown,
  defaults: { readonly ttl: number; readonly versionTtl: number; readonly lock?: boolean },
): ResolvedCacheMeta {
  const raw = (meta as CachingMeta | undefined)?.cache;
  const off = { staleWhileRevalidate: 0, staleIfError: false, lock: defaults.lock === true, audit: true };
  if (raw === false) return { enabled: false, ttl: defaults.ttl, scope: 'user', tags: undefined, ...off };
  if (raw === undefined) return { enabled: true, ttl: defaults.ttl, scope: 'user', tags: undefined, ...off };
  const option = `meta.cache of "${path}"`;
  const cache = checkObject(option, raw, [
    'ttl',
    'scope',
    'tags',
    'enabled',
    'staleWhileRevalidate',
    'staleIfError',
    'lock',
    'audit',
    'sMaxAge',
  ]);
  const ttl = cache.ttl === undefined ? defaults.ttl : checkDuration(`${option}.ttl`, cache.ttl, { min: 1, max: defaults.versionTtl });
  // The entry stays in the store for ttl + window: versions must still outlive it.
  const staleWhileRevalidate =
    cache.staleWhileRevalidate === undefined ? 0 : checkDuration(`${option}.staleWhileRevalidate`, cache.staleWhileRevalidate, { min: 0 });
  if (ttl + staleWhileRevalidate > defaults.versionTtl) {
    throw new CachingConfigError(
      `${option}.staleWhileRevalidate`,
      `ttl + staleWhileRevalidate (${ttl + staleWhileRevalidate} ms) must not exceed versionTtl (${defaults.versionTtl} ms): a version must outlive every entry that depends on it`,
    );
  }
  if (cache.staleIfError !== undefined && typeof cache.staleIfError !== 'boolean') {
    throw new CachingConfigError(`${option}.staleIfError`, `expected a boolean, got ${describe(cache.staleIfError)}`);
  }
  if (cache.staleIfError === true && staleWhileRevalidate === 0) {
    throw new CachingConfigError(
      `${option}.staleIfError`,
      'needs a staleWhileRevalidate window (ms): it serves an expired entry only within that window',
    );
  }
  if (cache.scope !== undefined && cache.scope !== 'user' && cache.scope !== 'public') {
    throw new CachingConfigError(`${option}.scope`, `expected 'user' or 'public', got ${describe(cache.scope)}`);
  }
  for (const flag of ['enabled', 'lock', 'audit'] as const) {
    if (cache[flag] !== undefined && typeof cache[flag] !== 'boolean') {
      throw new CachingConfigError(`${option}.${flag}`, `expected a boolean, got ${describe(cache[flag])}`);
    }
  }
  checkStringList(`${option}.tags`, cache.tags, true);
  checkStaticTags(`${option}.tags`, cache.tags);
  const sMaxAge = cache.sMaxAge === undefined ? undefined : checkDuration(`${option}.sMaxAge`, cache.sMaxAge, { min: 0 });
  if (sMaxAge !== undefined && cache.scope !== 'public') {
    throw new CachingConfigError(
      `${option}.sMaxAge`,
      "needs scope: 'public': a per-user response is private and never kept by a shared cache, so s-maxage would say nothing",
    );
  }
  return {
    enabled: (cache.enabled as boolean | undefined) ?? true,
    ttl,
    scope: (cache.scope as 'user' | 'public' | undefined) ?? 'user',
    tags: cache.tags as CacheMeta['tags'],
    staleWhileRevalidate,
    staleIfError: cache.staleIfError === true,
    lock: typeof cache.lock === 'boolean' ? cache.lock : defaults.lock === true,
    audit: cache.audit !== false,
    ...(sMaxAge === undefined ? {} : { sMaxAge }),
  };
}

/** Validates and resolves `meta.invalidate` of the procedure at `path`. */
export function resolveInvalidateMeta(path: string, meta: unknown): ResolvedInvalidateMeta | undefined {
  const raw = (meta as CachingMeta | undefined)?.invalidate;
  if (raw === false) return undefined;
  if (raw === undefined) return { self: true, users: undefined, paths: [], tags: undefined, all: false };
  const option = `meta.invalidate of "${path}"`;
  const inv = checkObject(option, raw, ['self', 'users', 'paths', 'tags', 'all']);
  for (const flag of ['self', 'all'] as const) {
    if (inv[flag] !== undefined && typeof inv[flag] !== 'boolean') {
      throw new CachingConfigError(`${option}.${flag}`, `expected a boolean, got ${describe(inv[flag])}`);
    }
  }
  if (inv.users !== undefined && typeof inv.users !== 'function') {
    if (!Array.isArray(inv.users) || !inv.users.every(isUserId)) {
      throw new CachingConfigError(`${option}.users`, `expected an array of user ids (string or number) or a function returning one`);
    }
  }
  checkStringList(`${option}.paths`, inv.paths, false);
  checkStringList(`${option}.tags`, inv.tags, true);
  checkStaticTags(`${option}.tags`, inv.tags);
  return {
    self: (inv.self as boolean | undefined) ?? true,
    users: inv.users as InvalidateMeta['users'],
    paths: (inv.paths as readonly string[] | undefined) ?? [],
    tags: inv.tags as InvalidateMeta['tags'],
    all: (inv.all as boolean | undefined) ?? false,
  };
}

/** A user id the cache accepts: a non-empty string or a safe integer. */
export function isUserId(value: unknown): value is string | number {
  return (typeof value === 'string' && value.length > 0) || (typeof value === 'number' && Number.isSafeInteger(value));
}

/** The input as meta callbacks see it. */
export function asRecord(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/** How a procedure uses a caching instance, as `caching.describe(router)` reports it. */
export type ProcedureCaching =
  | { readonly kind: 'query'; readonly cache: ResolvedCacheMeta }
  | { readonly kind: 'mutation'; readonly invalidate: ResolvedInvalidateMeta | undefined };
