// docs/adapters.md, "The fetch adapter": a plain Request -> Response function (Workers, Deno, Bun, any fetch runtime).
import { type FetchCreateContextFnOptions, fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { cacheResponseMeta, withCacheHeaders, withNotModifiedFetch } from 'trpc-caching/http';
import { appRouter, userFrom } from './adapters-app.js';

const createContext = withCacheHeaders(({ req }: FetchCreateContextFnOptions) => ({ user: userFrom(req.headers.get('authorization')) }));
const responseMeta = cacheResponseMeta({ sync: true });

export const handle = withNotModifiedFetch((req: Request) =>
  fetchRequestHandler({ endpoint: '/trpc', req, router: appRouter, createContext, responseMeta }),
);
// Workers and Bun: export default { fetch: handle };  Deno: Deno.serve(handle);
