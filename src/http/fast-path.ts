import type { TRPCRequestInfo } from '@trpc/server/http';
import superjson from 'superjson';
import { HitOnly, hitOnlyContext } from '../trpc/hit-only.js';
import {
  callProcedure,
  procedureAt,
  procedureType,
  type RouterHttpConfig,
  routerHttpConfigOf,
  trpcResponseVary,
} from '../trpc/internals.js';
import { buildProblem } from '../trpc/validate.js';
import type { ResponseHeaders, ResponseMetaResult } from './headers.js';

/**
 * The options both forms of the fast path share: the same router, `createContext` and `responseMeta` as the
 * regular handler behind it, so that what it sends is what that handler would send.
 *
 * @example
 * ```ts
 * const shared: FastPathOptions<typeof appRouter, { req: IncomingMessage }> = { router: appRouter, createContext, responseMeta: cacheResponseMeta() };
 * ```
 */
export interface FastPathOptions<TRouter, TContextOptions> {
  /** The app's router, as given to the regular handler. */
  readonly router: TRouter;
  /**
   * The regular handler's `createContext` (wrapped with `withCacheHeaders` for cache headers). It runs once here,
   * and once more on the regular handler when the request falls back.
   *
   * @default none: the context is `{}`
   */
  readonly createContext?: (opts: TContextOptions) => object | Promise<object>;
  /**
   * The regular handler's `responseMeta` (e.g. `cacheResponseMeta()`), called as tRPC calls it.
   *
   * @default none
   */
  // biome-ignore lint/suspicious/noExplicitAny: tRPC's responseMeta options type is the app's; any function of one argument fits.
  readonly responseMeta?: (opts: any) => ResponseMetaResult | undefined;
  /**
   * Answer a conditional GET whose `If-None-Match` matches with `304 Not Modified`, as a regular handler wrapped
   * with `withNotModified` (Node) or `withNotModifiedFetch` (fetch) does. Set it as the handler behind does.
   *
   * @default true
   */
  readonly notModified?: boolean;
  /**
   * The regular handler's `allowBatching` (tRPC's default: true). A batch is handed on when false.
   *
   * @default true
   */
  readonly allowBatching?: boolean;
  /**
   * The regular handler's `maxBatchSize`: a larger batch is handed on.
   *
   * @default no limit
   */
  readonly maxBatchSize?: number;
  /**
   * After this many fallbacks in a row for one URL path (the procedure or the batch of procedures, any input, any
   * user), the fast path tries only one request in 16 there and hands the others on at once, until one of its tries
   * is answered: an endpoint that never hits (it fails, or its inputs cannot be keyed) does not pay for a try on
   * every request. 0 tries every request.
   *
   * @default 8
   */
  readonly skipAfterFallbacks?: number;
}

/** While a path is skipped, one request in this many is still tried. */
const PROBE_EVERY = 16;
/** Paths whose fallbacks are counted; past it the least recently counted is forgotten (and tried again). */
const MAX_COUNTED_PATHS = 1_024;

/** The requests whose context the fast path has made (Node's `IncomingMessage`, fetch's `Request`). */
const tried = new WeakSet<object>();

/**
 * Whether the fast path has already run `createContext` and the procedures' middlewares for this request (Node's
 * `req` or fetch's `Request`): true in the regular handler's `createContext` and middlewares when the request fell
 * back. A middleware with a side effect (a rate-limit counter) can skip it there, having counted on the fast path.
 *
 * @param req - The request object the adapter hands `createContext` (`req`).
 * @example
 * ```ts
 * const createContext = withCacheHeaders(({ req }: { req: IncomingMessage }) => {
 *   if (!fastPathTried(req)) rateLimit.count(req);
 *   return { user: userFrom(req.headers.authorization) };
 * });
 * ```
 */
export function fastPathTried(req: object): boolean {
  return tried.has(req);
}

/** A request as the fast path reads it, whatever its form. */
export interface FastRequest {
  /** The request object itself, marked once its context was made here (see {@link fastPathTried}). */
  readonly raw: object;
  readonly url: URL;
  /** The procedure path(s) part of the URL, still URL-encoded: `post.byId` or `a,b` for a batch. */
  readonly path: string;
  readonly header: (name: string) => string | undefined;
}

/** One call of the request, as tRPC's `info.calls` lists it. */
interface FastCall {
  readonly batchIndex: number;
  readonly path: string;
  readonly procedure: object;
  readonly getRawInput: () => Promise<unknown>;
  readonly result: () => unknown;
}

/** What the fast path answers: tRPC's status, headers (in tRPC's `Headers`) and body for the request. */
export interface FastAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/**
 * tRPC's `info` of a request (`TRPCRequestInfo`), as `createContext` and `responseMeta` get it from tRPC's adapters.
 *
 * @example
 * ```ts
 * const createContext = ({ info }: { info: FastInfo }) => ({ calls: info.calls.length });
 * ```
 */
export type FastInfo = TRPCRequestInfo;

/** How a form makes the context and merges `responseMeta`'s headers, as its tRPC adapter does. */
export interface FastForm {
  readonly createContext: (info: FastInfo) => Promise<object>;
  /** tRPC's `initResponse` step: puts `responseMeta`'s headers on `headers` as the adapter would; the status it set. */
  readonly applyMeta: (meta: ResponseMetaResult | undefined, headers: Headers) => number | undefined;
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * The core of the fast path, shared by its Node and fetch forms: finds whether every call of a GET request is a
 * cached query, runs each through tRPC's own procedure call in hit-only mode, and builds tRPC's response from the
 * stored text. Undefined whenever the request must go to the regular handler.
 */
export class FastPath<TRouter, TContextOptions> {
  private readonly config: RouterHttpConfig;
  /** Whether a hit's stored superjson text is the response's data as tRPC would write it. */
  private readonly splices: boolean;
  /** Per procedure: whether it is a cachedQuery built right (only those can stop before their resolver). */
  private readonly cached = new WeakMap<object, boolean>();
  private vary: Promise<string | undefined> | undefined;
  private varyValue: string | undefined | null = null;
  /** Fallbacks in a row by URL path part, for `skipAfterFallbacks`; a try answered deletes its path. */
  private readonly fallbacks = new Map<string, number>();
  private readonly skipAfter: number;

  constructor(readonly options: FastPathOptions<TRouter, TContextOptions>) {
    this.config = routerHttpConfigOf(options.router);
    this.skipAfter = options.skipAfterFallbacks ?? 8;
    if (!Number.isSafeInteger(this.skipAfter) || this.skipAfter < 0) {
      throw new TypeError(`fastPath: skipAfterFallbacks must be a whole number of 0 or more, got ${String(options.skipAfterFallbacks)}`);
    }
    // The engine stores superjson's text; with the same superjson as the transformer, tRPC would write that text.
    this.splices = this.config.output === (superjson as unknown) || this.config.output.serialize === superjson.serialize;
  }

  /** The procedures of a request's path part, when every one is a loaded cachedQuery; undefined otherwise. */
  private proceduresOf(encoded: string, batch: boolean): { paths: string[]; procedures: object[] } | undefined {
    if (this.config.pathSeparator !== undefined && this.config.pathSeparator !== '.') return undefined;
    let path: string;
    try {
      path = decodeURIComponent(encoded);
    } catch {
      return undefined;
    }
    const paths = batch ? path.split(',') : [path];
    const max = this.options.maxBatchSize;
    if (batch && ((this.options.allowBatching ?? true) === false || (max !== undefined && paths.length > max))) return undefined;
    const procedures: object[] = [];
    for (const one of paths) {
      const procedure = procedureAt(this.options.router, one);
      if (procedure === undefined || !this.isCachedQuery(procedure)) return undefined;
      procedures.push(procedure);
    }
    return { paths, procedures };
  }

  private isCachedQuery(procedure: object): boolean {
    let known = this.cached.get(procedure);
    if (known === undefined) {
      const found = procedureType(procedure) === 'query' ? buildProblem(procedure) : undefined;
      known = found?.builder === 'cachedQuery' && found.problem === undefined;
      this.cached.set(procedure, known);
    }
    return known;
  }

  /** The request's inputs by call, as tRPC's JSON content handler reads `?input=`; undefined when tRPC would refuse them. */
  private inputsOf(raw: string | null, count: number, batch: boolean): unknown[] | undefined {
    const inputs: unknown[] = new Array(count).fill(undefined);
    if (!raw) return inputs;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (!batch) {
        inputs[0] = this.config.input.deserialize(parsed);
        return inputs;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
      for (let i = 0; i < count; i++) {
        const one = (parsed as Record<number, unknown>)[i];
        if (one !== undefined) inputs[i] = this.config.input.deserialize(one);
      }
      return inputs;
    } catch {
      return undefined;
    }
  }

  /** tRPC's answer to a GET request when every call is a clean hit; undefined to hand the request on. */
  async answer(request: FastRequest, form: FastForm): Promise<FastAnswer | undefined> {
    // Streamed batches (httpBatchStreamLink) and anything with a body format of its own go to tRPC.
    if (request.header('trpc-accept') !== undefined || request.header('accept')?.includes('application/jsonl')) return undefined;
    const contentType = request.header('content-type');
    if (contentType !== undefined && contentType.split(';', 1)[0]?.trim().toLowerCase() !== 'application/json') return undefined;
    const search = request.url.searchParams;
    if (search.has('connectionParams')) return undefined;
    const batch = search.get('batch') === '1';
    const found = this.proceduresOf(request.path, batch);
    if (found === undefined) return undefined;
    const inputs = this.inputsOf(search.get('input'), found.paths.length, batch);
    if (inputs === undefined) return undefined;
    if (this.skipping(request.path)) return undefined;
    const calls: FastCall[] = found.paths.map((path, i) => ({
      batchIndex: i,
      path,
      procedure: found.procedures[i] as object,
      getRawInput: async () => inputs[i],
      result: () => inputs[i],
    }));
    const info: FastInfo = {
      isBatchCall: batch,
      accept: null,
      calls: calls as unknown as FastInfo['calls'],
      type: 'query',
      connectionParams: null,
      signal: NEVER_ABORTED,
      url: request.url,
    };
    this.vary ??= trpcResponseVary(this.options.router);
    let ctx: object;
    try {
      ctx = await form.createContext(info);
      // From here on the fast path has counted the request: the regular handler's run is the second.
      tried.add(request.raw);
    } catch {
      return undefined;
    }
    if (typeof ctx !== 'object' || ctx === null) return undefined;
    // The mode goes on a proxy: a context object the app reuses across requests must never stay hit-only.
    const hitOnly = new HitOnly();
    ctx = hitOnlyContext(ctx, hitOnly);
    const datas = await Promise.all(
      calls.map((call) =>
        callProcedure(call.procedure, {
          path: call.path,
          getRawInput: call.getRawInput,
          ctx,
          type: 'query',
          signal: NEVER_ABORTED,
          batchIndex: call.batchIndex,
        }).then(
          (data) => ({ data }),
          () => undefined,
        ),
      ),
    );
    const bodies: string[] = [];
    const results: { result: { data: unknown } }[] = [];
    for (let i = 0; i < calls.length; i++) {
      const outcome = datas[i];
      const hit = hitOnly.hits.get((calls[i] as FastCall).getRawInput);
      // Every call must have been a clean hit, and nothing after the cache may have stood in for it.
      if (outcome === undefined || hit === undefined) {
        this.fellBack(request.path);
        return undefined;
      }
      results.push({ result: { data: outcome.data } });
      bodies.push(
        this.splices && outcome.data === hit.value
          ? `{"result":{"data":${hit.payload}}}`
          : // tRPC's transformTRPCResponse of one result, as its adapters write it.
            JSON.stringify({ result: { data: this.config.output.serialize(outcome.data) } }),
      );
    }
    // Awaited once: later requests read the value without a turn of the microtask queue.
    if (this.varyValue === null) this.varyValue = await this.vary;
    const vary = this.varyValue;
    const headers = new Headers(vary === undefined ? [] : [['vary', vary]]);
    headers.set('content-type', 'application/json');
    let status: number | undefined;
    try {
      const meta = this.options.responseMeta?.({
        ctx,
        info,
        paths: found.paths,
        data: results,
        errors: [],
        eagerGeneration: false,
        type: 'query',
      });
      status = form.applyMeta(meta, headers);
    } catch {
      return undefined;
    }
    this.fallbacks.delete(request.path);
    return { status: status || 200, headers, body: batch ? `[${bodies.join(',')}]` : (bodies[0] as string) };
  }

  /** Whether to hand a request of `path` on without a try: it fell back too often in a row (then one in 16 tries). */
  private skipping(path: string): boolean {
    if (this.skipAfter === 0) return false;
    const count = this.fallbacks.get(path);
    if (count === undefined || count < this.skipAfter) return false;
    this.fallbacks.set(path, count + 1);
    return (count - this.skipAfter) % PROBE_EVERY !== 0;
  }

  private fellBack(path: string): void {
    if (this.skipAfter === 0) return;
    const count = this.fallbacks.get(path) ?? 0;
    // Re-inserted, so that the map's first key is the least recently counted.
    this.fallbacks.delete(path);
    this.fallbacks.set(path, count < this.skipAfter ? count + 1 : count);
    if (this.fallbacks.size > MAX_COUNTED_PATHS) this.fallbacks.delete(this.fallbacks.keys().next().value as string);
  }
}

/** tRPC's (deprecated in v12, still used) merge of a record of headers: arrays appended, strings set. */
export function applyRecordHeaders(record: ResponseHeaders, headers: Headers): void {
  for (const [key, value] of Object.entries(record)) {
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else if (typeof value === 'string') headers.set(key, value);
  }
}

/** tRPC's `initResponse` merge of `responseMeta`'s headers; the status it set (undefined for none). */
export function applyMetaHeaders(meta: ResponseMetaResult | undefined, headers: Headers): number | undefined {
  if (meta?.headers instanceof Headers) {
    for (const [key, value] of meta.headers.entries()) headers.append(key, value);
  } else if (meta?.headers !== undefined) {
    applyRecordHeaders(meta.headers, headers);
  }
  return meta?.status;
}
