// The app the client model test drives: items owned by users, a public feed, a counter under its own path, a plain
// procedure; queries that can be slow, fail, or carry an input too large to key; mutations of every kind, some of
// which fail. Served over HTTP (X-Cache-Sync on) and WebSocket on one loopback port.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createTRPCUntypedClient,
  createWSClient,
  httpBatchLink,
  httpBatchStreamLink,
  httpLink,
  splitLink,
  type TRPCLink,
  wsLink,
} from '@trpc/client';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import superjson from 'superjson';
import { cacheResponseMeta, withCacheHeaders } from 'trpc-caching/http';
import { WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { invalidationLink, type QueryClientLike } from '../../src/client/index.js';
import { bearer, type HarnessCtx, harness } from '../support/apps/harness.js';

/** Who owns each item: alice 1 and 2, bob 3, carol 4. */
export const OWNERS: Readonly<Record<number, string>> = { 1: 'alice', 2: 'alice', 3: 'bob', 4: 'carol' };

/** Inputs of this many bytes or more are too large for the cache to key (`maxInputBytes`). */
export const MAX_INPUT_BYTES = 256;

export function modelApp() {
  const { t, authed, caching } = harness<HarnessCtx<string>>(undefined, { timeout: 2_000, maxInputBytes: MAX_INPUT_BYTES });
  const titles = new Map<number, string>(Object.keys(OWNERS).map((id) => [Number(id), `item ${id}`]));
  let counter = 0;
  const cachedQuery = caching.cachedQuery(authed);
  const invalidatingMutation = caching.invalidatingMutation(authed);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const router = t.router({
    item: t.router({
      byId: cachedQuery
        .meta({ cache: { tags: ({ input }) => [`item:${String(input.id)}`] } })
        .input(z.object({ id: z.number(), delay: z.number().optional(), fail: z.boolean().optional(), pad: z.string().optional() }))
        .query(async ({ input }) => {
          if (input.delay !== undefined) await sleep(input.delay);
          const title = titles.get(input.id);
          if (input.fail === true || title === undefined) throw new Error(`no item ${input.id}`);
          return title;
        }),
      list: cachedQuery.meta({ cache: { tags: ['items'] } }).query(() => [...titles.values()]),
      rename: invalidatingMutation
        .meta({
          invalidate: {
            self: false,
            users: ({ input }) => [OWNERS[Number(input.id)] ?? 'nobody'],
            tags: ({ input }) => [`item:${String(input.id)}`, 'items'],
          },
        })
        .input(z.object({ id: z.number(), title: z.string().min(1) }))
        .mutation(({ input }) => {
          if (!titles.has(input.id)) throw new Error(`no item ${input.id}`);
          titles.set(input.id, input.title);
          return input.id;
        }),
    }),
    counter: t.router({ value: cachedQuery.query(() => counter) }),
    feed: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { scope: 'public', tags: ['feed'] } })
      .query(() => [...titles.values()]),
    plain: t.procedure.input(z.object({ n: z.number() }).optional()).query(() => counter),
    touch: invalidatingMutation.mutation(() => 'touched'),
    publish: invalidatingMutation.meta({ invalidate: { self: false, tags: ['feed'] } }).mutation(() => 'published'),
    bump: invalidatingMutation.meta({ invalidate: { self: false, paths: ['counter'] } }).mutation(() => ++counter),
    everything: invalidatingMutation.meta({ invalidate: { self: false, all: true } }).mutation(() => 'all'),
  });
  caching.validateRouter(router);
  return router;
}

export type ModelRouter = ReturnType<typeof modelApp>;

/** The links under test. */
export const LINKS = [
  'httpLink',
  'httpBatchLink',
  'httpBatchStreamLink',
  'httpBatchStreamLink, mutations over httpBatchLink',
  'wsLink',
] as const;
export type LinkKind = (typeof LINKS)[number];

/** Serves the app over HTTP and WebSocket on a free loopback port. */
export async function serveModel() {
  const router = modelApp();
  const handler = createHTTPHandler({
    router,
    basePath: '/trpc/',
    createContext: withCacheHeaders(({ req }: { req: IncomingMessage }) => ({ user: bearer(req) })),
    responseMeta: cacheResponseMeta({ sync: true }),
  });
  const server = createServer((req, res) => void handler(req, res));
  const wss = new WebSocketServer({ server });
  const wsHandler = applyWSSHandler({
    wss,
    router,
    createContext: ({ info }) => ({ user: typeof info.connectionParams?.user === 'string' ? info.connectionParams.user : null }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const closers: (() => void)[] = [];
  return {
    url: `http://127.0.0.1:${port}`,
    /** A typed client for `user` over `kind`, with `invalidationLink` on `queryClient`. */
    clientFor(user: string, kind: LinkKind, queryClient: QueryClientLike) {
      const options = { url: `http://127.0.0.1:${port}/trpc`, transformer: superjson, headers: { authorization: `Bearer ${user}` } };
      let terminal: TRPCLink<ModelRouter>;
      if (kind === 'wsLink') {
        const ws = createWSClient({ url: `ws://127.0.0.1:${port}`, WebSocket: WebSocket as never, connectionParams: { user } });
        closers.push(() => void ws.close());
        terminal = wsLink({ client: ws, transformer: superjson });
      } else if (kind === 'httpBatchStreamLink, mutations over httpBatchLink') {
        terminal = splitLink({
          condition: (op) => op.type === 'mutation',
          true: httpBatchLink(options),
          false: httpBatchStreamLink(options),
        });
      } else {
        terminal =
          kind === 'httpLink' ? httpLink(options) : kind === 'httpBatchLink' ? httpBatchLink(options) : httpBatchStreamLink(options);
      }
      return createTRPCUntypedClient<ModelRouter>({ links: [invalidationLink({ queryClient }), terminal] });
    },
    /** Closes the WebSocket clients made so far. */
    closeClients() {
      for (const close of closers.splice(0)) close();
    },
    async close() {
      for (const close of closers.splice(0)) close();
      wsHandler.broadcastReconnectNotification();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
