// The breaks of issue 16 §1 as examples, each repeated: a batch whose calls of one path finish out of order, a
// failed query or mutation inside a batch, an input too large to key. Over httpBatchLink, X-Cache-Sync on.
import { QueryClient } from '@tanstack/query-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveModel } from './model-app.js';

const ROUNDS = 20;
const PAD = 'x'.repeat(300);
let server: Awaited<ReturnType<typeof serveModel>>;
beforeAll(async () => {
  server = await serveModel();
});
afterAll(async () => {
  await server?.close();
});

/** Alice's page over httpBatchLink: a fresh QueryClient and a client with invalidationLink on it. */
function page() {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const client = server.clientFor('alice', 'httpBatchLink', queryClient);
  const key = (input: unknown) => [['item', 'byId'], { input, type: 'query' }];
  return {
    queryClient,
    client,
    /** Fetches the byId calls of `inputs` in one batch. */
    fetch: (inputs: unknown[]) =>
      Promise.allSettled(
        inputs.map((input) => queryClient.fetchQuery({ queryKey: key(input), queryFn: () => client.query('item.byId', input) })),
      ),
    invalidated: (input: unknown) => queryClient.getQueryState(key(input))?.isInvalidated === true,
  };
}

describe('invalidationLink over httpBatchLink', () => {
  it('gives two calls of one path in a batch their own entries, whichever finishes first', async () => {
    // Item 3 is bob's: alice's rename moves only its tag, so only the query of item 3 is reached.
    let stale = 0;
    let wrong = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const alice = page();
      await alice.fetch([{ id: 3, delay: 30 }, { id: 4 }]);
      await alice.client.mutation('item.rename', { id: 3, title: `three ${round}` });
      if (!alice.invalidated({ id: 3, delay: 30 })) stale++;
      if (alice.invalidated({ id: 4 })) wrong++;
    }
    expect({ stale, wrong }).toEqual({ stale: 0, wrong: 0 });
  });

  it('lets a failed query of a batch take its own entry, so the next call keeps its tags', async () => {
    let stale = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const alice = page();
      await alice.fetch([{ id: 999 }, { id: 3 }]);
      await alice.client.mutation('item.rename', { id: 3, title: `three ${round}` });
      if (!alice.invalidated({ id: 3 })) stale++;
    }
    expect(stale).toBe(0);
  });

  it('applies the move of a mutation batched after one that failed validation', async () => {
    let lost = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const alice = page();
      await alice.fetch([{ id: 3 }]);
      await Promise.allSettled([
        alice.client.mutation('item.rename', { id: 2, title: '' }),
        alice.client.mutation('item.rename', { id: 3, title: `three ${round}` }),
      ]);
      if (!alice.invalidated({ id: 3 })) lost++;
    }
    expect(lost).toBe(0);
  });

  it("invalidates a query whose input was too large to key when the caller's move may reach it", async () => {
    let stale = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const alice = page();
      await alice.fetch([{ id: 3, pad: PAD }]);
      await alice.client.mutation('item.rename', { id: 3, title: `three ${round}` });
      if (!alice.invalidated({ id: 3, pad: PAD })) stale++;
    }
    expect(stale).toBe(0);
  });
});
