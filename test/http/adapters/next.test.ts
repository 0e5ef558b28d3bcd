// docs/adapters.md "Next.js App Router": the route handler (the fetch adapter's GET/POST exports) over real HTTP,
// and server components and server actions through createCaller on the same caching instance, without Next.js:
// what Next.js adds (rendering, revalidatePath) sits on top of these calls and changes none of them.
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { TRPCError } from '@trpc/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type * as Actions from '../../../docs/snippets/adapters-next-actions.js';
import type * as Page from '../../../docs/snippets/adapters-next-page.js';
import type * as Route from '../../../docs/snippets/adapters-next-route.js';
import { storeKinds } from '../../support/stores.js';
import { until } from '../../support/until.js';
import { adapterChecks, client, query, type Served } from './checklist.js';
import { loadRecipe, type RecipeApp, servedOn } from './recipes.js';

const [memory] = storeKinds();

interface NextApp extends Served {
  readonly app: RecipeApp;
  readonly page: typeof Page;
  readonly actions: typeof Actions;
}

/** The route file's exports served as Next.js serves them: GET and POST by method, at /api/trpc. */
async function start(): Promise<NextApp> {
  if (memory === undefined) throw new Error('no memory store kind');
  const { recipe: route, app, dispose } = await loadRecipe<typeof Route>('adapters-next-route', memory);
  // The page and the actions, in the same module graph: one caching instance, as in one Next.js server.
  const page = (await import('../../../docs/snippets/adapters-next-page.js')) as typeof Page;
  const actions = (await import('../../../docs/snippets/adapters-next-actions.js')) as typeof Actions;
  const server = createAdaptorServer({ fetch: (req: Request) => (req.method === 'POST' ? route.POST(req) : route.GET(req)) });
  return { ...(await servedOn(server as Server, dispose, { trpcPath: '/api/trpc' })), app, page, actions };
}

const headersOf = (user: string) => new Headers({ authorization: `Bearer ${user}` });

describe('a Next.js route handler (app/api/trpc/[trpc]/route.ts)', () => adapterChecks(start));

describe('server components and server actions through createCaller', () => {
  let next: NextApp;
  beforeEach(async () => {
    next = await start();
  });
  afterEach(() => next.close());

  it("serves a server component's second read from the cache, per user, and never another user's post", async () => {
    const before = next.app.caching.stats();
    expect(await next.page.postForPage(headersOf('alice'), 1)).toEqual({ id: 1, title: 'one' });
    expect(await next.page.postForPage(headersOf('alice'), 1)).toEqual({ id: 1, title: 'one' });
    const after = next.app.caching.stats();
    expect([after.misses - before.misses, after.hits - before.hits]).toEqual([1, 1]);
    await expect(next.page.postForPage(headersOf('carol'), 1)).rejects.toThrow(TRPCError);
    // The page reads the entry the route handler serves: one instance, one cache.
    expect((await query(next, 'alice', 'post.byId', { id: 1 })).headers.get('x-cache')).toBe('HIT');
  });

  it("shows a rename made over HTTP at the server component's next read", async () => {
    await next.page.postForPage(headersOf('alice'), 1);
    await client(next, 'bob').post.rename.mutate({ id: 1, title: 'renamed over HTTP' });
    expect(await next.page.postForPage(headersOf('alice'), 1)).toEqual({ id: 1, title: 'renamed over HTTP' });
  });

  it("makes a server action's rename miss alice's next HTTP read and reach her open live stream", async () => {
    await query(next, 'alice', 'post.byId', { id: 1 });
    expect((await query(next, 'alice', 'post.byId', { id: 1 })).headers.get('x-cache')).toBe('HIT');
    const events: unknown[] = [];
    const subscription = client(next, 'alice').invalidations.subscribe(undefined, { onData: ({ data }) => events.push(data) });
    try {
      await until(() => events.length > 0);
      await next.actions.renamePost(headersOf('bob'), 1, 'renamed by an action');
      const read = await query(next, 'alice', 'post.byId', { id: 1 });
      expect(read.headers.get('x-cache')).toBe('MISS');
      expect(await read.json()).toEqual({ result: { data: { id: 1, title: 'renamed by an action' } } });
      await until(() => events.length > 1);
      expect(events[1]).toMatchObject({ type: 'moved', moved: { tags: ['post:1'] } });
    } finally {
      subscription.unsubscribe();
    }
  });
});
