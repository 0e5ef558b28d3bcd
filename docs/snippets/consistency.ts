// Shown in docs/consistency.md.
import { subscribe } from 'node:diagnostics_channel';
import { initTRPC } from '@trpc/server';
import { type CacheDivergenceMessage, type CachingMeta, cachingChannels, createCaching } from 'trpc-caching';
import { z } from 'zod';

type Ctx = { user: { id: string } | null };
const t = initTRPC.context<Ctx>().meta<CachingMeta>().create();
const production = process.env.NODE_ENV === 'production';

export const caching = createCaching<Ctx>({
  user: (ctx) => ctx.user?.id,
  // Production: one hit in a thousand is checked. Tests and development: every hit, and a divergence throws.
  audit: production ? { sampleRate: 0.001 } : { sampleRate: 1, onDivergence: 'throw' },
});
const titles = new Map<number, string>([[1, 'Hello']]);

export const appRouter = t.router({
  post: t.router({
    byId: caching
      .cachedQuery(t.procedure)
      .meta({ cache: { tags: ({ input }) => [`post:${String(input.id)}`] } })
      .input(z.object({ id: z.number() }))
      .query(({ input }) => ({ id: input.id, title: titles.get(input.id) })),
    // The bug the auditor finds: the title changes, but `post:${id}` is not invalidated.
    rename: caching
      .invalidatingMutation(t.procedure)
      .input(z.object({ id: z.number(), title: z.string() }))
      .mutation(({ input }) => titles.set(input.id, input.title).size),
  }),
  // A clock differs at every call by design: exempt it, or every check of it diverges.
  now: caching
    .cachedQuery(t.procedure)
    .meta({ cache: { ttl: 1_000, audit: false } })
    .query(() => Date.now()),
});

// Every divergence, as it is found: the procedure, its tags, and the mutations that ran since the entry was stored.
subscribe(cachingChannels.divergence, (message) => {
  const { path, mutations, ageMs } = message as CacheDivergenceMessage;
  console.error(`stale ${path} (entry ${ageMs} ms old); mutations since: ${mutations.join(', ')}`);
});

// The figures: totals, and the procedures that diverged with their likely culprits.
const { audit } = caching.stats();
if (audit.consistency !== null) console.log(`${(audit.consistency * 100).toFixed(2)}% of checked hits agreed with their source`);
for (const { path, divergences, culprits } of audit.paths) {
  if (divergences > 0) console.log(`${path}: ${divergences} divergences after ${culprits.map((c) => c.mutation).join(', ')}`);
}
