/**
 * An app in development mode (`audit: { sampleRate: 1, onDivergence: 'throw' }`) whose mutation forgets the tag
 * its query is cached under: it reads, mutates, reads the stale entry, and waits. The divergence must end the
 * process with the auditor's error, as it would fail a test run. Run as `node --import tsx audit-throw.ts`.
 */
import { initTRPC } from '@trpc/server';
import { z } from 'zod';
import { type CachingMeta, createCaching } from '../../../src/index.js';

const t = initTRPC.context<{ user: string }>().meta<CachingMeta>().create();
const caching = createCaching<{ user: string }>({
  user: (ctx) => ctx.user,
  // maxLag far above the stalls of a loaded machine (a process loading its modules lags): the check must run.
  audit: { sampleRate: 1, window: 10, maxLag: 60_000, onDivergence: 'throw' },
});
let title = 'one';
const router = t.router({
  byId: caching
    .cachedQuery(t.procedure)
    .meta({ cache: { tags: ['post:1'] } })
    .query(() => ({ title })),
  // Invalidates nothing this query depends on (not the tag, not the caller's scope).
  rename: caching
    .invalidatingMutation(t.procedure)
    .meta({ invalidate: { self: false } })
    .input(z.string())
    .mutation(({ input }) => {
      title = input;
      return true;
    }),
});
caching.validateRouter(router);
const caller = t.createCallerFactory(router)({ user: 'dev' });
await caller.byId();
await caller.rename('two');
await caller.byId();
// Kept alive until the check throws; a process still here after this did not fail.
setTimeout(() => {
  console.log('no divergence thrown');
  process.exit(0);
}, 10_000);
