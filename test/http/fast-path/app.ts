// The app the fast-path tests serve twice: once behind `fastPath`, once with tRPC's standalone adapter alone.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Keyv } from 'keyv';
import { createOpenApiHttpHandler, type OpenApiMeta } from 'trpc-to-openapi';
import { z } from 'zod';
import { cacheResponseMeta, fastPath, fastPathTried, withCacheHeaders, withNotModified } from '../../../src/http/index.js';
import type { CachingMeta } from '../../../src/index.js';
import { bearer, harness, type Listening, listen } from '../../support/apps/harness.js';

/** Counts of what ran on one server: resolver runs, and requests that reached the regular handler. */
export interface Counters {
  resolvers: number;
  regular: number;
  authChecks: number;
  /** Requests counted once each, as a rate limiter would: skipped where the fast path already counted. */
  counted: number;
}

/**
 * The test app: `echo` (per user, echoes its input with typed values), `pub` (public), `boom` (fails for some
 * inputs), `plain` (not cached), `bump` (a mutation that invalidates the caller's `echo`). `revoked` is refused by
 * the base procedure's auth.
 */
export function fastApp(store: Keyv, prefix: string, revoked: Set<string> = new Set(['revoked'])) {
  const counters: Counters = { resolvers: 0, regular: 0, authChecks: 0, counted: 0 };
  const { t, authed, caching } = harness<{ user: string | null }, CachingMeta & OpenApiMeta>(store, {
    prefix,
    // Far above a loaded machine's stalls: a store call that outlasts the timeout bypasses the cache on one server and
    // not on the other, which the differential test would report as a difference.
    timeout: 5_000,
    authorize: (user) => {
      counters.authChecks++;
      if (revoked.has(user)) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'revoked' });
    },
  });
  const anyInput = (value: unknown) => value;
  const router = t.router({
    echo: caching
      .cachedQuery(authed)
      .meta({ cache: { ttl: 60_000, tags: ['echo'] } })
      .input(anyInput)
      .query(({ ctx, input }) => {
        counters.resolvers++;
        return { user: ctx.user, input, at: new Date(86_400_000), seen: new Set([1, 2]), n: input === undefined ? -0 : 1 };
      }),
    pub: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { ttl: 60_000, scope: 'public' } })
      .input(anyInput)
      .query(({ input }) => {
        counters.resolvers++;
        return { list: [1, 2, 3], input, map: new Map([['a', 1]]) };
      }),
    boom: caching
      .cachedQuery(authed)
      .meta({ cache: { ttl: 60_000 } })
      .input(anyInput)
      .query(({ input }) => {
        counters.resolvers++;
        if (typeof input === 'string' && input.length % 2 === 1) throw new TRPCError({ code: 'BAD_REQUEST', message: 'odd' });
        return input ?? null;
      }),
    plain: authed.input(anyInput).query(({ input }) => {
      counters.resolvers++;
      return { input };
    }),
    rest: caching
      .cachedQuery(authed)
      .meta({ openapi: { method: 'GET', path: '/echo' }, cache: { ttl: 60_000, tags: ['echo'] } })
      .input(z.object({ q: z.string().optional() }))
      .output(z.object({ user: z.string(), q: z.string().optional() }))
      .query(({ ctx, input }) => {
        counters.resolvers++;
        return input.q === undefined ? { user: ctx.user } : { user: ctx.user, q: input.q };
      }),
    bump: caching
      .invalidatingMutation(authed)
      .meta({ invalidate: { tags: ['echo'] } })
      .mutation(() => {
        counters.resolvers++;
        return 'bumped';
      }),
  });
  caching.validateRouter(router);
  const createContext = withCacheHeaders(({ req }: { req: IncomingMessage }) => {
    if (!fastPathTried(req)) counters.counted++;
    return { user: bearer(req) };
  });
  const responseMeta = cacheResponseMeta({ sync: true, responseMeta: () => ({ headers: { 'X-Served-By': 'app' } }) });
  const trpc = withNotModified(createHTTPHandler({ router, createContext, responseMeta, basePath: '/trpc/' }));
  // trpc-to-openapi's REST routes beside tRPC, on the same context and responseMeta.
  const rest = withNotModified(createOpenApiHttpHandler({ router, createContext, responseMeta }));
  const regular = (req: IncomingMessage, res: ServerResponse) => {
    counters.regular++;
    if (req.url?.startsWith('/api/')) {
      req.url = req.url.slice('/api'.length);
      return void rest(req, res);
    }
    trpc(req, res);
  };
  return { router, caching, counters, createContext, responseMeta, regular };
}

/** The app served with the fast path in front (`fast: true`) or with tRPC's handler alone. */
export async function serveFastApp(store: Keyv, prefix: string, fast: boolean, revoked?: Set<string>) {
  const app = fastApp(store, prefix, revoked);
  const front = fastPath({ router: app.router, createContext: app.createContext, responseMeta: app.responseMeta, basePath: '/trpc/' });
  const listening: Listening = await listen((req, res) => (fast ? front(req, res, () => app.regular(req, res)) : app.regular(req, res)));
  return { ...app, listening };
}

/** One HTTP exchange as the wire carries it: status, raw headers (minus those that differ per response) and body. */
export interface Exchange {
  readonly status: number;
  readonly headers: readonly string[];
  readonly body: string;
}

const PER_RESPONSE = new Set(['date', 'connection', 'keep-alive']);

/** Sends one request and reads the response byte for byte (raw header names, in order). */
export function exchange(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const headers: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i] as string;
          // A mutation's move has a random id of its own, on either server.
          const value = (res.rawHeaders[i + 1] as string).replace(/"id":"[0-9a-f-]{36}"/g, '"id":"<move>"');
          if (!PER_RESPONSE.has(name.toLowerCase())) headers.push(`${name}: ${value}`);
        }
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
