// The live stream's events (`caching.invalidationStream`), as the server sends them and a client reads them.
import { type Moved, PROTOCOL_VERSION, readMoved } from './moved.js';

/**
 * An event of the live stream (`caching.invalidationStream(base)`), sent as a tracked event whose id a
 * reconnecting client sends back as `lastEventId`:
 * - `ready`: first event of every connection;
 * - `moved`: a move that affects this connection's user, filtered as for a mutation's caller;
 * - `reset`: events were missed (a reconnect the server cannot replay, a full buffer, a lost bus
 *   connection): invalidate everything held.
 *
 * @example
 * ```ts
 * const event: LiveEvent = { v: 1, type: 'moved', moved: { self: true } };
 * ```
 */
export type LiveEvent =
  | { readonly v: 1; readonly type: 'ready' }
  | { readonly v: 1; readonly type: 'moved'; readonly moved: Moved }
  | { readonly v: 1; readonly type: 'reset'; readonly reason: 'resume' | 'overflow' | 'bus' };

/**
 * A live event read from untrusted data: the event itself, or a tracked envelope `{ id, data }` around it.
 * Undefined when it is neither (an event of a newer version reads as a reset: the client cannot know what it
 * says, so it drops everything).
 *
 * @example
 * ```ts
 * readLiveEvent({ id: 'e.3', data: { v: 1, type: 'moved', moved: { tags: ['feed'] } } });
 * ```
 */
export function readLiveEvent(value: unknown): LiveEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const raw = value as Record<string, unknown>;
  if (!('type' in raw) && 'data' in raw) return readLiveEvent(raw.data);
  if (typeof raw.v === 'number' && raw.v !== PROTOCOL_VERSION) return { v: 1, type: 'reset', reason: 'resume' };
  if (raw.v !== PROTOCOL_VERSION) return undefined;
  if (raw.type === 'ready') return { v: 1, type: 'ready' };
  if (raw.type === 'reset') {
    const reason = raw.reason === 'overflow' || raw.reason === 'bus' ? raw.reason : 'resume';
    return { v: 1, type: 'reset', reason };
  }
  if (raw.type === 'moved') {
    const moved = readMoved(raw.moved);
    return moved === undefined ? undefined : { v: 1, type: 'moved', moved };
  }
  return undefined;
}
