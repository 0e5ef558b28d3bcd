/**
 * What the adversity driver and its worker processes say to each other over
 * Node's IPC channel. Types only: both sides import it, neither imports the other.
 */

/** Options a worker passes to `createCaching`, on top of the ones the app sets itself. */
export interface WorkerCachingOptions {
  readonly ttl?: number;
  readonly versionTtl?: number;
  readonly timeout?: number;
  readonly breakerThreshold?: number;
  readonly breakerCooldown?: number;
  readonly retryDelay?: number;
  /** How long a mutation waits for its version moves (an option of the fixed engine; ignored before it). */
  readonly invalidationTimeout?: number;
  /** Pending version keys above which a process moves the global version instead (fixed engine; ignored before it). */
  readonly maxPendingInvalidations?: number;
  /** createCaching's consistency auditor. */
  readonly audit?: {
    readonly sampleRate?: number;
    readonly window?: number;
    readonly maxConcurrent?: number;
    readonly maxLag?: number;
  };
}

/**
 * How a worker reaches the cache's Redis: `raw` is README's recommended form (a raw-string
 * store over a client that fails fast while disconnected); `plain` is `new Keyv(new KeyvRedis(url))`,
 * whose values carry an absolute `expires` taken from the writer's clock; `near` is `createRedisStore({ url,
 * nearCache: { maxStaleness: 250 } })`, whose hits come from this process's memory.
 */
export type StoreForm = 'raw' | 'plain' | 'near';

/**
 * One query. Every answer names the database slot it was computed from, so the
 * driver can tell data from before a mutation (a lower counter) and another
 * user's data (a slot of someone else).
 *
 * - `note`: `note.get({ id })` in the caller's own scope, slot `note:{user}:{id}`.
 * - `board`: `board.get({ owner, id })` in public scope, tagged `note-{owner}-{id}`, slot `note:{owner}:{id}`.
 * - `page`: `list.page({ page })` in the caller's own scope, slot `rev:{user}` (every bump of the user moves it).
 */
export type ReadSpec =
  | { readonly kind: 'note'; readonly user: string; readonly id: number }
  | { readonly kind: 'board'; readonly user: string; readonly owner: string; readonly id: number }
  | { readonly kind: 'page'; readonly user: string; readonly page: number };

/** A query's answer as the worker saw it. */
export interface ReadReply {
  /** The slot the answer was computed from. */
  readonly slot: string;
  /** The slot's counter when the answer was computed. */
  readonly value: number;
  /** True when this call's own resolver did not run: served from the cache (or shared with an identical concurrent miss). */
  readonly cached: boolean;
}

/** A mutation's answer: the counters of the slots it bumped, as they are after it. */
export interface MutateReply {
  readonly writes: ReadonlyArray<{ readonly slot: string; readonly value: number }>;
  /** How long the mutation took in the worker, in ms (its version moves included). */
  readonly ms: number;
}

/** Event-loop delay over a window, in ms (from `perf_hooks.monitorEventLoopDelay`). */
export interface LoopDelay {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Samples taken. */
  readonly count: number;
  /**
   * The longest stretch of CPU time the event loop's thread spent without letting a 5 ms timer run: the part of
   * a stall the process caused itself (waiting for a core on a loaded machine does not count).
   */
  readonly busy: number;
}

/** A worker's view of its cache. */
export interface WorkerStatus {
  readonly pending: number;
  /** `onError` reports so far, by operation (`read`, `write`, `invalidate`, ...). */
  readonly errors: Readonly<Record<string, number>>;
  /** The first few distinct messages reported, to say what went on when a test fails. */
  readonly messages: readonly string[];
  /** The auditor's totals (`caching.stats().audit` without its per-path rows). */
  readonly audit: { readonly checks: number; readonly discarded: number; readonly divergences: number; readonly skipped: number };
  /** The first few divergences' paths and named mutations, to say what went on when a test fails. */
  readonly divergences: readonly string[];
}

/** Every command a worker takes, with its arguments and its reply. */
export interface Commands {
  /** Replaces the worker's caching instance and store connection by fresh ones (state of the old one is dropped). */
  configure: { args: { store: StoreForm; options: WorkerCachingOptions }; reply: null };
  read: { args: ReadSpec; reply: ReadReply };
  /** `note.bump({ id })` as `user`: bumps `note:{user}:{id}` and `rev:{user}`, invalidates the user's scope and tag `note-{user}-{id}`. */
  mutate: { args: { user: string; id: number }; reply: MutateReply };
  /**
   * Starts `reads`, lets them reach the store (one macrotask), then blocks the event loop for `ms`
   * (a busy loop, as a GC pause or a CPU-heavy request would), then waits for the reads.
   */
  stall: { args: { ms: number; reads: readonly ReadSpec[] }; reply: { replies: ReadReply[] } };
  /** `caching.invalidate({ tags })` for `count` distinct tags `{prefix}{n}`, `perCall` tags a call, `concurrency` calls at once. */
  invalidateTags: {
    args: { prefix: string; count: number; perCall: number; concurrency: number };
    reply: { calls: number; unwritten: number; ms: number };
  };
  status: { args: null; reply: WorkerStatus };
  /**
   * Writes `count` keys `{prefix}{n}` with fresh tokens to the cache store in one `setMany`, built in one
   * synchronous pass: what writing a backlog of `count` version moves at once costs this process.
   */
  writeAtOnce: { args: { prefix: string; count: number }; reply: null };
  /** Starts a fresh event-loop delay histogram. */
  loopDelayStart: { args: null; reply: null };
  /** Stops the histogram and says what it saw since the start. */
  loopDelayStop: { args: null; reply: LoopDelay };
}

export type CommandName = keyof Commands;

/** Driver → worker. */
export interface Request<K extends CommandName = CommandName> {
  readonly seq: number;
  readonly cmd: K;
  readonly args: Commands[K]['args'];
}

/** Worker → driver: an answer to a request, or the first message saying the worker is ready. */
export type Response =
  | { readonly kind: 'ready' }
  | { readonly kind: 'reply'; readonly seq: number; readonly ok: true; readonly value: unknown }
  | { readonly kind: 'reply'; readonly seq: number; readonly ok: false; readonly error: string };

/** Environment variables a worker reads at start. */
export const ENV = {
  cacheUrl: 'ADVERSITY_CACHE_URL',
  dbUrl: 'ADVERSITY_DB_URL',
  clockSkewMs: 'ADVERSITY_CLOCK_SKEW_MS',
} as const;
