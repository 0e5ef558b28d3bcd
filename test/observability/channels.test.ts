import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { type CacheInvalidateMessage, type CacheReadMessage, type CacheStoreMessage, cachingChannels } from '../../src/index.js';
import { storeKinds } from '../support/stores.js';
import { createNotesApp, knownSequence, SECRET_INPUT, SECRET_USER } from './app.js';

type Captured = Record<keyof typeof cachingChannels, unknown[]>;

const listeners: Array<[string, (message: unknown) => void]> = [];
afterEach(() => {
  for (const [name, listener] of listeners.splice(0)) unsubscribe(name, listener);
});

/** Every message of every trpc-caching channel from now on, by channel. */
function captureAll(): Captured {
  const captured = {} as Captured;
  for (const [key, name] of Object.entries(cachingChannels) as Array<[keyof typeof cachingChannels, string]>) {
    const messages: unknown[] = [];
    captured[key] = messages;
    const listener = (message: unknown) => messages.push(message);
    subscribe(name, listener);
    listeners.push([name, listener]);
  }
  return captured;
}

const reads = (messages: unknown[]) => messages as CacheReadMessage[];

/** A message as text, errors with their message and cause (JSON.stringify alone shows neither). */
const asText = (message: unknown) =>
  JSON.stringify(message, (_key, value: unknown) =>
    value instanceof Error ? { ...value, message: value.message, cause: asText(value.cause) } : value,
  );

describe.each(storeKinds())('diagnostics channels on $name', (kind) => {
  it('publishes each call of a known sequence on its outcome channel, with path, scope and time spent', async () => {
    const app = createNotesApp(await kind.fresh());
    const captured = captureAll();
    await knownSequence(app);

    const summary = (messages: unknown[]) => reads(messages).map(({ path, scope, reason }) => [path, scope, reason]);
    expect(summary(captured.miss)).toEqual([
      ['notes.list', 'user', undefined],
      ['notes.list', 'user', undefined],
      ['feed', 'public', undefined],
      ['slow', 'user', undefined],
    ]);
    expect(summary(captured.hit)).toEqual([
      ['notes.list', 'user', undefined],
      ['feed', 'public', undefined],
      ['notes.list', 'user', undefined],
    ]);
    expect(summary(captured.coalesced)).toEqual([['slow', 'user', undefined]]);
    expect(summary(captured.bypass)).toEqual([
      ['live', 'user', 'disabled'],
      ['search', 'user', 'input'],
    ]);
    expect(captured.stale).toEqual([]);
    for (const message of reads([...captured.hit, ...captured.miss, ...captured.coalesced])) {
      expect(message.durationMs).toBeGreaterThan(0);
      expect(message.durationMs).toBeLessThan(60_000);
    }
    expect(captured.invalidate).toEqual([{ path: 'notes.add', keys: 1, written: true, durationMs: expect.any(Number) }]);

    const store = captured.store as CacheStoreMessage[];
    expect(store.filter((message) => message.operation === 'read')).toHaveLength(8);
    expect(store.filter((message) => message.operation === 'invalidate')).toHaveLength(1);
    expect(store.every((message) => message.ok)).toBe(true);
    expect([...captured.storeError, ...captured.breaker]).toEqual([]);
  });

  it('never shows a user id or an input in any message', async () => {
    const app = createNotesApp(await kind.fresh());
    const captured = captureAll();
    await knownSequence(app);
    const all = Object.values(captured).flat();
    expect(all.length).toBeGreaterThan(20);
    for (const message of all) {
      const text = asText(message);
      expect(text).not.toContain(SECRET_USER);
      expect(text).not.toContain(SECRET_INPUT);
    }
    // The invalidation tells how many version keys moved, not which ones (a user's key holds a hash of the id anyway).
    expect(Object.keys(captured.invalidate[0] as CacheInvalidateMessage).sort()).toEqual(['durationMs', 'keys', 'path', 'written']);
  });

  it('stops telling a subscriber once it unsubscribes', async () => {
    const app = createNotesApp(await kind.fresh());
    const hits: unknown[] = [];
    const listener = (message: unknown) => hits.push(message);
    subscribe(cachingChannels.hit, listener);
    const bob = app.caller('bob');
    await bob.feed();
    await bob.feed();
    unsubscribe(cachingChannels.hit, listener);
    await bob.feed();
    expect(hits).toHaveLength(1);
    expect(app.caching.stats().hits).toBe(2);
  });
});
