import type { IncomingMessage } from 'node:http';
import { initTRPC } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Keyv } from 'keyv';
import { type CachingMeta, createCaching } from 'trpc-caching';
import { cacheResponseMeta, createEdge, type EdgeOptions, withCacheHeaders } from 'trpc-caching/http';
import { z } from 'zod';
import { bearer, type Listening, listen } from './harness.js';

/** Where the edge app keeps its posts: in memory, or in Redis when several processes share them. */
export interface TitleDb {
  title(id: number): Promise<string>;
  rename(id: number, title: string): Promise<void>;
}

export function memoryTitleDb(): TitleDb {
  const titles = new Map<number, string>();
  return {
    title: async (id) => titles.get(id) ?? `post ${id}`,
    rename: async (id, title) => void titles.set(id, title),
  };
}

export interface EdgeApp extends Listening {
  /** Resolver runs by path: what the edge spared the API. */
  readonly calls: Map<string, number>;
  readonly caching: ReturnType<typeof createCaching<{ user: string | null }>>;
}

/**
 * An API made to sit behind an edge: `post.byId` is public (tags `post:<id>`, `s-maxage` 60 s), `news.list` is
 * public and unrelated to posts, `post.mine` is per user, `post.rename` invalidates `post:<id>`. Public answers carry
 * `xkey` surrogate keys; every move purges through `edge.purger`.
 */
export async function startEdgeApp(options: {
  store: Keyv;
  db: TitleDb;
  edge: EdgeOptions;
  prefix?: string;
  /** Awaited by `post.byId` after it read the title: holds a read at the API while a test mutates. */
  hold?: (id: number) => Promise<void>;
}): Promise<EdgeApp> {
  const t = initTRPC.context<{ user: string | null }>().meta<CachingMeta>().create();
  const edge = createEdge({ header: 'xkey', ...options.edge });
  const caching = createCaching<{ user: string | null }>({
    user: (ctx) => ctx.user,
    store: options.store,
    edge,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    onError: () => {},
  });
  const calls = new Map<string, number>();
  const count = (path: string) => calls.set(path, (calls.get(path) ?? 0) + 1);
  const cachedQuery = caching.cachedQuery(t.procedure);
  const invalidatingMutation = caching.invalidatingMutation(t.procedure);
  const id = z.object({ id: z.number() });
  const router = t.router({
    post: t.router({
      byId: cachedQuery
        .meta({ cache: { scope: 'public', ttl: 60_000, sMaxAge: 60_000, tags: ({ input }) => [`post:${String(input.id)}`] } })
        .input(id)
        .query(async ({ input }) => {
          count('post.byId');
          const title = await options.db.title(input.id);
          await options.hold?.(input.id);
          return { id: input.id, title };
        }),
      mine: cachedQuery
        .meta({ cache: { ttl: 60_000 } })
        .input(z.object({}))
        .query(({ ctx }) => {
          count('post.mine');
          return { owner: ctx.user };
        }),
      rename: invalidatingMutation
        .meta({ invalidate: { tags: ({ input }) => [`post:${String(input.id)}`] } })
        .input(z.object({ id: z.number(), title: z.string() }))
        .mutation(async ({ input }) => {
          await options.db.rename(input.id, input.title);
          return { ok: true };
        }),
    }),
    news: t.router({
      list: cachedQuery
        .meta({ cache: { scope: 'public', ttl: 60_000, sMaxAge: 60_000 } })
        .input(z.object({}))
        .query(() => {
          count('news.list');
          return ['headline'];
        }),
    }),
  });
  caching.validateRouter(router);
  const handler = createHTTPHandler({
    router,
    createContext: withCacheHeaders(({ req }: { req: IncomingMessage }) => ({ user: bearer(req, /.+/) })),
    responseMeta: cacheResponseMeta({ edge }),
  });
  const listening = await listen(handler);
  return {
    ...listening,
    calls,
    caching,
    close: async () => {
      caching.close();
      await listening.close();
    },
  };
}

/** A GET of a query through `base` (Varnish or the API), as tRPC's httpLink sends it, without a transformer. */
export async function getQuery(base: string, path: string, input: unknown, user?: string): Promise<{ data: unknown; headers: Headers }> {
  const url = `${base}/${path}?input=${encodeURIComponent(JSON.stringify(input))}`;
  const response = await fetch(url, { headers: user === undefined ? {} : { authorization: `Bearer ${user}` } });
  const body = (await response.json()) as { result?: { data: unknown } };
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${JSON.stringify(body)}`);
  return { data: body.result?.data, headers: response.headers };
}

/** A mutation POSTed straight to the API, as tRPC's httpLink sends it; resolves when the API has answered. */
export async function postMutation(base: string, path: string, input: unknown, user = 'editor'): Promise<void> {
  const response = await fetch(`${base}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user}` },
    body: JSON.stringify(input),
  });
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
}
