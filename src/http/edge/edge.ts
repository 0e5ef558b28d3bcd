import type { PurgeEvent } from '../../engine/events.js';
import type { MoveTerms } from '../../engine/move.js';
import type { MoveSink, MoveSinkHooks } from '../../engine/sinks.js';
import { CachingError } from '../../errors.js';
import { allKey, purgeKeysOf, type SurrogateHeader } from './keys.js';
import { PurgeRefused, type Purger } from './purger.js';

/**
 * Options of {@link createEdge}.
 *
 * @example
 * ```ts
 * const options: EdgeOptions = { purger: varnishPurger({ url: 'http://127.0.0.1:6081/' }), header: 'xkey', namespace: 'blog:' };
 * ```
 */
export interface EdgeOptions {
  /** Sends a purge of surrogate keys: `varnishPurger`, `fastlyPurger`, `cloudflarePurger`, or your own function. */
  readonly purger: Purger;
  /**
   * The response header the edge reads keys from: `Surrogate-Key` (Fastly), `Cache-Tag` (Cloudflare), `xkey` (Varnish).
   * @default 'Surrogate-Key'
   */
  readonly header?: SurrogateHeader;
  /**
   * Put before every key, so that apps sharing one edge purge only their own (`all` becomes `blog:all`). Visible
   * ASCII without commas (createEdge throws otherwise): it goes into a header as it is.
   * @default ''
   */
  readonly namespace?: string;
  /**
   * How long a mutation waits for its purge before returning, in ms; the purge goes on and is retried if it fails.
   * @default createCaching's `invalidationTimeout` (1000)
   */
  readonly timeout?: number;
  /**
   * `false`: a mutation returns without waiting for its purge. Faster, but another client (and the caller itself,
   * through the edge) may read the edge's old copy until the purge lands (docs/edge.md).
   * @default true
   */
  readonly await?: boolean;
  /**
   * Purge the same keys once more this long after a move, in ms. An answer computed across a move never reaches the
   * edge (it goes out `no-store`), but one read at the API just before the move's version write can still be stored
   * at the edge after the first purge, when its hop to the edge is slower than that write plus the purge; the repeat
   * removes it. Repeats within the window go out as one request. `0` turns it off (half the purge requests; that
   * narrow race then lasts up to `s-maxage`).
   * @default 1000
   */
  readonly settle?: number;
  /**
   * First delay before retrying a failed purge, in ms; it doubles up to `retryMax` (a `Retry-After` is honoured).
   * @default 100
   */
  readonly retryDelay?: number;
  /** @default 10000 */
  readonly retryMax?: number;
  /**
   * Most keys kept for a retry; above it they collapse into one purge of everything (`all`): coarse, bounded, correct.
   * @default 1000
   */
  readonly maxPending?: number;
  /**
   * Longest one purge request may take, in ms, before it counts as failed and its keys are kept for a retry. A purger
   * that never answers (a black-holed purge API, a `fetch` without a timeout) would otherwise be neither delivered
   * nor retried, and the edge would keep its copy until `s-maxage` runs out. The request itself is not cancelled: if
   * it lands later, the retry purges once more, which is harmless.
   * @default 10000
   */
  readonly attemptTimeout?: number;
}

/**
 * An edge in front of the API: what createCaching's `edge` purges, and what `cacheResponseMeta({ edge })` names
 * surrogate keys for. One object for both, so that the header and the purges use the same keys.
 *
 * @example
 * ```ts
 * const edge: Edge = createEdge({ header: 'xkey', purger: varnishPurger({ url: 'http://127.0.0.1:6081/' }) });
 * edge.header; // 'xkey'
 * ```
 */
export interface Edge extends MoveSink {
  readonly header: SurrogateHeader;
  readonly namespace: string;
}

/**
 * An edge to purge before a mutation returns. Give it to `createCaching({ edge })` and to
 * `cacheResponseMeta({ edge })`: public responses then carry surrogate keys (path, router prefixes, tags, `all`),
 * and every move that reaches public paths, tags or `all` purges the matching keys through `purger` once its versions
 * are written. A purge that fails or times out is kept and retried with backoff; more than `maxPending` kept keys
 * collapse into one purge of everything. Purges of this process are lost if it exits before they land.
 *
 * @example
 * ```ts
 * const edge = createEdge({ header: 'xkey', purger: varnishPurger({ url: 'http://127.0.0.1:6081/' }) });
 * const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id, edge });
 * const responseMeta = cacheResponseMeta({ edge });
 * ```
 */
export function createEdge(options: EdgeOptions): Edge {
  if (typeof options?.purger !== 'function') throw new TypeError('trpc-caching: createEdge needs a purger, e.g. varnishPurger({ url })');
  const header = options.header ?? 'Surrogate-Key';
  if (header !== 'Surrogate-Key' && header !== 'Cache-Tag' && header !== 'xkey') {
    throw new TypeError(`trpc-caching: createEdge's header must be 'Surrogate-Key', 'Cache-Tag' or 'xkey', got ${String(header)}`);
  }
  const namespace = options.namespace ?? '';
  // Visible ASCII only: a header value cannot carry other characters (tRPC's Headers refuses them), and every public
  // answer would fail with a 500 at its first request instead of here.
  if (!/^[\x21-\x7e]*$/.test(namespace) || namespace.includes(',')) {
    throw new TypeError('trpc-caching: createEdge namespace must be visible ASCII, without white space or commas');
  }
  for (const name of ['timeout', 'settle', 'retryDelay', 'retryMax', 'maxPending', 'attemptTimeout'] as const) {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
      throw new TypeError(`trpc-caching: createEdge's ${name} must be a finite number >= 0, got ${String(value)}`);
    }
  }
  return new EdgePurges(options, header, namespace);
}

/** The purges of one edge: the first attempt of each move, its settle repeat, and retries of those that failed. */
class EdgePurges implements Edge {
  readonly wait: number | undefined;
  private readonly purger: Purger;
  private readonly settle: number;
  private readonly retryDelay: number;
  private readonly retryMax: number;
  private readonly maxPending: number;
  private readonly attemptTimeout: number;
  private hooks: MoveSinkHooks | undefined;
  /** Keys whose purge failed, waiting for a retry. */
  private readonly failed = new Set<string>();
  private delay: number;
  /** What the edge last asked for (`Retry-After`), in ms: the next retry waits at least this. */
  private retryAfter = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retrying = false;
  /** Keys of the retry on the wire now. */
  private retryingKeys = 0;
  /** Keys to purge again when the settle window ends. */
  private readonly settling = new Set<string>();
  private settleTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    options: EdgeOptions,
    readonly header: SurrogateHeader,
    readonly namespace: string,
  ) {
    this.purger = options.purger;
    this.wait = options.await === false ? 0 : options.timeout;
    this.settle = options.settle ?? 1_000;
    this.retryDelay = Math.max(1, options.retryDelay ?? 100);
    this.retryMax = Math.max(this.retryDelay, options.retryMax ?? 10_000);
    this.maxPending = Math.max(1, options.maxPending ?? 1_000);
    this.attemptTimeout = Math.max(1, options.attemptTimeout ?? 10_000);
    this.delay = this.retryDelay;
  }

  /** Keys kept for a retry, those of a retry on the wire included. */
  get pending(): number {
    return this.failed.size + this.retryingKeys;
  }

  bind(hooks: MoveSinkHooks): void {
    this.hooks = hooks;
  }

  async moved(move: MoveTerms): Promise<void> {
    const keys = purgeKeysOf(move, this.namespace);
    if (keys.length === 0 || this.closed) return;
    if (this.settle > 0) this.settleLater(keys);
    if (!(await this.send(keys, 'first'))) this.keep(keys);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.settleTimer);
  }

  /** One purge request; tells the hooks how it went. Resolves to whether it landed; never rejects. */
  private async send(keys: readonly string[], attempt: PurgeEvent['attempt']): Promise<boolean> {
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const purge = this.purger(keys);
      const bound = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the purge request took longer than ${this.attemptTimeout} ms`)), this.attemptTimeout);
        timer.unref?.();
      });
      await Promise.race([purge, bound]);
      this.hooks?.delivered({ keys: keys.length, ok: true, attempt, durationMs: performance.now() - started });
      return true;
    } catch (cause) {
      this.hooks?.delivered({ keys: keys.length, ok: false, attempt, durationMs: performance.now() - started });
      if (cause instanceof PurgeRefused && cause.retryAfterMs !== undefined) this.retryAfter = cause.retryAfterMs;
      this.hooks?.report(new CachingError('purge', `an edge purge of ${keys.length} key(s) failed; it is kept and retried`, { cause }));
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Keeps keys for a retry; past `maxPending` they collapse into one purge of everything. */
  private keep(keys: readonly string[]): void {
    if (this.closed) return;
    for (const key of keys) this.failed.add(key);
    if (this.failed.size > this.maxPending) {
      this.failed.clear();
      this.failed.add(allKey(this.namespace));
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.retrying || this.failed.size === 0 || this.closed) return;
    const delay = Math.max(this.delay, this.retryAfter);
    this.retryAfter = 0;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retry();
    }, delay);
    // A process may exit with purges pending (they are lost with it): a retry must not keep it alive.
    this.retryTimer.unref?.();
  }

  private async retry(): Promise<void> {
    this.retrying = true;
    const keys = [...this.failed];
    this.failed.clear();
    this.retryingKeys = keys.length;
    const ok = await this.send(keys, 'retry');
    this.retrying = false;
    this.retryingKeys = 0;
    if (ok) this.delay = this.retryDelay;
    else this.delay = Math.min(this.delay * 2, this.retryMax);
    if (!ok) this.keep(keys);
    else this.scheduleRetry();
  }

  private settleLater(keys: readonly string[]): void {
    for (const key of keys) this.settling.add(key);
    if (this.settleTimer !== undefined) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      const again = [...this.settling];
      this.settling.clear();
      void this.send(again, 'settle').then((ok) => ok || this.keep(again));
    }, this.settle);
    this.settleTimer.unref?.();
  }
}
