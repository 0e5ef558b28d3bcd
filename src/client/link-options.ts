// The shapes `invalidationLink` speaks in: its options and what it hands to your callbacks. Kept apart so that
// link.ts holds only what the link does; types only, so nothing of this file reaches a browser bundle.

/**
 * A TanStack Query query, as far as the link reads it.
 *
 * @example
 * ```ts
 * const query: QueryLike = { queryKey: [['post', 'byId'], { input: { id: 1 }, type: 'query' }] };
 * ```
 */
export interface QueryLike {
  readonly queryKey: readonly unknown[];
}

/**
 * The part of TanStack Query's `QueryClient` the link uses (any v5 `QueryClient` fits).
 *
 * @example
 * ```ts
 * const queryClient: QueryClientLike = new QueryClient();
 * ```
 */
export interface QueryClientLike {
  invalidateQueries(filters: { predicate: (query: QueryLike) => boolean }): Promise<unknown>;
  getQueryCache(): { subscribe(listener: (event: { type: string; query: QueryLike }) => void): () => void };
}

/**
 * What the link was told was invalidated, as `onInvalidate` gets it.
 *
 * @example
 * ```ts
 * onInvalidate: (event) => { for (const key of swrKeys()) if (event.affects(key.path, key.input)) mutate(key); }
 * ```
 */
export interface InvalidationEvent {
  /** `response`: the response of this client's own mutation said it; `live`: the live stream did. */
  readonly source: 'response' | 'live';
  /** The mutation, when its response told it. */
  readonly path?: string | undefined;
  /** The move's id (the same in a response and on the stream: the link applies a move once). */
  readonly id?: string | undefined;
  /** Everything this client holds. */
  readonly all: boolean;
  /** Every result cached for this client's own user (or for anonymous callers, when it is anonymous). */
  readonly self: boolean;
  /** Procedure paths or router prefixes (`notes` covers `notes.list`). */
  readonly paths: readonly string[];
  /** Tags: the results whose responses carried one of them. */
  readonly tags: readonly string[];
  /** Set when the live stream told the client to drop everything: `resume` (a reconnect it could not replay), `overflow`, `bus`, or `resubscribe` (the link subscribed anew). */
  readonly reset?: 'resume' | 'overflow' | 'bus' | 'resubscribe' | undefined;
  /**
   * Whether the result of a call of `path` with `input` that this client holds is reached, from what that call's
   * response said it depends on (a call it never saw a response of counts as depending on anything).
   */
  affects(path: string, input?: unknown): boolean;
}

/**
 * What the link passes to your live subscription: exactly the shape of a tRPC client's
 * `client.invalidations.subscribe(undefined, handlers)` options, `signal` included (the link aborts it to stop).
 *
 * @example
 * ```ts
 * const live = (handlers: LiveHandlers) => {
 *   client.invalidations.subscribe(undefined, handlers);
 * };
 * ```
 */
export interface LiveHandlers {
  onData(value: unknown): void;
  onError(error: unknown): void;
  onComplete(): void;
  readonly signal: AbortSignal;
}

/**
 * Options of `invalidationLink`.
 *
 * @example
 * ```ts
 * const options: InvalidationLinkOptions = { queryClient, onInvalidate: (event) => console.log(event.tags) };
 * ```
 */
export interface InvalidationLinkOptions {
  /**
   * A TanStack Query `QueryClient` whose tRPC queries the link invalidates (and so refetches when active):
   * keys of `@trpc/tanstack-react-query` and of `@trpc/react-query`.
   * @default none: only `onInvalidate` is called
   */
  queryClient?: QueryClientLike;
  /**
   * The `keyPrefix` of `@trpc/tanstack-react-query` when its feature flag is on: only queries under it are this
   * link's. Without it, only unprefixed tRPC keys are.
   * @default none
   */
  keyPrefix?: string;
  /**
   * Called for every invalidation the link applies, after the queryClient's: for client caches other than
   * TanStack Query (SWR, a store of your own, a service worker). `event.affects(path, input)` tells which of
   * your entries are reached.
   * @default none
   */
  onInvalidate?: (event: InvalidationEvent) => void;
  /**
   * Subscribes to the server's live stream (`caching.invalidationStream`), so that moves made by others reach
   * this client too: pass `handlers` (with their `signal`) to your client's subscribe. Called once, after the
   * client is created, and again after the subscription ended (1 s, doubling up to 30 s); a new subscription
   * invalidates everything, as events may have been missed. Write it with a block body, as in the example:
   * TypeScript cannot infer a client's type from a callback that returns a value of that very client.
   * @default none: only this client's own mutations invalidate
   * @example
   * ```ts
   * live: (handlers) => {
   *   client.invalidations.subscribe(undefined, handlers);
   * },
   * ```
   */
  live?: (handlers: LiveHandlers) => unknown;
  /**
   * Stops the live subscription for good when aborted (a page or component going away).
   * @default none
   */
  signal?: AbortSignal;
}
