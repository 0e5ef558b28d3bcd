import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import superjson from 'superjson';
import type { ContractApp, ContractCtx, ContractRouter } from './contract.js';
import { bearer, listen } from './harness.js';

/**
 * Serves a contract app with tRPC's standalone adapter on a free loopback
 * port. The caller is named by `Authorization: Bearer <id>`; no header means
 * an anonymous caller.
 */
export async function serveContractApp(app: ContractApp): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  const handler = createHTTPHandler({
    router: app.router,
    createContext: ({ req }): ContractCtx => ({ user: bearer(req) }),
  });
  const { url, close } = await listen((req, res) => {
    requests++;
    void handler(req, res);
  });
  return { url, requests: () => requests, close };
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
