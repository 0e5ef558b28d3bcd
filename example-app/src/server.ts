// The HTTP server: tRPC at /trpc, REST at /api, the OpenAPI document at /openapi.json, Swagger UI at /docs,
// the cache's metrics for Prometheus at /metrics, the live two-user page at /app.
// `npm run example` runs this file; tests and the demo call start() in-process.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { type CacheLogEntry, cacheResponseMeta, withCacheHeaders, withNotModified } from 'trpc-caching/http';
import { documentCaching } from 'trpc-caching/openapi';
import { createOpenApiHttpHandler, generateOpenApiDocument } from 'trpc-to-openapi';
import { createAppCaching } from './caching.js';
import { openAppDatabase } from './database.js';
import { createCacheMetrics } from './metrics.js';
import type { FollowOptions } from './postgres-listener.js';
import { createAppRouter } from './router.js';
import { contextFor } from './trpc.js';

/** Options of {@link start}. */
export interface StartOptions {
  /** Port to listen on; 0 picks a free one. Default: `PORT` from the environment, else 3000. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`; `HOST=0.0.0.0` to expose it. */
  host?: string;
  /** Redis URL for the cache. Default: `REDIS_URL` from the environment; none: the in-memory store. */
  redisUrl?: string;
  /** Delay of every database query in ms. Default: `DB_DELAY_MS`, else 50. */
  dbDelayMs?: number;
  /** PostgreSQL URL for the notes (Postgres mode). Default: `DATABASE_URL`; none: sql.js in memory. */
  databaseUrl?: string;
  /** Postgres mode: the listener's slot and mapping. Default: the app's (src/postgres-listener.ts). */
  follow?: FollowOptions;
  /** Longest a cache store call may take before the cache bypasses it, in ms. Default 100 (trpc-caching's default). */
  cacheTimeout?: number;
  /** Share of hits the consistency auditor checks (0 to 1). Default: `AUDIT_SAMPLE_RATE`, else no auditor. */
  auditSampleRate?: number;
}

/** A running example server. */
export interface RunningApp {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** `memory` or the Redis URL. */
  store: string;
  /** `sql.js (in memory)` or the PostgreSQL URL. */
  database: string;
  /** Data queries run so far, by name (the database's counter). */
  queries: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

// Swagger UI from the swagger-ui-dist package in node_modules: no CDN, works offline.
const swaggerDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const DOCS_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Notes API - docs</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

// Response headers (X-Cache, ETag) are shown under each "Try it out" answer; showExtensions shows x-cache.
const DOCS_INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  showExtensions: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
});
`;

/**
 * `max-age` of cached responses. Per-user data: 0, so a browser revalidates every time (a current ETag
 * costs a 304 without a body) and a user sees their own writes at once. The public feed: its TTL, so
 * browsers and shared caches may keep it that long.
 */
const maxAge = (entry: CacheLogEntry) => (entry.scope === 'public' ? Math.floor(entry.ttl / 1000) : 0);

/** The web page's sources (React + TanStack Query + @trpc/tanstack-react-query + trpc-caching/client). */
const webDir = fileURLToPath(new URL('../web/', import.meta.url));
let webBundle: Promise<string> | undefined;

/**
 * The page's script, bundled by esbuild from example-app/web once per process (the first page load waits for it;
 * `npm run example` starts it with the server). Served by the app itself: no CDN.
 */
function webScript(): Promise<string> {
  webBundle ??= import('esbuild')
    .then(({ build }) =>
      build({
        entryPoints: [join(webDir, 'main.tsx')],
        tsconfig: join(webDir, 'tsconfig.json'),
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        minify: true,
        jsx: 'automatic',
        define: { 'process.env.NODE_ENV': '"production"' },
        logLevel: 'silent',
      }),
    )
    .then((result) => result.outputFiles[0]?.text ?? '');
  // A failed build is retried on the next request instead of being served for ever.
  webBundle.catch(() => {
    webBundle = undefined;
  });
  return webBundle;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Starts the example app: database, cache, router and HTTP server. */
export async function start(options: StartOptions = {}): Promise<RunningApp> {
  const database = await openAppDatabase({ databaseUrl: options.databaseUrl, delayMs: options.dbDelayMs, follow: options.follow });
  const db = database.db;
  const cache = await createAppCaching({
    redisUrl: options.redisUrl,
    timeout: options.cacheTimeout,
    auditSampleRate: options.auditSampleRate,
  });
  // Postgres mode: writes made outside the app (psql) invalidate too.
  const listener = await database.follow(cache.caching);
  const appRouter = createAppRouter(cache.caching);
  const metrics = createCacheMetrics(cache.caching);

  // withCacheHeaders gives each request a log the cached procedures fill; cacheResponseMeta turns it into headers.
  const createContext = withCacheHeaders(
    async ({ req, info }: { req: IncomingMessage | Request; info?: { connectionParams?: Record<string, string | undefined> | null } }) => {
      const ctx = await contextFor(db, req);
      // A browser's EventSource cannot send Authorization: the page's live stream passes its token as a connection parameter.
      const token = info?.connectionParams?.token;
      return ctx.user === null && typeof token === 'string' ? { ...ctx, user: (await db.userByToken(token)) ?? null } : ctx;
    },
  );
  // sync: X-Cache-Sync tells the page's invalidationLink what each query depends on and what each mutation moved.
  // Behind Varnish (npm run example:edge): surrogate keys on public answers, s-maxage from meta.cache.sMaxAge.
  const edgeHeaders = cache.edge ? { edge: cache.edge } : {};
  const responseMeta = cacheResponseMeta({ maxAge, sync: true, ...edgeHeaders });
  // withNotModified answers 304 to a GET whose If-None-Match matches the ETag.
  const trpc = withNotModified(createHTTPHandler({ router: appRouter, basePath: '/trpc/', createContext, responseMeta }));
  const rest = withNotModified(createOpenApiHttpHandler({ router: appRouter, createContext, responseMeta }));

  const port = options.port ?? Number(process.env.PORT ?? 3000);
  const host = options.host ?? process.env.HOST ?? '127.0.0.1';

  // The OpenAPI document of the REST API, with caching documented on every operation (x-cache, headers, 304).
  const openApiDocument = JSON.stringify(
    documentCaching(
      generateOpenApiDocument(appRouter, {
        title: 'Notes API (trpc-caching example)',
        description:
          'Per-user notes, shared notes and a public feed. Authorize with a bearer token: `alice-token`, `bob-token` or `carol-token`.',
        version: '1.0.0',
        baseUrl: '/api',
      }),
      { router: appRouter, caching: cache.caching, maxAge, ...edgeHeaders },
    ),
  );

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path.startsWith('/trpc/')) return void trpc(req, res);
    if (path === '/api' || path.startsWith('/api/')) {
      // trpc-to-openapi's Node handler matches paths from the root: strip the mount point.
      req.url = (req.url ?? '').slice('/api'.length) || '/';
      return void rest(req, res);
    }
    if (path === '/openapi.json') return send(res, 200, 'application/json; charset=utf-8', openApiDocument);
    if (path === '/metrics') {
      metrics.scrape().then(
        (text) => send(res, 200, metrics.registry.contentType, text),
        (error: unknown) => send(res, 500, 'text/plain; charset=utf-8', `metrics failed: ${String(error)}`),
      );
      return;
    }
    if (path === '/docs' || path === '/docs/') return send(res, 200, 'text/html; charset=utf-8', DOCS_PAGE);
    if (path === '/docs/init.js') return send(res, 200, 'text/javascript; charset=utf-8', DOCS_INIT);
    if (path === '/app' || path === '/app/') {
      readFile(join(webDir, 'index.html')).then(
        (body) => send(res, 200, 'text/html; charset=utf-8', body),
        () => send(res, 500, 'text/plain', 'example-app/web/index.html missing'),
      );
      return;
    }
    if (path === '/app/main.js') {
      webScript().then(
        (script) => send(res, 200, 'text/javascript; charset=utf-8', script),
        (error: unknown) => send(res, 500, 'text/plain', `the page could not be bundled: ${String(error)}`),
      );
      return;
    }
    const asset = path.startsWith('/docs/') ? path.slice('/docs/'.length) : '';
    const assetType = Object.hasOwn(DOCS_ASSETS, asset) ? DOCS_ASSETS[asset] : undefined;
    if (assetType !== undefined) {
      readFile(join(swaggerDir, asset)).then(
        (body) => send(res, 200, assetType, body),
        () => send(res, 500, 'text/plain', 'swagger-ui-dist asset missing: run npm ci'),
      );
      return;
    }
    if (path === '/') {
      return send(
        res,
        200,
        'application/json; charset=utf-8',
        JSON.stringify({ trpc: '/trpc', rest: '/api', openapi: '/openapi.json', docs: '/docs', metrics: '/metrics', app: '/app' }),
      );
    }
    send(res, 404, 'application/json; charset=utf-8', JSON.stringify({ message: 'Not found', code: 'NOT_FOUND' }));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    // E.g. the port is taken: release the Redis connection, or the process would stay up.
    await listener?.close();
    await cache.close();
    await db.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${address.port}`,
    store: cache.storeName,
    database: database.name,
    queries: db.queries,
    async close() {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await listener?.close();
      await cache.close();
      await db.close();
    },
  };
}

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (runDirectly) {
  const app = await start();
  // Bundle the page now, so that the first visit does not wait for it.
  webScript().catch((error: unknown) => console.warn(`[example] the page at /app could not be bundled: ${String(error)}`));
  console.log(`Notes API (trpc-caching example), cache store: ${app.store}, database: ${app.database}`);
  console.log(`  tRPC      ${app.url}/trpc`);
  console.log(`  REST      ${app.url}/api        e.g. curl -i -H 'Authorization: Bearer alice-token' ${app.url}/api/notes`);
  console.log(`  OpenAPI   ${app.url}/openapi.json`);
  console.log(`  Docs      ${app.url}/docs`);
  console.log(`  Live page ${app.url}/app      (alice and bob side by side)`);
  console.log(`  Metrics   ${app.url}/metrics`);
  console.log('Users: alice-token, bob-token, carol-token. Ctrl+C stops.');
  const stop = () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
