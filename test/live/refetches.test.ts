// Refetches per mutation: three users' pages hold 50 cached queries between them, each with the live stream; every
// mutation refetches exactly the queries it moved, counted at the server, and nothing else.
import { QueryClient, QueryObserver } from '@tanstack/query-core';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientApp, clientFor, type ServedApp, serve, until } from '../client/app.js';

type User = 'alice' | 'bob' | 'carol';
/** Posts each page shows by id (tags post:1 … post:14); with post.list, counter.value and feed: 17 + 17 + 16 = 50 queries. */
const POSTS: Record<User, number> = { alice: 14, bob: 14, carol: 13 };
const USERS = Object.keys(POSTS) as User[];

let app: ReturnType<typeof clientApp>;
let server: ServedApp;
const aborts: AbortController[] = [];
const queryClients: QueryClient[] = [];
const live = new Map<User, unknown[]>();

beforeAll(async () => {
  app = clientApp();
  server = await serve(app);
  for (const user of USERS) {
    const queryClient = new QueryClient({ defaultOptions: { queries: { staleTime: Number.POSITIVE_INFINITY, retry: false } } });
    const abort = new AbortController();
    const events: unknown[] = [];
    live.set(user, events);
    const client = clientFor(server.url, user, { queryClient, live: true, signal: abort.signal, onLive: (value) => events.push(value) });
    const trpc = createTRPCOptionsProxy({ client, queryClient });
    const options = [
      ...Array.from({ length: POSTS[user] }, (_, i) => trpc.post.byId.queryOptions({ id: i + 1 })),
      trpc.post.list.queryOptions(),
      trpc.counter.value.queryOptions(),
      trpc.feed.queryOptions(),
    ];
    for (const option of options)
      new QueryObserver(queryClient, option as ConstructorParameters<typeof QueryObserver>[1]).subscribe(() => {});
    aborts.push(abort);
    queryClients.push(queryClient);
  }
  await until(() =>
    queryClients.every((queryClient) =>
      queryClient
        .getQueryCache()
        .getAll()
        .every((query) => query.state.status === 'success'),
    ),
  );
  await until(() => USERS.every((user) => (live.get(user)?.length ?? 0) > 0), 10_000, 'every live stream');
  expect(queryClients.reduce((sum, queryClient) => sum + queryClient.getQueryCache().getAll().length, 0)).toBe(50);
});

afterAll(async () => {
  for (const abort of aborts) abort.abort();
  for (const queryClient of queryClients) queryClient.clear();
  await server.close();
  app.caching.close();
});

/** Runs a mutation as `user` and returns the refetches it caused, by `user path`, once they have stopped coming. */
async function refetchesOf(expectedTotal: number, user: User, mutate: (client: ReturnType<typeof clientFor>) => Promise<unknown>) {
  server.resetCalls();
  await mutate(clientFor(server.url, user, {}));
  const refetches = () => {
    const counts: Record<string, number> = {};
    for (const [key, count] of server.calls) if (!/ (post\.(rename|retitle|touch)|bump|publish)$/.test(key)) counts[key] = count;
    return counts;
  };
  const total = () => Object.values(refetches()).reduce((sum, count) => sum + count, 0);
  await until(() => total() >= expectedTotal, 10_000, `${expectedTotal} refetches`);
  // Quiet for a while: a refetch too many would show up here.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await until(() => queryClients.every((queryClient) => queryClient.isFetching() === 0));
  return refetches();
}

describe('refetches per mutation, 50 cached queries across 3 users with live streams', () => {
  const rows: string[] = [];
  afterAll(() => {
    console.log(`[refetches] 50 cached queries, 3 users\n${rows.join('\n')}`);
  });

  it.each([
    {
      name: "bob renames alice's post 1, shared with him: both their scopes and tag post:1",
      user: 'bob' as const,
      mutate: (client: ReturnType<typeof clientFor>) => client.post.rename.mutate({ id: 1, title: 'renamed' }),
      // alice and bob: every per-user query (14 posts, list, counter); carol: post 1 only. Nobody's feed.
      expected: {
        'alice post.byId': 14,
        'alice post.list': 1,
        'alice counter.value': 1,
        'bob post.byId': 14,
        'bob post.list': 1,
        'bob counter.value': 1,
        'carol post.byId': 1,
      },
    },
    {
      name: 'carol retitles post 7: tag post:7 only',
      user: 'carol' as const,
      mutate: (client: ReturnType<typeof clientFor>) => client.post.retitle.mutate({ id: 7, title: 'seven' }),
      expected: { 'alice post.byId': 1, 'bob post.byId': 1, 'carol post.byId': 1 },
    },
    {
      name: 'alice bumps the counter: path counter',
      user: 'alice' as const,
      mutate: (client: ReturnType<typeof clientFor>) => client.bump.mutate(),
      expected: { 'alice counter.value': 1, 'bob counter.value': 1, 'carol counter.value': 1 },
    },
    {
      name: 'bob publishes: tag feed',
      user: 'bob' as const,
      mutate: (client: ReturnType<typeof clientFor>) => client.publish.mutate(),
      expected: { 'alice feed': 1, 'bob feed': 1, 'carol feed': 1 },
    },
    {
      name: "carol touches her own data: carol's scope",
      user: 'carol' as const,
      mutate: (client: ReturnType<typeof clientFor>) => client.post.touch.mutate(),
      expected: { 'carol post.byId': 13, 'carol post.list': 1, 'carol counter.value': 1 },
    },
    {
      name: "alice renames bob's post 3: bob's scope and tag post:3",
      user: 'alice' as const,
      mutate: (client: ReturnType<typeof clientFor>) => client.post.rename.mutate({ id: 3, title: 'three' }),
      expected: { 'alice post.byId': 1, 'bob post.byId': 14, 'bob post.list': 1, 'bob counter.value': 1, 'carol post.byId': 1 },
    },
  ])('$name', async ({ user, mutate, expected }) => {
    const total = Object.values(expected).reduce((sum, count) => sum + count, 0);
    const refetched = await refetchesOf(total, user, mutate);
    expect(refetched).toEqual(expected);
    rows.push(
      `  ${String(total).padStart(2)} of 50 refetched: ${Object.entries(refetched)
        .map(([key, count]) => `${key} ${count}`)
        .join(', ')}`,
    );
  });
});
