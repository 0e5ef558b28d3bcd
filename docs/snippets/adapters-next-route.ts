// docs/adapters.md, "Next.js App Router": app/api/trpc/[trpc]/route.ts, the fetch adapter as a route handler.
import { type FetchCreateContextFnOptions, fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { cacheResponseMeta, withCacheHeaders, withNotModifiedFetch } from 'trpc-caching/http';
import { appRouter, userFrom } from './adapters-app.js';

const handler = withNotModifiedFetch((req: Request) =>
  fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    createContext: withCacheHeaders(({ req }: FetchCreateContextFnOptions) => ({ user: userFrom(req.headers.get('authorization')) })),
    responseMeta: cacheResponseMeta({ sync: true }),
  }),
);

// Every request reaches the handler: the cache is trpc-caching's, per user, not Next.js's.
export const dynamic = 'force-dynamic';
export { handler as GET, handler as POST };
