// Shown in docs/freshness.md.
import { initTRPC } from '@trpc/server';
import { type CachingMeta, createCaching } from 'trpc-caching';
import { z } from 'zod';

type Ctx = { user: { id: string } | null };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
export const caching = createCaching<Ctx>({
  user: (ctx) => ctx.user?.id,
  ttl: 60_000, // entries of procedures that name no ttl: 1 min
  versionTtl: 86_400_000, // at least every ttl + staleWhileRevalidate (checked at startup)
});
declare function ratesFromUpstream(currency: string): Promise<Record<string, number>>; // a slow upstream call

export const appRouter = t.router({
  rates: caching
    .cachedQuery(t.procedure)
    // Fresh for 30 s. For 5 min after that an entry nothing invalidated answers at once (X-Cache: STALE) while one
    // refresh runs; with staleIfError it keeps answering while that refresh fails. An invalidation makes it a miss.
    .meta({ cache: { scope: 'public', ttl: 30_000, staleWhileRevalidate: 5 * 60_000, staleIfError: true, tags: ['rates'] } })
    .input(z.object({ currency: z.string() }))
    .query(({ input }) => ratesFromUpstream(input.currency)),
});
