import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import type { ContractApp, ContractCtx, ContractRouter } from './contract-app.js';

/**
 * Serves a contract app with tRPC's standalone adapter on a free loopback
 * port. The caller is named by `Authorization: Bearer <id>`; no header means
 * an anonymous caller.
 */
export async function serveContractApp(app: ContractApp): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  const handler = createHTTPHandler({
    router: app.router,
    createContext: ({ req }): ContractCtx => {
      const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      return { user: match?.[1] ?? null };
    },
  });
  const server = createServer((req, res) => {
    requests++;
    void handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A typed tRPC client with `httpBatchLink`, calling as `user` (null = anonymous). */
export function contractClient(url: string, user: string | null) {
  return createTRPCClient<ContractRouter>({
    links: [
      httpBatchLink({
        url,
        transformer: superjson,
        headers: () => (user === null ? {} : { authorization: `Bearer ${user}` }),
      }),
    ],
  });
}
