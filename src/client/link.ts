import type { Operation, TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { observable } from '@trpc/server/observable';
import { inputDigest, parseSyncHeader, readLiveEvent, SYNC_HEADER, type SyncCall } from '../protocol/index.js';
import { AppliedMoves, DependencyBook, type Move, moveOf } from './dependencies.js';
import type { InvalidationEvent, InvalidationLinkOptions } from './link-options.js';
import { callOfQueryKey } from './query-keys.js';

/** What an HTTP link leaves in a result's context (or an error's `meta`): the fetch response. */
function responseOf(context: unknown): object | undefined {
  const response = (context as { response?: unknown } | undefined)?.response;
  return typeof response === 'object' && response !== null ? response : undefined;
}

/** The fetch response behind a TRPCClientError (its `meta`), if any. */
function errorResponseOf(error: unknown): object | undefined {
  return typeof error === 'object' && error !== null ? responseOf((error as { meta?: unknown }).meta) : undefined;
}

/** A call's entry: what the response said of it, or `unknown` when nothing tells (no header, no entry of its input). */
type Entry = SyncCall | 'unknown';

/** Says a thing on the console once per link: enough to be seen, never a line per request. */
function once(): (message: string) => void {
  let said = false;
  return (message) => {
    if (said) return;
    said = true;
    console.warn(message);
  };
}

function headerOf(response: object, name: string): string | null | undefined {
  const headers = (response as { headers?: { get?: unknown } }).headers;
  return typeof headers?.get === 'function' ? (headers.get(name) as string | null) : undefined;
}

/** The entries of one response, and which of them a call already took. */
interface ResponseCalls {
  readonly calls: readonly (SyncCall | undefined)[];
  readonly taken: boolean[];
}

const RETRY_MIN = 1_000;
const RETRY_MAX = 30_000;

/** Reports an error thrown by a callback without breaking the link: the app sees it as an uncaught error. */
function reportLater(error: unknown): void {
  setTimeout(() => {
    throw error;
  }, 0);
}

/**
 * A tRPC client link that keeps client-side caches in step with the server's invalidations. After a mutation
 * built with `invalidatingMutation` returns, it invalidates exactly the queries the mutation moved: those
 * under a moved path or prefix, those whose responses carried a moved tag, this user's own queries when its
 * scope moved, everything for `all`; nothing else. With `live`, moves made by other users and processes reach
 * it too. Needs the server's `cacheResponseMeta({ sync: true })`; put it before the terminating link.
 *
 * Each call takes its response's entry at its position (found by path and input digest; an errored call takes its
 * own). What the link cannot learn is unknown and handled conservatively: over `httpBatchStreamLink` (headers leave
 * before results) and `wsLink` (no headers), or without the header, a mutation invalidates every query of this
 * client and a query counts as depending on any scope or tag move. Either way the queries a mutation moved are
 * invalidated before its promise settles.
 *
 * @param options - `queryClient`, `onInvalidate`, `live`, `keyPrefix`, `signal`. Default: none.
 * @example
 * ```ts
 * const queryClient = new QueryClient();
 * const client = createTRPCClient<AppRouter>({
 *   links: [
 *     invalidationLink({
 *       queryClient,
 *       live: (handlers) => {
 *         client.invalidations.subscribe(undefined, handlers);
 *       },
 *     }),
 *     splitLink({ condition: (op) => op.type === 'subscription', true: httpSubscriptionLink({ url: '/trpc' }), false: httpBatchLink({ url: '/trpc' }) }),
 *   ],
 * });
 * ```
 */
export function invalidationLink<TRouter extends AnyRouter>(options: InvalidationLinkOptions = {}): TRPCLink<TRouter> {
  const { queryClient, keyPrefix, onInvalidate, live, signal } = options;
  const book = new DependencyBook();
  const applied = new AppliedMoves();
  const responses = new WeakMap<object, ResponseCalls>();

  // A query that leaves the cache takes what its responses said with it.
  const stopForgetting = queryClient?.getQueryCache().subscribe((event) => {
    if (event.type !== 'removed') return;
    const call = callOfQueryKey(event.query.queryKey, keyPrefix);
    if (call !== undefined) book.forget(call.path, call.input);
  });
  signal?.addEventListener('abort', () => stopForgetting?.(), { once: true });

  const apply = (move: Move, facts: Pick<InvalidationEvent, 'source' | 'path' | 'id' | 'reset'>): void => {
    const event: InvalidationEvent = { ...facts, ...move, affects: (path, input) => book.affects(move, path, input) };
    if (queryClient !== undefined) {
      void queryClient
        .invalidateQueries({
          predicate: (query) => {
            const call = callOfQueryKey(query.queryKey, keyPrefix);
            return call !== undefined && book.affects(move, call.path, call.input);
          },
        })
        .catch(reportLater);
    }
    if (onInvalidate !== undefined) {
      try {
        onInvalidate(event);
      } catch (error) {
        reportLater(error);
      }
    }
  };

  const EVERYTHING: Move = { all: true, self: false, paths: [], tags: [] };
  const warnNoHeader = once();
  /**
   * This call's entry of its response's `X-Cache-Sync`: the entry at its position, found as the first not yet
   * taken with its path and input digest (calls of one path and input are interchangeable). `unknown` when the
   * call came without a response (wsLink, localLink), the response has no header of this version, or no entry.
   */
  const entryOf = (op: Operation, response: object | undefined): Entry => {
    if (response === undefined) return 'unknown';
    let known = responses.get(response);
    if (known === undefined) {
      const value = headerOf(response, SYNC_HEADER);
      if (value === null || value === undefined) {
        warnNoHeader(
          `trpc-caching: a response to "${op.path}" has no ${SYNC_HEADER} header, so invalidationLink invalidates every query after each mutation. Serve with cacheResponseMeta({ sync: true }) (and expose the header to cross-origin clients).`,
        );
      }
      const calls = parseSyncHeader(value);
      if (calls === undefined) return 'unknown';
      known = { calls, taken: calls.map(() => false) };
      responses.set(response, known);
    }
    const digest = inputDigest(op.input);
    if (digest === undefined) return 'unknown';
    const at = known.calls.findIndex((call, i) => !known.taken[i] && call?.path === op.path && call.in === digest);
    if (at === -1) return 'unknown';
    known.taken[at] = true;
    return known.calls[at] ?? 'unknown';
  };

  /** Learns what a call's response said: a query's dependencies, or a mutation's move (an errored call's too). */
  const onOutcome = (op: Operation, response: object | undefined, ok: boolean): void => {
    const entry = entryOf(op, response);
    if (op.type === 'query') {
      if (!ok) return;
      if (entry === 'unknown' || 'moved' in entry) book.unknown(op.path, op.input);
      else book.record(op.path, op.input, 'scope' in entry ? { scope: entry.scope, tags: entry.tags && new Set(entry.tags) } : 'uncached');
    } else if (op.type === 'mutation') {
      // A mutation the client learns nothing of may have moved anything (an output that failed validation still
      // ran): everything this client holds goes, before its promise settles.
      if (entry === 'unknown') apply(EVERYTHING, { source: 'response', path: op.path });
      else if ('moved' in entry) {
        const left = applied.remainder(entry.moved.id, moveOf(entry.moved));
        if (left !== undefined) apply(left, { source: 'response', path: op.path, id: entry.moved.id });
      }
    }
  };

  const warnLive = once();
  let subscribed = false;
  const subscribe = (attempt: number): void => {
    if (live === undefined || signal?.aborted) return;
    let ended = false;
    let readySeen = false;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let subscription: unknown;
    const end = () => {
      if (ended) return;
      ended = true;
      signal?.removeEventListener('abort', onAbort);
      stop.abort();
      if (signal?.aborted) return;
      const delay = Math.min(RETRY_MIN * 2 ** attempt, RETRY_MAX);
      setTimeout(() => subscribe(attempt + 1), delay);
    };
    // Whatever the callback returned that can unsubscribe is told to, besides the signal.
    stop.signal.addEventListener('abort', () => (subscription as { unsubscribe?: () => void } | undefined)?.unsubscribe?.(), {
      once: true,
    });
    subscription = live({
      signal: stop.signal,
      onData(value) {
        const event = readLiveEvent(value);
        if (event === undefined) return;
        if (event.type === 'ready') {
          // A new subscription (not a transport reconnect, which resumes by lastEventId) may have missed moves.
          if (!readySeen && attempt > 0) apply(EVERYTHING, { source: 'live', reset: 'resubscribe' });
          readySeen = true;
          attempt = 0;
        } else if (event.type === 'reset') {
          apply(EVERYTHING, { source: 'live', reset: event.reason });
        } else {
          const left = applied.remainder(event.moved.id, moveOf(event.moved));
          if (left !== undefined) apply(left, { source: 'live', id: event.moved.id });
        }
      },
      onError(error) {
        const noEventSource = typeof (globalThis as { EventSource?: unknown }).EventSource === 'undefined';
        warnLive(
          `trpc-caching: the live invalidation stream failed (${error instanceof Error ? error.message : String(error)}); retrying, and until it is back only this client's own mutations invalidate its queries.${
            noEventSource
              ? " This runtime has no EventSource: on Node 20 pass one to httpSubscriptionLink (EventSource from the 'eventsource' package)."
              : ''
          }`,
        );
        end();
      },
      onComplete: end,
    });
    if (stop.signal.aborted) (subscription as { unsubscribe?: () => void } | undefined)?.unsubscribe?.();
  };

  return () => {
    if (live !== undefined && !subscribed) {
      subscribed = true;
      // After the client exists: the `live` callback usually subscribes through that very client.
      queueMicrotask(() => subscribe(0));
    }
    return ({ op, next }) =>
      observable((observer) => {
        if (op.type === 'subscription') return next(op).subscribe(observer);
        const subscription = next(op).subscribe({
          next(envelope) {
            try {
              onOutcome(op, responseOf(envelope.context), true);
            } catch (error) {
              reportLater(error);
            }
            observer.next(envelope);
          },
          error(error) {
            try {
              onOutcome(op, errorResponseOf(error), false);
            } catch (thrown) {
              reportLater(thrown);
            }
            observer.error(error);
          },
          complete: () => observer.complete(),
        });
        return () => subscription.unsubscribe();
      });
  };
}
