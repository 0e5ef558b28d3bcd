/**
 * Every use of tRPC's internals in one place. tRPC marks `_def`, `middlewareMarker`
 * and `unstable-core-do-not-import` as internal: they may change in any 11.x
 * release, so the rest of trpc-caching reads them only through these functions,
 * and test/trpc/internals.test.ts checks each one against the lowest 11.x that
 * the peer range allows (11.0.0) and the newest installed.
 *
 * Functions that read a router or procedure take `unknown` and check the shape
 * they rely on: a shape they do not recognise is an error, never an empty answer,
 * because an empty answer would let `validateRouter` pass a router it did not read.
 */
import { type inferProcedureBuilderResolverOptions, TRPCError } from '@trpc/server';
import { resolveResponse } from '@trpc/server/http';
import {
  type AnyProcedureBuilder,
  getProcedureAtPath,
  type MiddlewareResult,
  middlewareMarker,
} from '@trpc/server/unstable-core-do-not-import';

export type { AnyProcedureBuilder, MiddlewareResult };

/** The kinds of procedure tRPC 11 builds. */
export type ProcedureType = 'query' | 'mutation' | 'subscription';

/**
 * What a middleware in a procedure's chain is, as far as the cache cares:
 * tRPC's own input parser, output parser or error formatter (tagged with `_type`
 * by tRPC), or anything else (a user's middleware, which may change `ctx`).
 */
export type MiddlewareRole = 'input' | 'output' | 'errors' | 'other';

type Def = Record<string, unknown>;

function defOf(value: unknown, what: string): Def {
  const def = typeof value === 'function' || (typeof value === 'object' && value !== null) ? (value as { _def?: unknown })._def : undefined;
  if (typeof def !== 'object' || def === null) {
    throw new TypeError(`trpc-caching: expected a tRPC v11 ${what}, got a value without _def`);
  }
  return def as Def;
}

/**
 * The procedures of a router by full dotted path (`post.byId`), nested routers
 * flattened, as tRPC's `router._def.procedures` holds them. Procedures of lazy
 * routers that have not loaded yet are absent (see {@link lazyPrefixesOf}).
 */
export function proceduresOf(router: unknown): ReadonlyMap<string, object> {
  const procedures = defOf(router, 'router').procedures;
  if (typeof procedures !== 'object' || procedures === null) {
    throw new TypeError('trpc-caching: expected a tRPC v11 router (its _def.procedures is missing)');
  }
  return new Map(Object.entries(procedures as Record<string, object>));
}

/** The procedure at a full dotted path, once loaded (lazy routers add theirs when first called); undefined otherwise. */
export function procedureAt(router: unknown, path: string): object | undefined {
  const procedures = defOf(router, 'router').procedures as Record<string, object> | undefined;
  return procedures !== undefined && Object.hasOwn(procedures, path) ? procedures[path] : undefined;
}

/**
 * The procedure at a full dotted path, loading the lazy routers on the way as a call would (tRPC's own
 * `getProcedureAtPath`); undefined when there is none.
 *
 * @example
 * ```ts
 * const procedure = await loadedProcedureAt(appRouter, 'account.me'); // loads `account: lazy(...)` first
 * ```
 */
export async function loadedProcedureAt(router: unknown, path: string): Promise<object | undefined> {
  defOf(router, 'router');
  return (await getProcedureAtPath(router as Parameters<typeof getProcedureAtPath>[0], path)) ?? undefined;
}

/** Dotted paths of the router's lazy sub-routers that have not loaded yet: their procedures are unknown until then. */
export function lazyPrefixesOf(router: unknown): readonly string[] {
  const lazy = defOf(router, 'router').lazy;
  return typeof lazy === 'object' && lazy !== null ? Object.keys(lazy) : [];
}

/** `query`, `mutation` or `subscription` for a finished procedure; undefined for a builder that has no resolver yet. */
export function procedureType(procedure: unknown): ProcedureType | undefined {
  const type = defOf(procedure, 'procedure').type;
  return type === 'query' || type === 'mutation' || type === 'subscription' ? type : undefined;
}

/** The procedure's (or builder's) meta, as `.meta()` calls merged it. */
export function metaOf(procedure: unknown): unknown {
  return defOf(procedure, 'procedure').meta;
}

/**
 * The middlewares of a procedure or builder in the order they run, including
 * the parsers that `.input()` and `.output()` add. For a finished procedure the
 * last step, which tRPC appends to call the resolver, is left out: it is not a
 * middleware the app added.
 */
export function middlewaresOf(procedure: unknown): readonly unknown[] {
  const def = defOf(procedure, 'procedure');
  if (!Array.isArray(def.middlewares)) throw new TypeError('trpc-caching: expected a tRPC v11 procedure (its _def.middlewares is missing)');
  return typeof def.resolver === 'function' ? def.middlewares.slice(0, -1) : [...def.middlewares];
}

/**
 * Whether a value is a tRPC procedure builder (what `t.procedure`, `.input()`, `.use()` return): an object whose
 * `_def` is marked `procedure: true` by tRPC's `createBuilder` and that can still end in `.query()`.
 *
 * @example
 * ```ts
 * isProcedureBuilder(t.procedure.input(schema)); // true; false for t.procedure.query(...)
 * ```
 */
export function isProcedureBuilder(value: unknown): value is AnyProcedureBuilder {
  if (typeof value !== 'object' || value === null) return false;
  const def = (value as { _def?: unknown })._def;
  return (
    typeof def === 'object' && def !== null && (def as Def).procedure === true && typeof (value as { query?: unknown }).query === 'function'
  );
}

/**
 * Whether a value is a finished tRPC procedure (what `.query()`, `.mutation()`, `.subscription()` return).
 *
 * @example
 * ```ts
 * isProcedure(t.procedure.query(() => 1)); // true; false for t.procedure
 * ```
 */
export function isProcedure(value: unknown): value is object {
  if (typeof value !== 'function') return false;
  const def = (value as { _def?: unknown })._def;
  return typeof def === 'object' && def !== null && typeof (def as Def).type === 'string';
}

/** What a middleware of {@link middlewaresOf} is: tRPC tags its own parsers and error formatter with `_type`. */
export function middlewareRole(middleware: unknown): MiddlewareRole {
  const type = typeof middleware === 'function' ? (middleware as { _type?: unknown })._type : undefined;
  return type === 'input' || type === 'output' || type === 'errors' ? type : 'other';
}

/** A middleware result that ends the chain with `data`, without running the rest (a cache hit). */
export function endChain(data: unknown): MiddlewareResult<object> {
  return { ok: true, data, marker: middlewareMarker };
}

/**
 * The context a builder's resolver sees: the root context with every override
 * its middlewares made. Read through tRPC's public `inferProcedureBuilderResolverOptions`,
 * which exists with the same meaning from 11.0.0 on.
 */
export type BuilderContext<TBuilder extends AnyProcedureBuilder> = inferProcedureBuilderResolverOptions<TBuilder>['ctx'];

/**
 * No constraint (`unknown`) when a builder's context can be handed to `createCaching<Ctx>`'s `user`; otherwise an
 * object type whose one property says what is wrong. Intersected with a `base` parameter, it turns a mismatch into
 * a compile error at `cachedQuery(base)` while the builder's own type is still the one inferred and returned.
 */
export type ContextCheck<TBuilder extends AnyProcedureBuilder, TCtx> = [BuilderContext<TBuilder>] extends [TCtx]
  ? unknown
  : { readonly 'trpc-caching: the context of this base procedure does not satisfy the Ctx given to createCaching<Ctx>': TCtx };

/**
 * Whether a failed call failed in tRPC's `.output()` parser, so after its resolver ran (and, for a mutation,
 * wrote). tRPC 11 throws this one error there, with this message, from 11.0.0 on.
 */
export function isOutputValidationFailure(error: unknown): boolean {
  return error instanceof TRPCError && error.code === 'INTERNAL_SERVER_ERROR' && error.message === 'Output validation failed';
}

/** What the HTTP fast path reads of a router's root config (`router._def._config`). */
export interface RouterHttpConfig {
  /** The output transformer tRPC serializes results with (`{ serialize }`; the identity without a transformer). */
  readonly output: { serialize: (value: unknown) => unknown };
  /** The input transformer tRPC deserializes `?input=` with. */
  readonly input: { deserialize: (value: unknown) => unknown };
  /** `pathSeparator` (11.x, later releases): undefined or '.' means dotted URLs. */
  readonly pathSeparator: unknown;
}

/** The parts of a router's config the fast path needs; throws for a value that is not a tRPC v11 router. */
export function routerHttpConfigOf(router: unknown): RouterHttpConfig {
  const config = defOf(router, 'router')._config as
    | { transformer?: { input?: unknown; output?: unknown }; pathSeparator?: unknown }
    | undefined;
  const transformer = config?.transformer;
  const output = transformer?.output as RouterHttpConfig['output'] | undefined;
  const input = transformer?.input as RouterHttpConfig['input'] | undefined;
  if (typeof output?.serialize !== 'function' || typeof input?.deserialize !== 'function') {
    throw new TypeError('trpc-caching: expected a tRPC v11 router (its _def._config.transformer is missing)');
  }
  return { output, input, pathSeparator: config?.pathSeparator };
}

/**
 * The `Vary` tRPC's `resolveResponse` puts on every response of this release (`trpc-accept`, or later
 * `trpc-accept, accept`): read from a response tRPC makes for a path no router has, so that the fast path sends
 * what the installed release sends. Undefined when tRPC sends none.
 */
export async function trpcResponseVary(router: unknown): Promise<string | undefined> {
  const response = await resolveResponse({
    router: router as Parameters<typeof resolveResponse>[0]['router'],
    req: new Request('http://localhost/trpc-caching.probe'),
    path: 'trpc-caching.probe',
    createContext: async () => ({}),
    error: null,
  });
  await response.body?.cancel();
  return response.headers.get('vary') ?? undefined;
}

/** What a procedure call gets, as tRPC's `resolveResponse` calls a procedure for an HTTP request. */
export interface ProcedureCallOptions {
  readonly path: string;
  readonly getRawInput: () => Promise<unknown>;
  readonly ctx: unknown;
  readonly type: ProcedureType;
  readonly signal: AbortSignal | undefined;
  readonly batchIndex: number;
}

/**
 * Calls a procedure as tRPC's HTTP handler does (a procedure is a function of these options from 11.0.0 on): its
 * middlewares, input parsing and resolver; resolves to the data, rejects with the call's error.
 */
export function callProcedure(procedure: object, opts: ProcedureCallOptions): Promise<unknown> {
  if (typeof procedure !== 'function') throw new TypeError('trpc-caching: expected a tRPC v11 procedure (not callable)');
  return (procedure as (opts: ProcedureCallOptions) => Promise<unknown>)(opts);
}
