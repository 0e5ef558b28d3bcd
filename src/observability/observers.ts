import type { EngineEvents, InvalidateEvent, ReadEvent, StoreCallEvent } from '../engine/events.js';
import type { CachingError } from '../errors.js';
import { publishBreaker, publishError, publishInvalidate, publishRead, publishStoreCall } from './channels.js';
import type { StatsRecorder } from './stats.js';

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
    const attached = this.attached;
    for (let i = 0; i < attached.length; i++) {
      try {
        attached[i]?.onRead?.(event);
      } catch {
        // An observer's fault must not become the query's.
      }
    }
  }

  onInvalidate(event: InvalidateEvent): void {
    this.stats?.onInvalidate(event);
    publishInvalidate(event);
    for (const observer of this.attached) {
      try {
        observer.onInvalidate?.(event);
      } catch {
        // As in onRead.
      }
    }
  }

  onStoreCall(event: StoreCallEvent): void {
    this.stats?.onStoreCall(event);
    publishStoreCall(event);
    const attached = this.attached;
    for (let i = 0; i < attached.length; i++) {
      try {
        attached[i]?.onStoreCall?.(event);
      } catch {
        // As in onRead.
      }
    }
  }

  onBreaker(state: 'closed' | 'open' | 'half-open'): void {
    publishBreaker(state);
    for (const observer of this.attached) {
      try {
        observer.onBreaker?.(state);
      } catch {
        // As in onRead.
      }
    }
  }

  onPending(count: number): void {
    for (const observer of this.attached) {
      try {
        observer.onPending?.(count);
      } catch {
        // As in onRead.
      }
    }
  }

  onError(error: CachingError): void {
    publishError(error);
    for (const observer of this.attached) {
      try {
        observer.onError?.(error);
      } catch {
        // As in onRead.
      }
    }
  }
}

/**
 * Where a caching instance keeps its attach function. A `Symbol.for` key, not a WeakMap: the CommonJS
 * builds of `trpc-caching` and `trpc-caching/otel` each carry their own copy of this module, and both
 * must reach the same instance's observers.
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
