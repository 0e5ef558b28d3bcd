import { CachingError } from '../errors.js';
import type { PurgeEvent } from './events.js';
import type { MoveTerms } from './move.js';

/**
 * What a move sink is given once, when its caching instance starts: where it tells what happened to its
 * deliveries (the instance's stats, diagnostics channels and `onError`).
 */
export interface MoveSinkHooks {
  /** One delivery attempt: the first, a retry, or the settle repeat. */
  readonly delivered: (event: PurgeEvent) => void;
  readonly report: (error: CachingError) => void;
}

/**
 * Something outside the cache that must forget what a move invalidated before the mutation returns: a CDN or
 * reverse proxy holding public responses (`createEdge` from `trpc-caching/http` is one). The engine calls
 * `moved` after the move's versions are written (or left pending), and waits for it up to `wait` ms; a sink
 * that cannot deliver in time keeps the move and retries on its own.
 *
 * @example
 * ```ts
 * const sink: MoveSink = { wait: 500, pending: 0, moved: async (move) => void (await fetch(`https://cdn.example/purge?tags=${move.tags.join(',')}`)) };
 * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, edge: sink });
 * ```
 */
export interface MoveSink {
  /**
   * Delivers a move in the terms clients see (scopes as key segments, never user ids). Resolves once delivered,
   * or once given up on for now and kept for a retry. A rejection is reported (operation `purge`), never thrown
   * into the mutation.
   */
  moved(move: MoveTerms): Promise<void>;
  /**
   * How long a mutation waits for `moved`, in ms; `0` does not wait at all.
   * @default createCaching's `invalidationTimeout`
   */
  readonly wait?: number | undefined;
  /** Deliveries kept for a retry now (0 when healthy): read by `caching.stats()`. */
  readonly pending: number;
  /** Called once by createCaching, before any move. */
  bind?(hooks: MoveSinkHooks): void;
  /** Stops retries (createCaching's `close`). */
  close?(): void;
}

/**
 * Hands a move to a sink and waits for it, up to `wait` ms (the sink's own, or `fallbackWait`). Never throws and
 * never waits longer: a sink that is slow or down costs the mutation its bound, not an error.
 */
export async function deliverMove(
  sink: MoveSink,
  move: MoveTerms,
  fallbackWait: number,
  report: (error: CachingError) => void,
): Promise<void> {
  const wait = sink.wait ?? fallbackWait;
  let delivery: Promise<void>;
  try {
    delivery = sink.moved(move).catch((cause: unknown) => {
      report(new CachingError('purge', 'a move sink failed to deliver a move', { cause }));
    });
  } catch (cause) {
    report(new CachingError('purge', 'a move sink threw', { cause }));
    return;
  }
  if (wait <= 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, wait);
  });
  try {
    await Promise.race([delivery, bound]);
  } finally {
    clearTimeout(timer);
  }
}
