import type { AnyRouter } from '@trpc/server';
import { CachingConfigError } from '../errors.js';
import { lazyPrefixesOf, metaOf, middlewareRole, middlewaresOf, type ProcedureType, proceduresOf, procedureType } from './internals.js';
import type { ProcedureCaching, ResolvedCacheMeta, ResolvedInvalidateMeta } from './meta.js';

/** What validateRouter and describeRouter need of one caching instance. */
export interface CachingParts {
  /** The middleware `cachedQuery` adds. */
  readonly queryMiddleware: unknown;
  /** The middleware `invalidatingMutation` adds. */
  readonly mutationMiddleware: unknown;
  /** Validates and resolves `meta.cache`; throws a CachingConfigError. */
  readonly cacheMeta: (path: string, meta: unknown) => ResolvedCacheMeta;
  /** Validates and resolves `meta.invalidate`; throws a CachingConfigError. */
  readonly invalidateMeta: (path: string, meta: unknown) => ResolvedInvalidateMeta | undefined;
}

/** The two caching builders. */
export type Builder = 'cachedQuery' | 'invalidatingMutation';

// The middlewares of every caching instance, so that one instance's validateRouter recognises a procedure that
// another instance built (its meta is not misplaced) and still checks how it was built.
const builders = new WeakMap<object, Builder>();
// Stand-ins for the cache middleware in a caching builder's `_def` as another builder's `.concat()` reads it.
const borrowed = new WeakSet<object>();

/**
 * Makes the instance's middlewares known to every instance's `validateRouter`. Call it once, when the instance
 * is created; `validateRouter` calls it too.
 *
 * @example
 * ```ts
 * const parts = registerCaching({ queryMiddleware, mutationMiddleware, cacheMeta, invalidateMeta });
 * ```
 */
export function registerCaching(parts: CachingParts): CachingParts {
  for (const [middleware, builder] of [
    [parts.queryMiddleware, 'cachedQuery'],
    [parts.mutationMiddleware, 'invalidatingMutation'],
  ] as const) {
    if (typeof middleware === 'function') builders.set(middleware, builder);
  }
  return parts;
}

/**
 * Registers the middleware that stands for a caching builder's cache middleware when another builder takes its
 * definition (`t.procedure.concat(cachedQuery(base))`): what follows it there cannot be checked when it is built,
 * so `validateRouter` refuses such a procedure and the stand-in refuses every call.
 *
 * @example
 * ```ts
 * registerBorrowed(refuseCalls, 'cachedQuery');
 * ```
 */
export function registerBorrowed(middleware: object, builder: Builder): void {
  builders.set(middleware, builder);
  borrowed.add(middleware);
}

const EXPECTED: Record<Builder, ProcedureType> = { cachedQuery: 'query', invalidatingMutation: 'mutation' };

function builderOf(middleware: unknown): Builder | undefined {
  return typeof middleware === 'function' ? builders.get(middleware) : undefined;
}

function nameOf(middleware: unknown): string {
  const name = typeof middleware === 'function' ? middleware.name : '';
  return name ? `middleware "${name}"` : 'an anonymous middleware';
}

/** What is wrong with how a procedure was built with a caching builder, if anything. */
interface BuildProblem {
  readonly builder: Builder;
  readonly problem: string | undefined;
}

/**
 * The caching builder a finished procedure was built with (undefined when none) and, when it is built wrongly,
 * what is wrong and what to do, in a sentence that follows the procedure's name.
 *
 * @example
 * ```ts
 * const found = buildProblem(procedure);
 * if (found?.problem) throw new CachingConfigError('procedure "me"', found.problem);
 * ```
 */
export function buildProblem(procedure: object): BuildProblem | undefined {
  const middlewares = middlewaresOf(procedure);
  const at = middlewares.findIndex((middleware) => builderOf(middleware) !== undefined);
  if (at < 0) return undefined;
  const builder = builderOf(middlewares[at]) as Builder;
  const type = procedureType(procedure);
  if (type !== EXPECTED[builder]) {
    const fix =
      type === 'subscription'
        ? 'subscriptions are not cached: build it on the base procedure'
        : `build a ${type} with ${builder === 'cachedQuery' ? 'invalidatingMutation' : 'cachedQuery'}(base), or on the base procedure`;
    return { builder, problem: `is a ${type} built with ${builder}, which only works for a ${EXPECTED[builder]}; ${fix}` };
  }
  for (const later of middlewares.slice(at + 1)) {
    const again = builderOf(later);
    if (again !== undefined) return { builder, problem: `is built with ${builder} and then ${again}; build it with ${builder}(base) once` };
    // tRPC's own parsers and error formatter may follow: they neither set ctx nor decide who may call.
    if (middlewareRole(later) === 'other') {
      return {
        builder,
        problem:
          `runs ${nameOf(later)} after ${builder}. A middleware after the cache runs only on a miss, and any ctx it sets ` +
          "(such as the user) is not seen when the cache picks the entry, so one user could get another's data. " +
          `Add it to the base procedure instead: ${builder}(t.procedure.use(...)).`,
      };
    }
  }
  if (borrowed.has(middlewares[at] as object)) {
    return {
      builder,
      problem:
        `takes a ${builder} builder through .concat(), after which middlewares cannot be checked; ` +
        `concatenate into the base instead: ${builder}(t.procedure.concat(...))`,
    };
  }
  return { builder, problem: undefined };
}

/** Throws for a procedure built wrongly with a caching builder; returns the builder that made it, if any. */
function checkBuild(path: string, procedure: object): Builder | undefined {
  const found = buildProblem(procedure);
  if (found?.problem !== undefined) throw new CachingConfigError(`procedure "${path}"`, found.problem);
  return found?.builder;
}

/**
 * Throws when a procedure carries `meta.cache` or `meta.invalidate` that its builder would ignore.
 *
 * @example
 * ```ts
 * checkPlacement('post.list', { invalidate: { all: true } }, 'cachedQuery'); // throws: a query ignores meta.invalidate
 * ```
 */
export function checkPlacement(path: string, meta: unknown, builder: Builder | undefined): void {
  const fields = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : {};
  for (const [field, owner] of [
    ['cache', 'cachedQuery'],
    ['invalidate', 'invalidatingMutation'],
  ] as const) {
    // `false` says "off", which is true of every other procedure too; a base's meta may set it for all.
    if (fields[field] === undefined || fields[field] === false || builder === owner) continue;
    throw new CachingConfigError(
      `meta.${field} of "${path}"`,
      `is ignored: "${path}" is not built with ${owner}. Build it with caching.${owner}(base), or remove meta.${field}`,
    );
  }
}

/** Edit distance, for suggesting the path a typo meant. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next.push(Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

/** Every path and router prefix of these procedure paths: `post.byId` gives `post` and `post.byId`. */
function prefixesOf(paths: readonly string[]): Set<string> {
  const prefixes = new Set<string>();
  for (const path of paths) {
    for (let at = path.indexOf('.'); at >= 0; at = path.indexOf('.', at + 1)) prefixes.add(path.slice(0, at));
    prefixes.add(path);
  }
  return prefixes;
}

/** Throws for an `invalidate.paths` entry that reaches no query cached by this instance. */
function checkPaths(path: string, paths: readonly string[], cached: Set<string>, known: Set<string>, lazy: readonly string[]): void {
  const under = (prefix: string, candidate: string) => candidate === prefix || candidate.startsWith(`${prefix}.`);
  for (const target of paths) {
    if (cached.has(target)) continue;
    // A lazy router's procedures are unknown until it loads: a path into (or around) one cannot be checked.
    if (lazy.some((prefix) => under(prefix, target) || under(target, prefix))) continue;
    const option = `meta.invalidate of "${path}".paths`;
    if (known.has(target)) {
      throw new CachingConfigError(
        option,
        `"${target}" reaches no procedure built with this instance's cachedQuery, so it would invalidate nothing; name a cached query or a router prefix of one`,
      );
    }
    throw new CachingConfigError(
      option,
      `"${target}" names no procedure or router prefix, so it would invalidate nothing${hintFor(target, known)}`,
    );
  }
}

/** "; did you mean …?" for a path that names nothing: a near spelling, or the same path under a router prefix. */
function hintFor(target: string, known: Set<string>): string {
  const closest = [...known].sort((a, b) => distance(target, a) - distance(target, b))[0];
  if (closest !== undefined && distance(target, closest) <= 2) return `; did you mean "${closest}"?`;
  // A router mounted under a prefix (`t.router({ api: root })`) serves `post.byId` as `api.post.byId`.
  const mounted = [...known].filter((path) => path.endsWith(`.${target}`)).sort((a, b) => a.length - b.length)[0];
  return mounted === undefined ? '' : `; did you mean "${mounted}" (the path it is served at)?`;
}

/**
 * Checks a router against one caching instance, at startup: throws a CachingConfigError naming the first
 * procedure that is wrong and saying what to do. It refuses
 * - a middleware other than tRPC's input/output parsers after `cachedQuery`/`invalidatingMutation` (it would
 *   run only on a miss, and a user it sets is not seen by the cache);
 * - `cachedQuery` ending in `.mutation()` or `.subscription()`, `invalidatingMutation` in `.query()` or `.subscription()`;
 * - `meta.cache` on a procedure not built with `cachedQuery`, `meta.invalidate` on one not built with `invalidatingMutation`;
 * - bad `meta.cache` / `meta.invalidate` of this instance's procedures, and `invalidate.paths` that reach no
 *   query this instance caches (lazy routers that have not loaded are not checked).
 *
 * @example
 * ```ts
 * validateRouter(appRouter, parts); // what caching.validateRouter(appRouter) runs
 * ```
 */
export function validateRouter(router: AnyRouter, parts: CachingParts): void {
  registerCaching(parts);
  const index = pathIndex(router, parts);
  for (const [path, procedure] of proceduresOf(router)) checkProcedure(path, procedure, parts, index);
}

/** The paths `invalidate.paths` may name in a router: cached queries and their prefixes, all paths, lazy prefixes. */
export interface PathIndex {
  readonly cached: Set<string>;
  readonly known: Set<string>;
  readonly lazy: readonly string[];
}

/**
 * The {@link PathIndex} of a router as served under `mount` (`'api.'` for `t.router({ api: router })`).
 *
 * @example
 * ```ts
 * checkProcedure('api.post.rename', procedure, parts, pathIndex(root, parts, 'api.'));
 * ```
 */
export function pathIndex(router: AnyRouter, parts: CachingParts, mount = ''): PathIndex {
  const procedures = [...proceduresOf(router)];
  const cached = procedures.filter(([, procedure]) => middlewaresOf(procedure).includes(parts.queryMiddleware));
  return {
    cached: prefixesOf(cached.map(([path]) => mount + path)),
    known: prefixesOf(procedures.map(([path]) => mount + path)),
    lazy: lazyPrefixesOf(router).map((prefix) => mount + prefix),
  };
}

/**
 * Everything validateRouter checks of one procedure served at `path`: how it was built, meta its builder would
 * ignore, its `meta.cache`/`meta.invalidate`, and `invalidate.paths` against the router's paths. Throws a
 * CachingConfigError naming what to fix.
 *
 * @example
 * ```ts
 * checkProcedure('post.rename', procedure, parts, pathIndex(appRouter, parts));
 * ```
 */
export function checkProcedure(path: string, procedure: object, parts: CachingParts, index: PathIndex): void {
  const builder = checkBuild(path, procedure);
  const meta = metaOf(procedure);
  checkPlacement(path, meta, builder);
  const chain = middlewaresOf(procedure);
  if (chain.includes(parts.queryMiddleware)) parts.cacheMeta(path, meta);
  if (chain.includes(parts.mutationMiddleware)) {
    const resolved = parts.invalidateMeta(path, meta);
    if (resolved !== undefined) checkPaths(path, resolved.paths, index.cached, index.known, index.lazy);
  }
}

/**
 * How each procedure of the router uses this instance, by path: what `caching.describe(router)` returns.
 *
 * @example
 * ```ts
 * for (const [path, info] of describeRouter(appRouter, parts)) console.log(path, info.kind);
 * ```
 */
export function describeRouter(router: AnyRouter, parts: CachingParts): ReadonlyMap<string, ProcedureCaching> {
  const described = new Map<string, ProcedureCaching>();
  for (const [path, procedure] of proceduresOf(router)) {
    const chain = middlewaresOf(procedure);
    const meta = metaOf(procedure);
    if (chain.includes(parts.queryMiddleware)) described.set(path, { kind: 'query', cache: parts.cacheMeta(path, meta) });
    else if (chain.includes(parts.mutationMiddleware))
      described.set(path, { kind: 'mutation', invalidate: parts.invalidateMeta(path, meta) });
  }
  return described;
}
