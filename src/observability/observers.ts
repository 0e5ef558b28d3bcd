import type { AuditEvent, Divergence, EngineEvents, InvalidateEvent, PurgeEvent, ReadEvent, StoreCallEvent } from '../engine/events.js';
import type { MoveTerms } from '../engine/move.js';
import type { CachingError } from '../errors.js';
import {
  publishBreaker,
  publishDivergence,
  publishError,
  publishInvalidate,
  publishPurge,
  publishRead,
  publishStoreCall,
} from './channels.js';
import type { StatsRecorder } from './stats.js';

/** What an `EngineEvents` hook is told. */
type HookArg<K extends keyof EngineEvents> = Parameters<NonNullable<EngineEvents[K]>>[0];

/**
 * The one `EngineEvents` a caching instance gives its engine and store guard: it tells the stats
 * recorder, then the diagnostics channels, then observers attached later (OpenTelemetry). Stats and
 * channels cannot throw into the cache; an attached observer that throws is ignored, since a hook runs
 * inside a query and must never fail it.
 */
export class Observers implements EngineEvents {
  /** Replaced, never changed in place: an observer removed during a call does not shift the loop. */
  private attached: readonly EngineEvents[] = [];

  constructor(private readonly stats: StatsRecorder | undefined) {}

  /** Adds an observer; the returned function removes it. */
  attach(observer: EngineEvents): () => void {
    this.attached = [...this.attached, observer];
    return () => {
      this.attached = this.attached.filter((other) => other !== observer);
    };
  }

  onRead(event: ReadEvent): void {
    this.stats?.onRead(event);
    publishRead(event);
    this.tell('onRead', event);
  }

  onInvalidate(event: InvalidateEvent): void {
    this.stats?.onInvalidate(event);
    publishInvalidate(event);
    this.tell('onInvalidate', event);
  }

  onMoved(move: MoveTerms): void {
    this.tell('onMoved', move);
  }

  onStoreCall(event: StoreCallEvent): void {
    this.stats?.onStoreCall(event);
    publishStoreCall(event);
    this.tell('onStoreCall', event);
  }

  onBreaker(state: 'closed' | 'open' | 'half-open'): void {
    publishBreaker(state);
    this.tell('onBreaker', state);
  }

  onPending(count: number): void {
    this.tell('onPending', count);
  }

  onAudit(event: AuditEvent | Divergence): void {
    this.stats?.onAudit(event);
    if (event.outcome === 'diverged') publishDivergence(event as Divergence);
    this.tell('onAudit', event);
  }

  onPurge(event: PurgeEvent): void {
    this.stats?.onPurge(event);
    publishPurge(event);
    this.tell('onPurge', event);
  }

  onError(error: CachingError): void {
    publishError(error);
    this.tell('onError', error);
  }

  /** Calls `hook` of every attached observer (an indexed loop: onRead runs on every hit). */
  private tell<K extends keyof EngineEvents>(hook: K, arg: HookArg<K>): void {
    const attached = this.attached;
    for (let i = 0; i < attached.length; i++) {
      const observer = attached[i] as EngineEvents;
      try {
        (observer[hook] as ((arg: HookArg<K>) => void) | undefined)?.call(observer, arg);
      } catch {
        // An observer's fault must not become the query's.
      }
    }
  }
}

/**
 * Where a caching instance keeps its attach function: a property of the instance. A registered symbol, not a
 * module-private one: an app that loads `trpc-caching` through `import` and `trpc-caching/otel` through `require` (or
 * the other way round) gets one copy of this module per module system, and both must reach the instance's observers.
 */
const attachSlot: unique symbol = Symbol.for('trpc-caching.attach');

/** Gives a caching instance its (non-enumerable) attach function. */
export function makeObservable(caching: object, observers: Observers): void {
  Object.defineProperty(caching, attachSlot, { value: (observer: EngineEvents) => observers.attach(observer) });
}

/** Attaches an observer to an instance made by `createCaching`; the returned function detaches it. */
export function observe(caching: object, observer: EngineEvents): () => void {
  const attach: unknown = (caching as { [attachSlot]?: unknown })[attachSlot];
  if (typeof attach !== 'function') throw new TypeError('trpc-caching: expected a caching instance made by createCaching');
  return (attach as (observer: EngineEvents) => () => void)(observer);
}
