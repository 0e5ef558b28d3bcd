// Shown in docs/observability.md (What each procedure does).
import { initTRPC } from '@trpc/server';
import { type CachingMeta, createCaching } from 'trpc-caching';

type Ctx = { user: { id: string } | null };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
export const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id });
export const appRouter = t.router({
  feed: caching
    .cachedQuery(t.procedure)
    .meta({ cache: { scope: 'public', tags: ['feed'] } })
    .query(() => ['Hello']),
  publish: caching
    .invalidatingMutation(t.procedure)
    .meta({ invalidate: { tags: ['feed'] } })
    .mutation(() => true),
});

// Each procedure built with this instance, by path, with its meta resolved (defaults applied).
for (const [path, info] of caching.describe(appRouter)) {
  if (info.kind === 'query') console.log(`${path}: ${info.cache.scope} scope, ttl ${info.cache.ttl} ms, lock ${info.cache.lock}`);
  else console.log(`${path}: ${info.invalidate ? 'invalidates on success' : 'invalidates nothing'}`);
}
