// API Gateway as the Lambda tests need it: a fetch-style function that turns a Request into a v1 (REST API) or v2
// (HTTP API) event, calls the handler directly, and turns its result (or its response stream) back into a Response.
import { once } from 'node:events';
import { PassThrough, Readable, type Writable } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { Fetch } from './checklist.js';

/** The Lambda context: the handlers pass it through to createContext, which does not read it. */
const context = { functionName: 'trpc', awsRequestId: 'test' } as Context;

/** The tRPC path under `/trpc/`, as API Gateway's `{proxy+}` gives it. */
const proxyOf = (url: URL) => url.pathname.replace(/^\/trpc\/?/, '');

/** API Gateway v1 keeps the client's header case: sent here Title-Cased, as browsers' `Authorization` is. */
const titleCase = (name: string) => name.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase());

/** A REST API (payload 1.0) event of a request. */
export async function v1Event(request: Request): Promise<APIGatewayProxyEvent> {
  const url = new URL(request.url);
  const headers = Object.fromEntries([...request.headers].map(([name, value]) => [titleCase(name), value]));
  const query = [...url.searchParams];
  const body = request.method === 'GET' ? '' : await request.text();
  return {
    resource: '/trpc/{proxy+}',
    path: url.pathname,
    httpMethod: request.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: query.length === 0 ? null : Object.fromEntries(query),
    multiValueQueryStringParameters: query.length === 0 ? null : Object.fromEntries(query.map(([name, value]) => [name, [value]])),
    pathParameters: { proxy: proxyOf(url) },
    stageVariables: null,
    requestContext: { domainName: url.host, httpMethod: request.method, path: url.pathname } as APIGatewayProxyEvent['requestContext'],
    body: body === '' ? null : body,
    isBase64Encoded: false,
  };
}

/** An HTTP API (payload 2.0) event of a request. */
export async function v2Event(request: Request): Promise<APIGatewayProxyEventV2> {
  const url = new URL(request.url);
  const body = request.method === 'GET' ? '' : await request.text();
  return {
    version: '2.0',
    routeKey: 'ANY /trpc/{proxy+}',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers: Object.fromEntries(request.headers),
    pathParameters: { proxy: proxyOf(url) },
    requestContext: {
      domainName: url.host,
      http: { method: request.method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
    } as APIGatewayProxyEventV2['requestContext'],
    ...(body === '' ? {} : { body }),
    isBase64Encoded: false,
  };
}

/** What a buffered handler resolves to, in both payload formats. */
interface Result {
  statusCode?: number | undefined;
  headers?: Record<string, boolean | number | string> | undefined;
  body?: string | undefined;
}

const responseOf = (status: number, headers: Record<string, unknown>, body: BodyInit | null) =>
  new Response(status === 304 || status === 204 ? null : body, {
    status,
    headers: Object.entries(headers).map(([name, value]): [string, string] => [name, String(value)]),
  });

/**
 * A fetch that calls a buffered handler directly with the request's event: what API Gateway does, minus the network.
 *
 * @example
 * ```ts
 * const call = bufferedFetch(recipe.handler, v2Event);
 * ```
 */
export function bufferedFetch<TEvent>(
  handler: (event: TEvent, context: Context) => Promise<Result>,
  eventOf: (request: Request) => Promise<TEvent>,
): Fetch {
  return async (url, init) => {
    const result = await handler(await eventOf(new Request(url, init)), context);
    return responseOf(result.statusCode ?? 200, result.headers ?? {}, result.body ?? '');
  };
}

/** The metadata a streaming handler gives `awslambda.HttpResponseStream.from`, delivered on its stream. */
const METADATA = 'lambda-metadata';

/**
 * Stands in for the Lambda runtime's `awslambda` global, which `awsLambdaStreamingRequestHandler` and
 * `awslambda.streamifyResponse` use: `HttpResponseStream.from` hands the status and headers to the test.
 * Call before the recipe is imported.
 */
export function installLambdaRuntime(): void {
  (globalThis as { awslambda?: unknown }).awslambda = {
    streamifyResponse: <T>(handler: T) => handler,
    HttpResponseStream: {
      from(stream: Writable, metadata: Record<string, unknown>) {
        stream.emit(METADATA, metadata);
        return stream;
      },
    },
  };
}

/**
 * A fetch that calls a streaming handler (`awslambda.streamifyResponse(awsLambdaStreamingRequestHandler(…))`)
 * directly: the response starts when the handler gives its metadata, and its body is what it writes after.
 */
export function streamingFetch<TEvent>(
  handler: (event: TEvent, stream: Writable, context: Context) => unknown,
  eventOf: (request: Request) => Promise<TEvent>,
): Fetch {
  return async (url, init) => {
    const stream = new PassThrough();
    const metadata = once(stream, METADATA) as Promise<[{ statusCode: number; headers: Record<string, string> }]>;
    // A client that goes away destroys the stream, which fails the handler's pipeline: nothing to report.
    Promise.resolve(handler(await eventOf(new Request(url, init)), stream, context)).catch(() => {});
    const [{ statusCode, headers }] = await metadata;
    init?.signal?.addEventListener('abort', () => stream.destroy(), { once: true });
    return responseOf(statusCode, headers, Readable.toWeb(stream) as ReadableStream<Uint8Array>);
  };
}
