import { createTRPCClient, httpBatchLink, httpLink } from '@trpc/client';
import superjson from 'superjson';
import type { RestRouter } from './apps/rest.js';

/** A typed tRPC client for one user that keeps the headers of every response it got. */
export function trpcClient(baseUrl: string, user: string | null, options: { batch?: boolean } = {}) {
  const responses: Headers[] = [];
  const link = options.batch ? httpBatchLink : httpLink;
  const client = createTRPCClient<RestRouter>({
    links: [
      link({
        url: `${baseUrl}/trpc`,
        transformer: superjson,
        headers: () => (user ? { authorization: `Bearer ${user}` } : {}),
        fetch: async (input, init) => {
          const response = await fetch(input, init as RequestInit);
          responses.push(response.headers);
          return response;
        },
      }),
    ],
  });
  return {
    client,
    responses,
    /** Headers of the last response. */
    get last(): Headers {
      const last = responses.at(-1);
      if (!last) throw new Error('no response yet');
      return last;
    },
  };
}

/** Plain `fetch` on the REST API, sending `user` as the bearer token (null: anonymous). */
export async function rest(
  baseUrl: string,
  user: string | null,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(`${baseUrl}/api${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(user ? { authorization: `Bearer ${user}` } : {}),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}
