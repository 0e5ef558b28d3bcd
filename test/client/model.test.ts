// invalidationLink as a model: random runs of three users' clients doing batches of queries (repeated paths, slow
// misses and hits, failing calls, inputs too large to key) and mutations (own scope, other users, tags, paths,
// everything, failing ones) over each link, against a real server. After every mutation each QueryClient's
// invalidated queries must be exactly those a reference model computes from what the server moved for the caller;
// and when a mutation's promise resolves, everything it moved is already invalidated.
import { QueryClient } from '@tanstack/query-core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINKS, type LinkKind, OWNERS, serveModel } from './model-app.js';

type Query =
  | { kind: 'byId'; id: number; delay?: number; fail?: boolean; pad?: boolean }
  | { kind: 'list' }
  | { kind: 'counter' }
  | { kind: 'feed' }
  | { kind: 'plain'; n?: number };
type Mutation = { kind: 'rename'; id: number; title: string } | { kind: 'touch' | 'publish' | 'bump' | 'everything' };
type Step = { client: number; queries: Query[] } | { client: number; mutations: Mutation[] };

const USERS = ['alice', 'bob', 'carol'] as const;
const PAD = 'x'.repeat(300);

const query: fc.Arbitrary<Query> = fc.oneof(
  fc.record(
    {
      kind: fc.constant('byId' as const),
      id: fc.constantFrom(1, 2, 3, 4, 999),
      delay: fc.constantFrom(0, 30),
      fail: fc.boolean(),
      pad: fc.boolean(),
    },
    { requiredKeys: ['kind', 'id'] },
  ),
  fc.constant({ kind: 'list' as const }),
  fc.constant({ kind: 'counter' as const }),
  fc.constant({ kind: 'feed' as const }),
  fc.record({ kind: fc.constant('plain' as const), n: fc.constantFrom(0, 1) }, { requiredKeys: ['kind'] }),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('rename' as const), id: fc.constantFrom(1, 2, 3, 4, 999), title: fc.constantFrom('', 'new') }),
  fc.constantFrom<Mutation>({ kind: 'touch' }, { kind: 'publish' }, { kind: 'bump' }, { kind: 'everything' }),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ client: fc.nat(2), queries: fc.array(query, { minLength: 1, maxLength: 5 }) }),
  fc.record({ client: fc.nat(2), mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }) }),
);

/** The call a query makes: its path and input. */
function callOf(q: Query): { path: string; input: unknown } {
  if (q.kind === 'byId') {
    const input: Record<string, unknown> = { id: q.id };
    if (q.delay !== undefined) input.delay = q.delay;
    if (q.fail !== undefined) input.fail = q.fail;
    if (q.pad === true) input.pad = PAD;
    return { path: 'item.byId', input };
  }
  if (q.kind === 'list') return { path: 'item.list', input: undefined };
  if (q.kind === 'counter') return { path: 'counter.value', input: undefined };
  if (q.kind === 'feed') return { path: 'feed', input: undefined };
  return { path: 'plain', input: q.n === undefined ? undefined : { n: q.n } };
}

const fails = (q: Query) => q.kind === 'byId' && (q.fail === true || !(q.id in OWNERS));

/** What a query's result depends on, as the model knows it from the app's rules. */
type Deps = { scope: 'user' | 'public'; tags: string[] | undefined } | 'uncached' | 'unknown';

function depsOf(q: Query, link: LinkKind): Deps {
  // Streamed and WebSocket responses carry no per-call description: the protocol says "unknown".
  if (link !== 'httpLink' && link !== 'httpBatchLink') return 'unknown';
  if (q.kind === 'byId') return { scope: 'user', tags: q.pad === true ? undefined : [`item:${q.id}`] };
  if (q.kind === 'list') return { scope: 'user', tags: ['items'] };
  if (q.kind === 'counter') return { scope: 'user', tags: [] };
  if (q.kind === 'feed') return { scope: 'public', tags: ['feed'] };
  return 'uncached';
}

interface Move {
  all: boolean;
  self: boolean;
  paths: string[];
  tags: string[];
}

/** What a mutation moved, as its caller learns it; undefined when it moved nothing. */
function moveOf(m: Mutation, user: string, link: LinkKind): Move | undefined {
  // A mutation whose response carries no per-call description moved everything, as far as its caller knows.
  if (link === 'httpBatchStreamLink' || link === 'wsLink') return { all: true, self: false, paths: [], tags: [] };
  const none: Move = { all: false, self: false, paths: [], tags: [] };
  if (m.kind === 'rename') {
    if (m.title === '' || !(m.id in OWNERS)) return undefined;
    return { ...none, self: OWNERS[m.id] === user, tags: [`item:${m.id}`, 'items'] };
  }
  if (m.kind === 'touch') return { ...none, self: true };
  if (m.kind === 'publish') return { ...none, tags: ['feed'] };
  if (m.kind === 'bump') return { ...none, paths: ['counter'] };
  return { ...none, all: true };
}

function affects(move: Move, path: string, deps: Deps): boolean {
  if (move.all) return true;
  if (move.paths.some((moved) => path === moved || path.startsWith(`${moved}.`))) return true;
  if (!move.self && move.tags.length === 0) return false;
  if (deps === 'unknown') return true;
  if (deps === 'uncached') return false;
  if (move.self && deps.scope === 'user') return true;
  const tags = deps.tags;
  return tags === undefined ? move.tags.length > 0 : move.tags.some((tag) => tags.includes(tag));
}

const keyOf = (path: string, input: unknown) => [path.split('.'), input === undefined ? { type: 'query' } : { input, type: 'query' }];
const hashOf = (path: string, input: unknown) => JSON.stringify(keyOf(path, input));

/** The successful queries a QueryClient holds that are invalidated, by key hash. */
function invalidatedIn(queryClient: QueryClient): string[] {
  return queryClient
    .getQueryCache()
    .getAll()
    .filter((q) => q.state.status === 'success' && q.state.isInvalidated)
    .map((q) => JSON.stringify(q.queryKey))
    .sort();
}

let server: Awaited<ReturnType<typeof serveModel>>;
beforeAll(async () => {
  server = await serveModel();
});
afterAll(async () => {
  await server?.close();
});

async function run(link: LinkKind, steps: Step[]): Promise<void> {
  const queryClients = USERS.map(
    () => new QueryClient({ defaultOptions: { queries: { retry: false, gcTime: Number.POSITIVE_INFINITY } } }),
  );
  const clients = USERS.map((user, i) => server.clientFor(user, link, queryClients[i] as QueryClient));
  // The model: per client, what each successfully fetched query depends on, and which are invalidated.
  const held = USERS.map(() => new Map<string, { path: string; deps: Deps }>());
  const invalid = USERS.map(() => new Set<string>());
  try {
    for (const s of steps) {
      const c = s.client;
      const queryClient = queryClients[c] as QueryClient;
      const client = clients[c] as (typeof clients)[number];
      const user = USERS[c] as string;
      if ('queries' in s) {
        await Promise.allSettled(
          s.queries.map((q) => {
            const { path, input } = callOf(q);
            return queryClient.fetchQuery({
              queryKey: keyOf(path, input),
              queryFn: () => client.query(path, input),
            });
          }),
        );
        for (const q of s.queries) {
          if (fails(q)) continue;
          const { path, input } = callOf(q);
          held[c]?.set(hashOf(path, input), { path, deps: depsOf(q, link) });
          invalid[c]?.delete(hashOf(path, input));
        }
        continue;
      }
      const lateness: string[] = [];
      await Promise.allSettled(
        s.mutations.map((m) => {
          const input = m.kind === 'rename' ? { id: m.id, title: m.title } : undefined;
          const settle = () => {
            // When its promise settles, everything this mutation moved is invalidated already.
            const move = moveOf(m, user, link);
            const now = new Set(invalidatedIn(queryClient));
            for (const [hash, query] of held[c] ?? []) {
              if (move !== undefined && affects(move, query.path, query.deps) && !now.has(hash)) lateness.push(`${m.kind}: ${hash}`);
            }
          };
          return client.mutation(m.kind === 'rename' ? 'item.rename' : m.kind, input).then(settle, settle);
        }),
      );
      expect(lateness, 'queries not yet invalidated when their mutation settled').toEqual([]);
      for (const m of s.mutations) {
        const move = moveOf(m, user, link);
        if (move === undefined) continue;
        for (const [hash, query] of held[c] ?? []) if (affects(move, query.path, query.deps)) invalid[c]?.add(hash);
      }
      USERS.forEach((_, i) => {
        expect(invalidatedIn(queryClients[i] as QueryClient), `invalidated queries of ${USERS[i]}`).toEqual([...(invalid[i] ?? [])].sort());
      });
    }
  } finally {
    server.closeClients();
    for (const queryClient of queryClients) queryClient.clear();
  }
}

describe.each(LINKS)('invalidationLink over %s', (link) => {
  it("invalidates exactly what each mutation moved for its caller, before the mutation's promise settles", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), (steps) => run(link, steps)),
      { numRuns: 20, verbose: true },
    );
  }, 60_000);
});
