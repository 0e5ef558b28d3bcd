// The example's web page: alice's and bob's panes side by side, each with its own TanStack Query cache and tRPC
// client. invalidationLink keeps each cache in step with the server: a pane's own mutation invalidates what its
// response says moved, and the live stream (SSE) brings the other pane's moves. Bundled by esbuild when the
// example app serves /app.
import { QueryClient, QueryClientProvider, useMutation, useQuery } from '@tanstack/react-query';
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import { type FormEvent, useState, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import { type InvalidationEvent, invalidationLink } from 'trpc-caching/client';
import type { AppRouter } from '../src/router.js';

/** Alice's note 1, shared with bob (see the seed data). */
const SHARED_NOTE = 1;
const LIST = { page: 1, pageSize: 5 };
const FEED = { page: 1, pageSize: 3 };

/** The last `X-Cache` of each query of a pane, by path and input, for the badges. */
class CacheStatuses {
  private readonly statuses = new Map<string, string>();
  private readonly listeners = new Set<() => void>();

  set(path: string, input: unknown, status: string): void {
    this.statuses.set(`${path} ${JSON.stringify(input ?? null)}`, status);
    for (const listener of this.listeners) listener();
  }

  get(path: string, input: unknown): string {
    return this.statuses.get(`${path} ${JSON.stringify(input ?? null)}`) ?? '…';
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
}

/** A link that notes the `X-Cache` of each query's response (one call per request: the page uses httpLink). */
function cacheStatusLink(statuses: CacheStatuses): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) =>
        next(op).subscribe({
          next(envelope) {
            const response = (envelope.context as { response?: Response } | undefined)?.response;
            const status = response?.headers.get('x-cache');
            if (op.type === 'query' && status) statuses.set(op.path, op.input, status);
            observer.next(envelope);
          },
          error: (error) => observer.error(error),
          complete: () => observer.complete(),
        }),
      );
}

/** One user's pane: its cache, its client (with the live stream), what it was told was invalidated. */
function createPane(user: string, token: string) {
  const queryClient = new QueryClient({
    // Never stale by time and no refetch on focus: every refetch on this page is an invalidation's.
    defaultOptions: { queries: { staleTime: Number.POSITIVE_INFINITY, refetchOnWindowFocus: false, retry: false } },
  });
  const statuses = new CacheStatuses();
  const log: string[] = [];
  const logListeners = new Set<() => void>();
  let live = false;
  const tell = () => {
    for (const listener of logListeners) listener();
  };
  const onInvalidate = (event: InvalidationEvent) => {
    const what = event.all ? ['everything'] : [...(event.self ? ['own scope'] : []), ...event.paths.map((p) => `path ${p}`), ...event.tags];
    log.unshift(`${event.source === 'live' ? 'live    ' : 'response'}  ${what.join(', ')}`);
    tell();
  };
  const client = createTRPCClient<AppRouter>({
    links: [
      invalidationLink({
        queryClient,
        onInvalidate,
        live: (handlers) => {
          client.invalidations.subscribe(undefined, {
            ...handlers,
            onData(value) {
              // The first event of a connection is `ready`: from then on, moves made by others reach this pane.
              if (!live) {
                live = true;
                tell();
              }
              handlers.onData(value);
            },
            onError(error) {
              live = false;
              tell();
              handlers.onError(error);
            },
          });
        },
      }),
      cacheStatusLink(statuses),
      splitLink({
        condition: (op) => op.type === 'subscription',
        // A browser's EventSource cannot send Authorization: the stream passes the token as a connection parameter.
        true: httpSubscriptionLink({ url: '/trpc', connectionParams: { token } }),
        false: httpLink({ url: '/trpc', headers: { authorization: `Bearer ${token}` } }),
      }),
    ],
  });
  const trpc = createTRPCOptionsProxy<AppRouter>({ client, queryClient });
  return {
    user,
    queryClient,
    trpc,
    statuses,
    live: () => live,
    log: {
      read: () => log.slice(0, 8).join('\n'),
      subscribe: (listener: () => void) => {
        logListeners.add(listener);
        return () => logListeners.delete(listener);
      },
    },
  };
}

type Pane = ReturnType<typeof createPane>;

function Status({ pane, path, input }: { pane: Pane; path: string; input?: unknown }) {
  const status = useSyncExternalStore(pane.statuses.subscribe, () => pane.statuses.get(path, input));
  return (
    <span className={`status ${status}`} data-status={path}>
      {status}
    </span>
  );
}

/** A list query's section: its heading with the query's cache status, then the titles of its items. */
function ListSection(props: {
  pane: Pane;
  path: string;
  input: unknown;
  heading: string;
  items: ReadonlyArray<{ id: number; title: string }> | undefined;
}) {
  return (
    <section data-query={props.path}>
      <h3>
        {props.heading} <Status pane={props.pane} path={props.path} input={props.input} />
      </h3>
      <ul>
        {props.items?.map((item) => (
          <li key={item.id}>{item.title}</li>
        ))}
      </ul>
    </section>
  );
}

function PaneView({ pane }: { pane: Pane }) {
  const { trpc } = pane;
  const me = useQuery(trpc.users.me.queryOptions());
  const note = useQuery(trpc.notes.byId.queryOptions({ id: SHARED_NOTE }));
  const list = useQuery(trpc.notes.list.queryOptions(LIST));
  const feed = useQuery(trpc.feed.list.queryOptions(FEED));
  const update = useMutation(trpc.notes.update.mutationOptions());
  const [title, setTitle] = useState('');
  const log = useSyncExternalStore(pane.log.subscribe, pane.log.read);
  const live = useSyncExternalStore(pane.log.subscribe, pane.live);
  const save = (event: FormEvent) => {
    event.preventDefault();
    if (title.trim() !== '') update.mutate({ id: SHARED_NOTE, title: title.trim() });
  };
  return (
    <div className="pane" data-pane={pane.user} data-live={live ? 'ready' : 'connecting'}>
      <h2>
        {me.data?.name ?? pane.user} <Status pane={pane} path="users.me" /> <span className="live">{live ? '● live' : '○ connecting'}</span>
      </h2>
      <section data-query="notes.byId">
        <h3>
          Shared note {SHARED_NOTE} <Status pane={pane} path="notes.byId" input={{ id: SHARED_NOTE }} />
        </h3>
        <div className="title">{note.data?.title ?? (note.error ? 'not visible' : '…')}</div>
        <form onSubmit={save}>
          <input aria-label={`New title (${pane.user})`} value={title} onChange={(event) => setTitle(event.target.value)} />
          <button type="submit" disabled={update.isPending}>
            Save
          </button>
        </form>
      </section>
      <ListSection pane={pane} path="notes.list" input={LIST} heading="Notes (newest first)" items={list.data?.items} />
      <ListSection pane={pane} path="feed.list" input={FEED} heading="Public feed" items={feed.data?.items} />
      <section>
        <h3>Invalidations</h3>
        <pre className="log">{log || '(none yet)'}</pre>
      </section>
    </div>
  );
}

const panes = [createPane('alice', 'alice-token'), createPane('bob', 'bob-token')];

function App() {
  return (
    <div className="panes">
      {panes.map((pane) => (
        <QueryClientProvider client={pane.queryClient} key={pane.user}>
          <PaneView pane={pane} />
        </QueryClientProvider>
      ))}
    </div>
  );
}

const root = document.getElementById('root');
if (root !== null) {
  createRoot(root).render(<App />);
}
