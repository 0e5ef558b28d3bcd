// Shown in docs/client.md (Streaming queries, exact mutations).
import { QueryClient } from '@tanstack/query-core';
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, splitLink } from '@trpc/client';
import { invalidationLink } from 'trpc-caching/client';
import type { AppRouter } from '../quickstart.js'; // the Quickstart's router

export const queryClient = new QueryClient();
export const client = createTRPCClient<AppRouter>({
  links: [
    invalidationLink({ queryClient }),
    splitLink({
      condition: (op) => op.type === 'mutation',
      // A batch response's headers say exactly what each of its mutations moved.
      true: httpBatchLink({ url: '/trpc' }),
      // A streamed response's headers leave before its calls run: its queries depend on any scope or tag move.
      false: httpBatchStreamLink({ url: '/trpc' }),
    }),
  ],
});
