// docs/fast-path.md, "Next.js App Router": app/api/trpc/[trpc]/route.ts with the fetch form in front.
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { cacheResponseMeta, fastPathFetch, withCacheHeaders, withNotModifiedFetch } from 'trpc-caching/http';
import { appRouter, userFrom } from './adapters-app.js';

const createContext = withCacheHeaders(({ req }: { req: Request }) => ({ user: userFrom(req.headers.get('authorization')) }));
const responseMeta = cacheResponseMeta({ sync: true });

const handler = withNotModifiedFetch((req: Request) =>
  fetchRequestHandler({ endpoint: '/api/trpc', req, router: appRouter, createContext, responseMeta }),
);
const fast = fastPathFetch({ router: appRouter, endpoint: '/api/trpc', createContext, responseMeta });

// Every request reaches the route: the cache is trpc-caching's, per user, not Next.js's.
export const dynamic = 'force-dynamic';
export const GET = async (req: Request) => (await fast(req)) ?? handler(req);
export { handler as POST };
