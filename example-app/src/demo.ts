// `npm run demo`: a typed tRPC client (and plain fetch on REST) showing a MISS, a HIT, a mutation and the
// invalidated read, with the response headers. Starts the app in-process, or talks to DEMO_URL when set.
import { createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from './router.js';
import { type RunningApp, start } from './server.js';

interface Seen {
  status: number;
  headers: Headers;
  ms: number;
}

let last: Seen | undefined;

/** Fetch that remembers the status, headers and time of the last response, for the report lines. */
async function timedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const started = performance.now();
  const response = await fetch(input, init);
  // The body is read by the caller; the time to headers is what the cache changes.
  last = { status: response.status, headers: response.headers, ms: performance.now() - started };
  return response;
}

function client(baseUrl: string, token: string | null) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${baseUrl}/trpc`,
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
        fetch: (input, init) => timedFetch(input, init as RequestInit),
      }),
    ],
  });
}

let stepNo = 0;

function report(who: string, what: string, seen: Seen | undefined, detail: string): void {
  stepNo++;
  const header = (name: string) => seen?.headers.get(name) ?? '-';
  console.log(
    `${String(stepNo).padStart(2)}. ${who.padEnd(6)} ${what.padEnd(42)} ${seen?.status ?? '?'}  X-Cache: ${header('x-cache').padEnd(4)}  ` +
      `Cache-Control: ${header('cache-control').padEnd(19)}  ETag: ${header('etag').slice(0, 11)}${header('etag').length > 11 ? '…"' : ''}  ` +
      `${(seen?.ms ?? 0).toFixed(1).padStart(5)} ms`,
  );
  if (detail) console.log(`    ${detail}`);
}

async function main(): Promise<void> {
  const demoUrl = process.env.DEMO_URL || undefined;
  const app: RunningApp | undefined = demoUrl === undefined ? await start({ port: 0 }) : undefined;
  const baseUrl = demoUrl ?? app?.url ?? '';
  console.log(`trpc-caching demo against ${baseUrl}${app ? ` (started in-process, cache store: ${app.store})` : ''}\n`);
  try {
    const alice = client(baseUrl, 'alice-token');
    const bob = client(baseUrl, 'bob-token');
    const anonymous = client(baseUrl, null);
    // Warm up (not shown): the first request of a process pays for connection setup and JIT, not for the cache.
    const carol = client(baseUrl, 'carol-token');
    for (let i = 0; i < 3; i++) await carol.users.me.query();

    console.log("tRPC, per user: note 1 is alice's, shared with bob");
    let note = await alice.notes.byId.query({ id: 1 });
    report('alice', 'notes.byId({ id: 1 })', last, `title: ${JSON.stringify(note.title)} (the resolver ran: a MISS)`);
    note = await alice.notes.byId.query({ id: 1 });
    report('alice', 'notes.byId({ id: 1 })', last, 'same call again: served from the cache');
    note = await bob.notes.byId.query({ id: 1 });
    report('bob', 'notes.byId({ id: 1 })', last, "bob's own entry: never alice's");
    note = await bob.notes.byId.query({ id: 1 });
    report('bob', 'notes.byId({ id: 1 })', last, '');

    console.log('\nA mutation by bob invalidates both participants (meta.invalidate.users) and the note:1 tag');
    const updated = await bob.notes.update.mutate({ id: 1, title: 'Edited by bob' });
    report('bob', "notes.update({ id: 1, title: 'Edited…' })", last, `title is now ${JSON.stringify(updated.title)}`);
    note = await alice.notes.byId.query({ id: 1 });
    report('alice', 'notes.byId({ id: 1 })', last, `title: ${JSON.stringify(note.title)} (invalidated: read again)`);
    note = await alice.notes.byId.query({ id: 1 });
    report('alice', 'notes.byId({ id: 1 })', last, '');

    console.log('\nPublic scope: one entry for everyone');
    const feed = await anonymous.feed.list.query({});
    report('anon', 'feed.list({})', last, `${feed.total} published notes, page 1 of ${Math.ceil(feed.total / feed.pageSize)}`);
    await alice.feed.list.query({});
    report('alice', 'feed.list({})', last, 'the entry the anonymous call stored');

    console.log('\nREST (trpc-to-openapi) on the same cache, with ETag and 304');
    const auth = { authorization: 'Bearer alice-token' };
    let response = await timedFetch(`${baseUrl}/api/notes?pageSize=5`, { headers: auth });
    const page = (await response.json()) as { total: number };
    report('alice', 'GET /api/notes?pageSize=5', last, `${page.total} notes visible to alice`);
    const etag = response.headers.get('etag') ?? '';
    response = await timedFetch(`${baseUrl}/api/notes?pageSize=5`, { headers: { ...auth, 'if-none-match': etag } });
    report('alice', 'GET /api/notes?pageSize=5 If-None-Match', last, `${(await response.text()).length} bytes of body`);
    const created = await alice.notes.create.mutate({ title: 'A new note' });
    report('alice', "notes.create({ title: 'A new note' })", last, `note ${created.id} (tRPC mutation)`);
    response = await timedFetch(`${baseUrl}/api/notes?pageSize=5`, { headers: { ...auth, 'if-none-match': etag } });
    const after = (await response.json()) as { total: number };
    report('alice', 'GET /api/notes?pageSize=5 If-None-Match', last, `${after.total} notes: the old ETag no longer matches`);
  } finally {
    await app?.close();
  }
}

await main();
