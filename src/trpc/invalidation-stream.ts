import { type TRPCSubscriptionProcedure, tracked } from '@trpc/server';
import { CachingConfigError } from '../errors.js';
import type { LiveHub } from '../live/hub.js';
import { describe, positiveInteger } from '../options.js';
import type { LiveEvent } from '../protocol/index.js';
import type { AnyProcedureBuilder } from './internals.js';

/**
 * Options of `caching.invalidationStream(base, options)`.
 *
 * @example
 * ```ts
 * const options: InvalidationStreamOptions = { bufferSize: 64 };
 * ```
 */
export interface InvalidationStreamOptions {
  /**
   * Events one connection may have waiting for a slow client; past it they collapse into one `reset`, after which
   * the client invalidates everything it holds. Bounds the memory a stalled connection costs.
   * @default 256
   */
  bufferSize?: number;
}

/**
 * The input of the stream procedure: nothing, or the id of the last event a reconnecting client got (tRPC's
 * links send it by themselves for tracked events). Ids are opaque to clients; they count only the moves the
 * reader is concerned by, so they say nothing of what other users did.
 *
 * @example
 * ```ts
 * const input: InvalidationStreamInput = { lastEventId: '3f2a9c01b7de.42.0' };
 * ```
 */
export interface InvalidationStreamInput {
  readonly lastEventId?: string | null;
}

/**
 * The subscription procedure `caching.invalidationStream(base)` returns: mount it in your router. Each event is
 * `{ id, data }` with `data` a {@link LiveEvent} (docs/client.md).
 *
 * @example
 * ```ts
 * const appRouter = t.router({ invalidations: caching.invalidationStream(t.procedure) satisfies InvalidationStreamProcedure });
 * ```
 */
export type InvalidationStreamProcedure = TRPCSubscriptionProcedure<{
  input: InvalidationStreamInput | undefined;
  output: AsyncIterable<{ id: string; data: LiveEvent }, void, unknown>;
  meta: unknown;
}>;

/** What the stream needs of its caching instance. */
export interface StreamDeps {
  /** The instance's hub, created on first use. */
  readonly hub: () => LiveHub;
  /** The reader's scope segment (`u.…` or `anon`) from the procedure's context. */
  readonly reader: (ctx: unknown) => string;
}

const DEFAULT_BUFFER = 256;

/** Accepts nothing, null, or an object whose `lastEventId` (when present) is a string or null. */
function parseInput(raw: unknown): InvalidationStreamInput {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new TypeError(`expected no input or { lastEventId }, got ${describe(raw)}`);
  const lastEventId = (raw as { lastEventId?: unknown }).lastEventId;
  if (lastEventId !== undefined && lastEventId !== null && typeof lastEventId !== 'string') {
    throw new TypeError(`expected lastEventId to be a string, got ${describe(lastEventId)}`);
  }
  return lastEventId === undefined ? {} : { lastEventId };
}

/**
 * The live invalidation stream: a subscription on `base` (after its middlewares, so after authentication) that
 * streams every move affecting the connected reader: its own scope (whoever moved it), paths, tags and `all`,
 * never another user's scope. An anonymous reader gets moves of paths, tags, `all` and the anonymous scope.
 * Nothing of the stream depends on other users' moves of their own scopes: not its events, ids, replays or resets.
 */
export function createInvalidationStream(
  base: AnyProcedureBuilder,
  deps: StreamDeps,
  options: InvalidationStreamOptions = {},
): InvalidationStreamProcedure {
  if (typeof options !== 'object' || options === null) throw new CachingConfigError('invalidationStream options', 'expected an object');
  const bufferSize = positiveInteger(
    'invalidationStream.bufferSize',
    options.bufferSize === undefined ? DEFAULT_BUFFER : options.bufferSize,
  );
  return base.input(parseInput).subscription(async function* invalidations(opts: {
    ctx: unknown;
    input: InvalidationStreamInput;
    signal: AbortSignal | undefined;
  }) {
    const connection = deps.hub().connect(deps.reader(opts.ctx), bufferSize, opts.input.lastEventId ?? undefined);
    try {
      for (;;) {
        const delivery = await connection.next(opts.signal);
        if (delivery === undefined) return;
        yield tracked(delivery.id, delivery.event);
      }
    } finally {
      connection.close();
    }
  }) as InvalidationStreamProcedure;
}
