import { randomUUID } from 'node:crypto';
import { type MoveTerms, movedFor } from '../engine/move.js';
import { CachingError, errorMessage } from '../errors.js';
import { type LiveEvent, parseJsonObject } from '../protocol/index.js';
import type { PubSub } from '../stores/capabilities.js';
import { formatId, OwnCounts, type Position, parseId } from './position.js';

/** One event for one connection, with the id a reconnecting client sends back as `lastEventId`. */
export interface LiveDelivery {
  readonly id: string;
  readonly event: LiveEvent;
}

/** How a hub bounds its memory. */
export interface LiveHubOptions {
  /** Events a connection may have waiting; past it they collapse into one `reset`. */
  readonly bufferSize: number;
  /** Moves remembered for connections that come back (`lastEventId`); older gaps are answered with a `reset`. */
  readonly historySize: number;
  /**
   * Scopes whose own moves are counted for readers that come back; past it the one that moved least recently is
   * forgotten, and a reader of a forgotten scope that comes back is told its scope moved.
   * @default 10000
   */
  readonly scopeLimit?: number;
  readonly report: (error: CachingError) => void;
}

const READY: LiveEvent = { v: 1, type: 'ready' };

/**
 * One live connection: a bounded queue of events and a way to wait for the next. When its reader is slower
 * than the moves (more than `bufferSize` waiting), what waits is dropped and replaced by one `reset`: the
 * client then invalidates everything, which covers every move it did not get.
 */
export class LiveConnection {
  private queue: LiveDelivery[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    /** The reader's scope segment (`u.…` or `anon`). */
    readonly reader: string,
    private readonly bufferSize: number,
    private readonly onClose: (connection: LiveConnection) => void,
  ) {}

  /** Queues an event (dropped once closed). */
  push(delivery: LiveDelivery): void {
    if (this.closed) return;
    if (this.queue.length >= this.bufferSize) {
      this.queue = [{ id: delivery.id, event: { v: 1, type: 'reset', reason: 'overflow' } }];
    } else {
      this.queue.push(delivery);
    }
    this.signal();
  }

  /** Events waiting (for tests and stats). */
  get waiting(): number {
    return this.queue.length;
  }

  /** The next event; undefined once the connection is closed or `signal` aborts. */
  async next(signal?: AbortSignal): Promise<LiveDelivery | undefined> {
    for (;;) {
      const delivery = this.queue.shift();
      if (delivery !== undefined) return delivery;
      if (this.closed || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Ends the connection: its reader gets undefined from `next`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.onClose(this);
    this.signal();
  }

  private signal(): void {
    this.wake?.();
  }
}

interface Remembered {
  readonly pub: number;
  readonly move: MoveTerms;
}

const DEFAULT_SCOPE_LIMIT = 10_000;
/** Attempts after a failed publish, 50 ms apart and doubling. */
const PUBLISH_RETRIES = 3;
/** Other hubs whose last message number is remembered: processes, so a bound no fleet reaches (an old one drops out). */
const MAX_ORIGINS = 4_096;

/** A move every reader gets a part of (paths, tags, `all`), as opposed to a move of scopes alone. */
const isPublic = (move: MoveTerms): boolean => move.all || move.paths.length > 0 || move.tags.length > 0;

/**
 * The fan-out of one caching instance's moves to its live connections, and over a publish/subscribe bus to
 * other processes' hubs (one channel per prefix). An event's id is the reader's {@link Position}: public moves
 * and the reader's own scope's moves counted, never another user's, so a stream (ids, replays and resets) is the
 * same whatever other users do with their own scopes. One that comes back with an id is replayed the public moves
 * it missed from a bounded history, and its own scope's moves as one `self` move, or told to reset when the
 * history no longer reaches back to it.
 *
 * Delivery costs one pass over connections for a move with paths, tags or `all` (every reader is concerned),
 * and one lookup per scope for a move of scopes only (only that user's connections).
 */
export class LiveHub {
  readonly epoch = randomUUID().replace(/-/g, '').slice(0, 12);
  /** Public positions so far: public moves, and gaps of the bus. */
  private pub = 0;
  /** Lowest `pub` of a `lastEventId` from which the history still holds every later public move. */
  private floor = 0;
  private readonly own: OwnCounts;
  private readonly history: Remembered[] = [];
  private readonly connections = new Set<LiveConnection>();
  private readonly byReader = new Map<string, Set<LiveConnection>>();
  private unsubscribe: Promise<(() => Promise<void>) | undefined> | undefined;
  private closed = false;
  /** Number of the next move this hub publishes: a receiver that sees a number skipped knows it lost a message. */
  private sent = 0;
  /** The publishes under way, one after the other (a retried message must not arrive after a later one). */
  private outbox: Promise<void> = Promise.resolve();
  /** The last number heard from each other hub (at most {@link MAX_ORIGINS}, least recently heard dropped first). */
  private readonly heard = new Map<string, number>();

  constructor(
    private readonly options: LiveHubOptions,
    private readonly bus?: { readonly pubsub: PubSub; readonly channel: string },
  ) {
    this.own = new OwnCounts(options.scopeLimit ?? DEFAULT_SCOPE_LIMIT, (scope) => this.byReader.has(scope));
    if (bus !== undefined) this.listen(bus.pubsub, bus.channel);
  }

  /** Open connections. */
  get size(): number {
    return this.connections.size;
  }

  /** Delivers a move made in this process to its connections, and publishes it to the other processes. */
  publish(move: MoveTerms): void {
    if (this.closed) return;
    this.deliver(move);
    if (this.bus === undefined) return;
    const message = encode(this.epoch, this.sent++, move);
    this.outbox = this.outbox.then(() => this.send(message));
  }

  /**
   * Publishes one message, in order after the ones before it, retried a few times: a bus that refused it (a failover
   * under way, a connection being replaced) usually takes it a moment later. A message lost for good is not silent:
   * its number is skipped, so every other hub resets its streams when this hub's next message arrives.
   */
  private async send(message: string): Promise<void> {
    const bus = this.bus;
    if (bus === undefined) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await bus.pubsub.publish(bus.channel, message);
        return;
      } catch (cause) {
        if (this.closed || attempt >= PUBLISH_RETRIES) {
          this.options.report(
            new CachingError('invalidate', `the invalidation could not be sent to other processes' live streams: ${errorMessage(cause)}`, {
              cause,
            }),
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt).unref());
      }
    }
  }

  /**
   * Opens a connection for a reader. Its first event is `ready`; with a `lastEventId` of this hub whose later
   * public moves are all remembered, what the reader missed follows (its own scope's moves as one `self` move,
   * then its part of each public move), otherwise a `reset`.
   */
  connect(reader: string, bufferSize: number = this.options.bufferSize, lastEventId?: string): LiveConnection {
    const connection = new LiveConnection(reader, bufferSize, (closed) => this.forget(closed));
    if (this.closed) {
      connection.close();
      return connection;
    }
    this.connections.add(connection);
    const same = this.byReader.get(reader) ?? new Set<LiveConnection>();
    this.byReader.set(reader, same);
    same.add(connection);
    if (lastEventId === undefined) connection.push({ id: this.idFor(reader), event: READY });
    else this.resume(connection, lastEventId);
    return connection;
  }

  /**
   * Tells every connection to reset (messages from other processes may have been lost, this reader's own moves
   * among them), and answers any older `lastEventId` with a reset too: the gap takes a public position of its own.
   */
  resetAll(reason: 'bus' | 'overflow'): void {
    this.floor = ++this.pub;
    this.history.length = 0;
    for (const connection of this.connections) {
      connection.push({ id: this.idFor(connection.reader), event: { v: 1, type: 'reset', reason } });
    }
  }

  /** Ends every connection and leaves the bus. */
  async close(): Promise<void> {
    this.closed = true;
    for (const connection of [...this.connections]) connection.close();
    const unsubscribe = await this.unsubscribe;
    await unsubscribe?.().catch(() => {});
  }

  /** The id of `reader`'s current position. */
  private idFor(reader: string, pub: number = this.pub): string {
    return formatId(this.epoch, { pub, own: this.own.of(reader) });
  }

  private deliver(move: MoveTerms): void {
    if (isPublic(move)) {
      const pub = ++this.pub;
      this.history.push({ pub, move });
      if (this.history.length > this.options.historySize) this.floor = (this.history.shift() as Remembered).pub;
      for (const connection of this.connections) this.tell(connection, move, this.idFor(connection.reader));
      return;
    }
    // A move of scopes alone: counted for each of them (its readers may come back later), told to theirs only.
    for (const scope of move.scopes) {
      this.own.moved(scope, move.id);
      for (const connection of this.byReader.get(scope) ?? []) this.tell(connection, move, this.idFor(scope));
    }
  }

  private tell(connection: LiveConnection, move: MoveTerms, id: string): void {
    const moved = movedFor(move, connection.reader);
    if (moved !== undefined) connection.push({ id, event: { v: 1, type: 'moved', moved } });
  }

  /**
   * `ready` at the position the reader comes back to, then what it missed, each event at a later position (a
   * reader cut off during the replay resumes where it was cut). A position the hub cannot replay from gets a reset.
   */
  private resume(connection: LiveConnection, lastEventId: string): void {
    const reader = connection.reader;
    const from: Position | undefined = parseId(this.epoch, lastEventId);
    const gap = from === undefined ? undefined : this.own.since(reader, from.own);
    if (from === undefined || gap === undefined || gap.kind === 'unknown' || from.pub < this.floor || from.pub > this.pub) {
      connection.push({ id: this.idFor(reader), event: READY });
      connection.push({ id: this.idFor(reader), event: { v: 1, type: 'reset', reason: 'resume' } });
      return;
    }
    connection.push({ id: formatId(this.epoch, from), event: READY });
    if (gap.kind === 'moved') {
      connection.push({ id: this.idFor(reader, from.pub), event: { v: 1, type: 'moved', moved: { id: gap.moveId, self: true } } });
    }
    for (const { pub, move } of this.history) if (pub > from.pub) this.tell(connection, move, this.idFor(reader, pub));
  }

  private forget(connection: LiveConnection): void {
    this.connections.delete(connection);
    const same = this.byReader.get(connection.reader);
    same?.delete(connection);
    if (same?.size === 0) this.byReader.delete(connection.reader);
  }

  /** Whether a message numbered `number` from `origin` shows that an earlier one of that hub never arrived. */
  private skipped(origin: string, number: number | undefined): boolean {
    if (number === undefined) return false;
    const last = this.heard.get(origin);
    if (last !== undefined && number <= last) return false;
    this.heard.delete(origin);
    this.heard.set(origin, number);
    if (this.heard.size > MAX_ORIGINS) this.heard.delete(this.heard.keys().next().value as string);
    return last !== undefined && number > last + 1;
  }

  private listen(pubsub: PubSub, channel: string): void {
    this.unsubscribe = pubsub
      .subscribe(
        channel,
        (message) => {
          const heard = decode(message, this.epoch);
          if (heard === undefined || this.closed) return;
          if (this.skipped(heard.origin, heard.number)) this.resetAll('bus');
          this.deliver(heard.move);
        },
        () => this.resetAll('bus'),
      )
      .then(
        async (unsubscribe) => {
          if (this.closed) {
            await unsubscribe().catch(() => {});
            return undefined;
          }
          return unsubscribe;
        },
        (cause: unknown) => {
          this.options.report(
            new CachingError('invalidate', `live streams cannot hear other processes' invalidations: ${errorMessage(cause)}`, { cause }),
          );
          return undefined;
        },
      );
  }
}

/**
 * A move on the bus: `o` names the hub that sent it, which already delivered it to its own connections; `n` numbers
 * that hub's messages from 0 (a message without it, from an older version, is delivered and never seen as a gap).
 */
function encode(origin: string, number: number, move: MoveTerms): string {
  return JSON.stringify({ o: origin, n: number, i: move.id, a: move.all ? 1 : 0, s: move.scopes, p: move.paths, t: move.tags });
}

const strings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

function decode(message: string, self: string): { origin: string; number: number | undefined; move: MoveTerms } | undefined {
  const raw = parseJsonObject(message);
  if (raw === undefined) return undefined;
  const { o, n, i, a, s, p, t } = raw as Record<string, unknown>;
  if (typeof o !== 'string' || o === self || typeof i !== 'string' || !strings(s) || !strings(p) || !strings(t)) return undefined;
  const number = typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  return { origin: o, number, move: { id: i, all: a === 1, scopes: s, paths: p, tags: t } };
}
