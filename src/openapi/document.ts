import type { AnyRouter } from '@trpc/server';
import type { Caching } from '../caching.js';
import { surrogateKeysOf } from '../http/edge/keys.js';
import { type CacheHeadersOptions, maxAgeOf, staleWhileRevalidateOf } from '../http/headers.js';
import { metaOf, proceduresOf } from '../trpc/internals.js';
import type { ResolvedCacheMeta, ResolvedInvalidateMeta } from '../trpc/meta.js';

/**
 * The `x-cache` extension of a cached operation.
 *
 * @example
 * ```ts
 * const extension = document.paths?.['/posts']?.get?.['x-cache'] as OpenApiCacheExtension; // { scope: 'user', ttl: 60000, tags: [] }
 * ```
 */
export interface OpenApiCacheExtension {
  /** `user`: one entry per user (anonymous callers share one); `public`: one entry for everyone. */
  readonly scope: 'user' | 'public';
  /** Entry lifetime in milliseconds. */
  readonly ttl: number;
  /** Tags the entry depends on, or `"derived from input"` when a function computes them. */
  readonly tags: readonly string[] | 'derived from input';
  /** Stale-while-revalidate window in milliseconds after `ttl`; present only when the procedure has one. */
  readonly staleWhileRevalidate?: number;
  /** Whether the expired entry is also served, within the window, while the resolver fails; present with `staleWhileRevalidate`. */
  readonly staleIfError?: boolean;
  /** How long shared caches (a CDN) may keep the public response, in milliseconds (`s-maxage`); present only when set. */
  readonly sMaxAge?: number;
}

/**
 * The `x-cache-invalidates` extension of an invalidating mutation.
 *
 * @example
 * ```ts
 * const { operations } = document.paths?.['/posts/reset']?.post?.['x-cache-invalidates'] as OpenApiInvalidatesExtension;
 * ```
 */
export interface OpenApiInvalidatesExtension {
  /** Every cached response of the calling user. */
  readonly self: boolean;
  /** Other users whose cached responses go: fixed ids, or `"derived from input and result"`. */
  readonly users: readonly (string | number)[] | 'derived from input and result';
  /** Procedure paths or router prefixes, for every user. */
  readonly paths: readonly string[];
  /** Tags, for every user, or `"derived from input and result"`. */
  readonly tags: readonly string[] | 'derived from input and result';
  /** Everything. */
  readonly all: boolean;
  /** Cached operations (by `operationId`) that `paths` covers. */
  readonly operations: readonly string[];
}

/**
 * The least of an OpenAPI document this helper needs; trpc-to-openapi's `OpenAPIObject` is one.
 *
 * @example
 * ```ts
 * const document: OpenApiDocumentLike = generateOpenApiDocument(appRouter, { title: 'API', version: '1', baseUrl: '/api' });
 * ```
 */
export interface OpenApiDocumentLike {
  paths?: object | undefined;
}

/**
 * Options of {@link documentCaching}.
 *
 * @example
 * ```ts
 * const options: DocumentCachingOptions = { router: appRouter, caching, maxAge: (entry) => (entry.scope === 'public' ? 60 : 0) };
 * ```
 */
export interface DocumentCachingOptions {
  /** The router the document was generated from. */
  readonly router: AnyRouter;
  /** The caching instance whose builders made its procedures. */
  readonly caching: Caching<never>;
  /**
   * Document the `304 Not Modified` answer (when the handler is wrapped with `withNotModified`).
   *
   * @default true
   */
  readonly notModified?: boolean;
  /**
   * The `maxAge` given to `cacheResponseMeta`, so that the documented `Cache-Control` is the one sent.
   *
   * @default cacheResponseMeta's: 0 for a private response, the TTL for a public one
   */
  readonly maxAge?: CacheHeadersOptions['maxAge'];
  /**
   * The `edge` given to `cacheResponseMeta`, so that the surrogate-key header and `s-maxage` of public operations are
   * documented (without it, neither is sent).
   *
   * @default none
   */
  readonly edge?: CacheHeadersOptions['edge'];
}

interface Operation {
  operationId?: string;
  description?: string;
  parameters?: unknown[];
  responses?: Record<string, { description?: string; headers?: Record<string, unknown> } | undefined>;
  [extension: `x-${string}`]: unknown;
}

interface OpenApiRoute {
  readonly path: string;
  readonly method: string;
}

const header = (description: string, example?: string) => ({
  description,
  schema: example === undefined ? { type: 'string' } : { type: 'string', example },
});

function routeOf(meta: unknown): OpenApiRoute | undefined {
  const openapi = (meta as { openapi?: { enabled?: boolean; method?: unknown; path?: unknown } } | undefined)?.openapi;
  if (!openapi || openapi.enabled === false || typeof openapi.method !== 'string' || typeof openapi.path !== 'string') return undefined;
  // The same normalization trpc-to-openapi applies to the paths of its document.
  return { path: `/${openapi.path.replace(/^\/|\/$/g, '')}`, method: openapi.method.toLowerCase() };
}

/** The batch rule, in every cached operation's `Cache-Control` description. */
const BATCH_RULE =
  ' In a tRPC batch the response gets the most restrictive of its calls: `private` if any call is per user, the smallest `max-age` and `s-maxage`.';

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function describeCache(cache: ResolvedCacheMeta): string {
  const who = cache.scope === 'public' ? 'Cached for everyone (public scope)' : "Cached per user (each caller's own entry)";
  const tags =
    cache.tags === undefined
      ? ''
      : typeof cache.tags === 'function'
        ? ', with tags derived from the input'
        : cache.tags.length > 0
          ? `, with tags ${cache.tags.map((tag) => `\`${tag}\``).join(', ')}`
          : '';
  const sentence = `${who} for ${seconds(cache.ttl)}${tags}. \`X-Cache\` says HIT or MISS; send the \`ETag\` back in \`If-None-Match\` to get 304 while it is current.`;
  if (cache.staleWhileRevalidate === 0) return sentence;
  const ifError = cache.staleIfError ? ', and also while computing a fresh one fails' : '';
  return `${sentence} For ${seconds(cache.staleWhileRevalidate)} after that, an expired response is served at once (\`X-Cache: STALE\`) while a fresh one is computed in the background${ifError}; never one that a change invalidated.`;
}

function describeInvalidation(inv: ResolvedInvalidateMeta, operations: readonly string[]): string {
  if (inv.all) return 'Invalidates every cached response.';
  const parts: string[] = [];
  if (inv.self) parts.push("the caller's cached responses");
  if (typeof inv.users === 'function') parts.push('the cached responses of the users it concerns (derived from its input and result)');
  else if (inv.users !== undefined && inv.users.length > 0) parts.push(`the cached responses of users ${inv.users.join(', ')}`);
  if (inv.paths.length > 0) {
    const covered = operations.length > 0 ? ` (${operations.map((id) => `\`${id}\``).join(', ')})` : '';
    parts.push(`every user's cached ${inv.paths.map((path) => `\`${path}\``).join(', ')}${covered}`);
  }
  if (typeof inv.tags === 'function') parts.push('cached responses tagged with tags derived from its input and result');
  else if (inv.tags !== undefined && inv.tags.length > 0)
    parts.push(`cached responses tagged ${inv.tags.map((tag) => `\`${tag}\``).join(', ')}`);
  return parts.length === 0 ? 'Invalidates no cached response.' : `Invalidates ${parts.join('; ')}.`;
}

function appendDescription(operation: Operation, sentence: string): void {
  operation.description = operation.description ? `${operation.description}\n\n${sentence}` : sentence;
}

function successResponse(operation: Operation): { description?: string; headers?: Record<string, unknown> } | undefined {
  return operation.responses?.['200'];
}

/**
 * Adds caching to an OpenAPI document made by trpc-to-openapi's
 * `generateOpenApiDocument`: every cached operation gets an `x-cache`
 * extension (scope, TTL, tags), a sentence in its description, the
 * `X-Cache`, `Cache-Control`, `ETag` (and `Vary`) headers of its 200 response,
 * an optional `If-None-Match` header parameter and a 304 response; every
 * invalidating mutation gets `x-cache-invalidates`, a sentence saying what it
 * invalidates and `Cache-Control: no-store`. Returns a new document; the one
 * given is not changed.
 *
 * It takes the generated document rather than calling the generator, so that
 * trpc-caching does not depend on trpc-to-openapi.
 *
 * @example
 * ```ts
 * import { generateOpenApiDocument } from 'trpc-to-openapi';
 * const document = documentCaching(generateOpenApiDocument(appRouter, { title: 'API', version: '1', baseUrl: '/api' }), {
 *   router: appRouter,
 *   caching,
 * });
 * ```
 */
export function documentCaching<TDoc extends OpenApiDocumentLike>(document: TDoc, options: DocumentCachingOptions): TDoc {
  const doc = structuredClone(document);
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Operation | undefined> | undefined>;
  const procedures = proceduresOf(options.router);
  const described = (options.caching as Caching<unknown>).describe(options.router);

  // Which REST operation each cached procedure is, so that `paths` targets can name them.
  const cachedOperations: { path: string; operationId: string }[] = [];
  for (const [path, procedure] of procedures) {
    const route = routeOf(metaOf(procedure));
    const operation = route && paths[route.path]?.[route.method];
    const info = described.get(path);
    if (operation && info?.kind === 'query' && info.cache.enabled) {
      cachedOperations.push({ path, operationId: operation.operationId ?? `${route.method.toUpperCase()} ${route.path}` });
    }
  }

  for (const [path, procedure] of procedures) {
    const route = routeOf(metaOf(procedure));
    const operation = route && paths[route.path]?.[route.method];
    if (!operation) continue;
    const info = described.get(path);
    if (info === undefined) continue;
    const ok = successResponse(operation);
    if (info.kind === 'query') {
      const { cache } = info;
      if (!cache.enabled) continue;
      const extension: OpenApiCacheExtension = {
        scope: cache.scope,
        ttl: cache.ttl,
        tags: typeof cache.tags === 'function' ? 'derived from input' : [...(cache.tags ?? [])],
        ...(cache.staleWhileRevalidate > 0 ? { staleWhileRevalidate: cache.staleWhileRevalidate, staleIfError: cache.staleIfError } : {}),
        ...(cache.sMaxAge === undefined ? {} : { sMaxAge: cache.sMaxAge }),
      };
      operation['x-cache'] = extension;
      appendDescription(operation, describeCache(cache));
      const entry = {
        path,
        type: 'query',
        status: 'HIT',
        scope: cache.scope,
        ttl: cache.ttl,
        staleWhileRevalidate: cache.staleWhileRevalidate,
      } as const;
      const isPublic = cache.scope === 'public';
      const swr = isPublic ? staleWhileRevalidateOf([entry]) : 0;
      // As cacheResponseMeta sends it: only behind an edge that is purged.
      const sMaxAge =
        isPublic && options.edge !== undefined && cache.sMaxAge !== undefined ? `, s-maxage=${Math.floor(cache.sMaxAge / 1000)}` : '';
      const cacheControl = `${isPublic ? 'public' : 'private'}, max-age=${maxAgeOf(entry, options.maxAge, !isPublic)}${sMaxAge}${swr > 0 ? `, stale-while-revalidate=${swr}` : ''}`;
      // What cacheResponseMeta sends a public entry when the request carried credentials.
      const credentialed = `private, max-age=${maxAgeOf(entry, options.maxAge, true)}`;
      const headers = {
        'X-Cache': header(
          cache.staleWhileRevalidate > 0
            ? 'HIT: served from the cache; MISS: computed and stored; STALE: an expired entry served while it is refreshed in the background; BYPASS: the cache was not used.'
            : 'HIT: served from the cache; MISS: computed and stored; BYPASS: the cache was not used.',
          'HIT',
        ),
        'Cache-Control': header(
          `${
            isPublic
              ? `\`${cacheControl}\` to a request without credentials: the same for every caller${swr > 0 && options.maxAge === undefined ? ' (`max-age=0` on a STALE response)' : ''}. \`${credentialed}\` to a request with an \`Authorization\` or \`Cookie\` header, so that shared caches do not store it. \`no-store\` when the cache was bypassed.`
              : `\`${cacheControl}\` by default (\`no-store\` when the cache was bypassed). Per user: shared caches must not store it.`
          }${BATCH_RULE}`,
          cacheControl,
        ),
        ...(isPublic && options.edge !== undefined
          ? {
              [options.edge.header]: header(
                `Surrogate keys for the edge in front of the API (everything, the path and its router prefixes, the tags): a mutation that invalidates this operation purges them before it returns. In a tRPC batch, the union over its public calls; a batch with any per-user call is \`private\` and carries none.`,
                surrogateKeysOf(path, Array.isArray(cache.tags) ? cache.tags : [], options.edge.namespace).join(
                  options.edge.header === 'Cache-Tag' ? ',' : ' ',
                ),
              ),
            }
          : {}),
        ETag: header('Strong validator of the cached result; send it back in If-None-Match.', '"3f2a0c6d0e8b4b1c9d1e5f7a2b3c4d5e"'),
        Vary: header(
          isPublic
            ? 'Request headers the response depends on; sent with `private` to a request that carried credentials.'
            : 'Request headers the response depends on.',
          'Authorization',
        ),
      };
      if (ok) ok.headers = { ...ok.headers, ...headers };
      if (options.notModified !== false && operation.responses && route.method === 'get') {
        operation.parameters = [
          ...(operation.parameters ?? []),
          {
            name: 'If-None-Match',
            in: 'header',
            required: false,
            description: 'ETag of a response you hold; 304 when it is still current.',
            schema: { type: 'string' },
          },
        ];
        operation.responses['304'] = {
          description: 'Not Modified: the ETag given in If-None-Match is current; no body.',
          headers: { 'X-Cache': headers['X-Cache'], 'Cache-Control': headers['Cache-Control'], ETag: headers.ETag },
        };
      }
    } else {
      const inv = info.invalidate;
      if (ok) ok.headers = { ...ok.headers, 'Cache-Control': header('Always `no-store`: a mutation is never cached.', 'no-store') };
      if (inv === undefined) continue;
      const covered = cachedOperations
        .filter((cached) => inv.paths.some((target) => cached.path === target || cached.path.startsWith(`${target}.`)))
        .map((cached) => cached.operationId);
      const extension: OpenApiInvalidatesExtension = {
        self: inv.self,
        users: typeof inv.users === 'function' ? 'derived from input and result' : [...(inv.users ?? [])],
        paths: [...inv.paths],
        tags: typeof inv.tags === 'function' ? 'derived from input and result' : [...(inv.tags ?? [])],
        all: inv.all,
        operations: inv.all ? cachedOperations.map((cached) => cached.operationId) : covered,
      };
      operation['x-cache-invalidates'] = extension;
      appendDescription(operation, describeInvalidation(inv, covered));
    }
  }
  return doc;
}
