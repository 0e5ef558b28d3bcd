import type { AnyRouter } from '@trpc/server';
import { CachingConfigError } from '../errors.js';
import {
  lazyPrefixesOf,
  metaOf,
  middlewareRole,
  middlewaresOf,
  type ProcedureType,
  procedureAt,
  proceduresOf,
  procedureType,
} from './internals.js';
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

type Builder = 'cachedQuery' | 'invalidatingMutation';

// The middlewares of every caching instance, so that one instance's validateRouter recognises a procedure that
// another instance built (its meta is not misplaced) and still checks how it was built.
const builders = new WeakMap<object, Builder>();

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

const EXPECTED: Record<Builder, ProcedureType> = { cachedQuery: 'query', invalidatingMutation: 'mutation' };

function builderOf(middleware: unknown): Builder | undefined {
  return typeof middleware === 'function' ? builders.get(middleware) : undefined;
}

function nameOf(middleware: unknown): string {
  const name = typeof middleware === 'function' ? middleware.name : '';
  return name ? `middleware "${name}"` : 'an anonymous middleware';
}

/** Throws for a procedure built wrongly with a caching builder; returns the builder that made it, if any. */
function checkBuild(path: string, procedure: object): Builder | undefined {
  const middlewares = middlewaresOf(procedure);
  const at = middlewares.findIndex((middleware) => builderOf(middleware) !== undefined);
  if (at < 0) return undefined;
  const builder = builderOf(middlewares[at]) as Builder;
  const option = `procedure "${path}"`;
  const type = procedureType(procedure);
  if (type !== EXPECTED[builder]) {
    const fix =
      type === 'subscription'
        ? 'subscriptions are not cached: build it on the base procedure'
        : `build a ${type} with ${builder === 'cachedQuery' ? 'invalidatingMutation' : 'cachedQuery'}(base), or on the base procedure`;
    throw new CachingConfigError(option, `is a ${type} built with ${builder}, which only works for a ${EXPECTED[builder]}; ${fix}`);
  }
  for (const later of middlewares.slice(at + 1)) {
    const again = builderOf(later);
    if (again !== undefined) {
      throw new CachingConfigError(option, `is built with ${builder} and then ${again}; build it with ${builder}(base) once`);
    }
    // tRPC's own parsers and error formatter may follow: they neither set ctx nor decide who may call.
    if (middlewareRole(later) === 'other') {
      throw new CachingConfigError(
        option,
        `runs ${nameOf(later)} after ${builder}. A middleware after the cache runs only on a miss, and any ctx it sets ` +
          "(such as the user) is not seen when the cache picks the entry, so one user could get another's data. " +
          `Add it to the base procedure instead: ${builder}(t.procedure.use(...)).`,
      );
    }
  }
  return builder;
}

/** Throws when a procedure carries `meta.cache` or `meta.invalidate` that its builder would ignore. */
function checkPlacement(path: string, meta: unknown, builder: Builder | undefined): void {
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
    const closest = [...known].sort((a, b) => distance(target, a) - distance(target, b))[0];
    const hint = closest !== undefined && distance(target, closest) <= 2 ? `; did you mean "${closest}"?` : '';
    throw new CachingConfigError(option, `"${target}" names no procedure or router prefix, so it would invalidate nothing${hint}`);
  }
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
  const procedures = proceduresOf(router);
  const cachedPaths: string[] = [];
  const mutations: [string, object][] = [];
  for (const [path, procedure] of procedures) {
    const builder = checkBuild(path, procedure);
    const meta = metaOf(procedure);
    checkPlacement(path, meta, builder);
    const chain = middlewaresOf(procedure);
    if (chain.includes(parts.queryMiddleware)) {
      parts.cacheMeta(path, meta);
      cachedPaths.push(path);
    }
    if (chain.includes(parts.mutationMiddleware)) mutations.push([path, procedure]);
  }
  const cached = prefixesOf(cachedPaths);
  const known = prefixesOf([...procedures.keys()]);
  const lazy = lazyPrefixesOf(router);
  for (const [path, procedure] of mutations) {
    const resolved = parts.invalidateMeta(path, metaOf(procedure));
    if (resolved !== undefined) checkPaths(path, resolved.paths, cached, known, lazy);
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

/**
 * What `validateRouter` could not see when it ran, checked at a procedure's first call: procedures of lazy
 * routers load only then. A procedure built wrongly (a middleware after the cache, say) is refused at that call
 * instead of caching under the wrong user. Paths already checked cost one set lookup.
 */
export class CallChecks {
  private readonly routers: AnyRouter[] = [];
  private readonly checked = new Set<string>();

  constructor(private readonly parts: CachingParts) {}

  /** Remembers a router validateRouter passed, and the paths it checked. */
  validated(router: AnyRouter): void {
    if (!this.routers.includes(router)) this.routers.push(router);
    for (const path of proceduresOf(router).keys()) this.checked.add(path);
  }

  /** Throws a CachingConfigError when the procedure at `path` of a validated router is built wrongly. */
  check(path: string): void {
    if (this.routers.length === 0 || this.checked.has(path)) return;
    for (const router of this.routers) {
      const procedure = procedureAt(router, path);
      if (procedure === undefined) continue;
      const builder = checkBuild(path, procedure);
      const meta = metaOf(procedure);
      checkPlacement(path, meta, builder);
      if (builder === 'cachedQuery') this.parts.cacheMeta(path, meta);
      else if (builder === 'invalidatingMutation') this.parts.invalidateMeta(path, meta);
      this.checked.add(path);
      return;
    }
  }
}
