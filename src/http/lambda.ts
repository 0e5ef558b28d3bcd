import { TRPCError } from '@trpc/server';
import { etagMatches } from './etag.js';
import { NOT_MODIFIED_HEADERS } from './fetch.js';

/**
 * The part of an API Gateway event (REST API v1, HTTP API v2, or a function URL) that `withNotModifiedLambda`
 * reads. `aws-lambda`'s `APIGatewayProxyEvent` and `APIGatewayProxyEventV2` both fit it.
 *
 * @example
 * ```ts
 * const event: LambdaHttpEventLike = { requestContext: { http: { method: 'GET' } }, headers: { 'if-none-match': '"abc"' } };
 * ```
 */
export interface LambdaHttpEventLike {
  /** v1 (REST API). */
  readonly httpMethod?: string;
  /** v2 (HTTP API, function URLs): `requestContext.http.method`. */
  readonly requestContext?: object;
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
  /** v1: repeated headers. */
  readonly multiValueHeaders?: Readonly<Record<string, readonly string[] | undefined>> | null;
}

/**
 * The part of a Lambda HTTP result that `withNotModifiedLambda` reads and rewrites. `aws-lambda`'s
 * `APIGatewayProxyResult` and `APIGatewayProxyStructuredResultV2` both fit it.
 *
 * @example
 * ```ts
 * const result: LambdaHttpResultLike = { statusCode: 200, headers: { etag: '"abc"' }, body: '{}' };
 * ```
 */
export interface LambdaHttpResultLike {
  statusCode?: number | undefined;
  headers?: Record<string, boolean | number | string> | undefined;
  body?: string | undefined;
}

/** Events being answered by a buffered handler: tRPC passes the same object to `createContext` as `event`. */
const bufferedEvents = new WeakSet<object>();

/** A request header of an event, by name in any case (v1 keeps the client's case); a v1 multi-value header joined. */
function headerOf(event: LambdaHttpEventLike, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === name && value !== undefined) return value;
  for (const [key, values] of Object.entries(event.multiValueHeaders ?? {}))
    if (key.toLowerCase() === name && values?.[0] !== undefined) return values.join(', ');
  return undefined;
}

/** The result's headers a 304 keeps (those `withNotModifiedFetch` keeps), whatever their case. */
function notModifiedHeaders(headers: Record<string, boolean | number | string>): Record<string, boolean | number | string> {
  const kept: Record<string, boolean | number | string> = {};
  for (const [name, value] of Object.entries(headers)) if (NOT_MODIFIED_HEADERS.includes(name.toLowerCase())) kept[name] = value;
  return kept;
}

/** The result's ETag, whatever the case of its name. */
function etagOf(headers: Record<string, boolean | number | string> | undefined): string | undefined {
  for (const [name, value] of Object.entries(headers ?? {})) if (name.toLowerCase() === 'etag' && typeof value === 'string') return value;
  return undefined;
}

/**
 * Wraps tRPC's `awsLambdaRequestHandler` (or any buffered handler of API Gateway v1/v2 and function URL events)
 * so that a GET answered with 200 and an `ETag` matching the request's `If-None-Match` (weak comparison,
 * lists and `*`) becomes `304 Not Modified` with an empty body, keeping the headers a 304 keeps (`Cache-Control`,
 * `ETag`, `Vary`, `X-Cache`, …; cookies stay where the handler put them).
 *
 * It also keeps a subscription from hanging: a buffered handler returns nothing until the response body ends, and
 * a live stream never ends. With `createContext` wrapped by `withCacheHeaders`, a subscription call (such as
 * `caching.invalidationStream`) reaching this handler fails at once with tRPC's `METHOD_NOT_SUPPORTED` (what
 * tRPC answers when subscriptions are off), as an SSE error event that `httpSubscriptionLink` hands to the
 * subscriber without reconnecting, naming the alternatives: a long-lived server, or
 * `awsLambdaStreamingRequestHandler` (not to be wrapped by this function).
 *
 * @param handler - The buffered Lambda handler to wrap; further arguments (the Lambda context) are passed through.
 * @example
 * ```ts
 * export const handler = withNotModifiedLambda(
 *   awsLambdaRequestHandler({ router, createContext: withCacheHeaders(createContext), responseMeta: cacheResponseMeta() }),
 * );
 * ```
 */
export function withNotModifiedLambda<
  TEvent extends LambdaHttpEventLike & object,
  TRest extends unknown[],
  TResult extends LambdaHttpResultLike | string,
>(handler: (event: TEvent, ...rest: TRest) => Promise<TResult>): (event: TEvent, ...rest: TRest) => Promise<TResult> {
  return async (event, ...rest) => {
    bufferedEvents.add(event);
    const result = await handler(event, ...rest);
    if (typeof result !== 'object' || result.statusCode !== 200) return result;
    const method = event.httpMethod ?? (event.requestContext as { http?: { method?: unknown } } | undefined)?.http?.method;
    if (method !== 'GET' || !etagMatches(headerOf(event, 'if-none-match'), etagOf(result.headers))) return result;
    return { ...result, statusCode: 304, body: '', headers: notModifiedHeaders(result.headers ?? {}) };
  };
}

/**
 * Throws, for a subscription call that a buffered Lambda handler (wrapped by `withNotModifiedLambda`) is
 * answering, the error that tells the subscriber where a stream can be served instead. Called by `withCacheHeaders`
 * with a `createContext` call's arguments (`{ event, context, info }` on Lambda); does nothing for other calls.
 * tRPC turns the throw into an SSE `serialized-error` event and ends the response, so the handler returns at once.
 *
 * @param args - The arguments of a `createContext` call.
 * @example
 * ```ts
 * const createContext = async (...args: unknown[]) => { refuseBufferedSubscription(args); return {}; };
 * ```
 */
export function refuseBufferedSubscription(args: readonly unknown[]): void {
  const first = args[0] as { event?: unknown; info?: { type?: unknown; calls?: readonly { path?: unknown }[] } } | undefined;
  if (typeof first?.event !== 'object' || first.event === null || !bufferedEvents.has(first.event)) return;
  if (first.info?.type !== 'subscription') return;
  const path = first.info.calls?.[0]?.path;
  throw new TRPCError({
    code: 'METHOD_NOT_SUPPORTED',
    message:
      `trpc-caching: the subscription${typeof path === 'string' ? ` "${path}"` : ''} cannot stream from awsLambdaRequestHandler, which sends nothing until the response is complete (a stream never is). ` +
      "Serve it from a long-lived server, or from awsLambdaStreamingRequestHandler with awslambda.streamifyResponse; without it, invalidationLink still applies X-Cache-Sync of this client's own mutations.",
  });
}
