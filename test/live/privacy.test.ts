// The live stream reveals nothing about other users: a reader's whole stream (events, ids, resumes and resets) is
// the same whether or not other users moved their private scopes in the meantime, in one hub and across OS
// processes over Redis pub/sub. Each scenario runs twice, once with alice making private moves between every step
// and once without, and bob's two streams must be identical.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import KeyvRedis from '@keyv/redis';
import { afterEach, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../src/client/index.js';
import { scopeSegment } from '../../src/engine/keys.js';
import type { MoveTerms } from '../../src/engine/move.js';
import { type LiveDelivery, LiveHub } from '../../src/live/hub.js';
import { createRawStringStore } from '../../src/stores/raw-string.js';
import { clientApp, clientFor, serve, until } from '../client/app.js';
import { fileRedis } from '../support/redis-file.js';

const redis = fileRedis();

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

const segment = (user: string) => scopeSegment('trpc-caching', { kind: 'user', id: user });
const BOB = segment('bob');
const ALICE = segment('alice');

/** What bob saw, with the hub's random epoch and random move ids named by order of first appearance. */
function normalised(seen: Array<{ id: string; event: LiveEvent }>): string[] {
  const names = new Map<string, string>();
  const name = (id: string) => names.get(id) ?? (names.set(id, `m${names.size}`).get(id) as string);
  return seen.map(({ id, event }) => {
    const shown = event.type === 'moved' ? { ...event, moved: { ...event.moved, id: name(event.moved.id ?? '') } } : event;
    return `${id.replace(/^[0-9a-f]{12}\./, 'E.')} ${JSON.stringify(shown)}`;
  });
}

describe('one hub', () => {
  const HISTORY = 8;
  const publicMove = (id: string): MoveTerms => ({ id, all: false, scopes: [], paths: [], tags: [id] });
  const privateMove = (id: string, scope: string): MoveTerms => ({ id, all: false, scopes: [scope], paths: [], tags: [] });

  /** Bob's stream through connects, resumes, a long absence and a stale id; alice moves `n` times between steps. */
  async function bobsStream(n: number): Promise<string[]> {
    const hub = new LiveHub({ bufferSize: 64, historySize: HISTORY, report: () => {} });
    open.push({ close: () => hub.close() });
    let aliceMoves = 0;
    const alice = () => {
      for (let i = 0; i < n; i++) hub.publish(privateMove(`a${aliceMoves++}`, ALICE));
    };
    const seen: LiveDelivery[] = [];
    const read = async (connection: ReturnType<LiveHub['connect']>) => {
      while (connection.waiting > 0) seen.push((await connection.next()) as LiveDelivery);
      connection.close();
      return seen.at(-1)?.id as string;
    };
    alice();
    const first = hub.connect(BOB, 64);
    alice();
    hub.publish(publicMove('p1'));
    alice();
    hub.publish(privateMove('b1', BOB));
    alice();
    const afterB1 = await read(first);
    // Away: alice moves far more than the history holds, bob's own and public moves in between.
    alice();
    hub.publish(publicMove('p2'));
    alice();
    hub.publish(privateMove('b2', BOB));
    alice();
    hub.publish({ id: 'both', all: false, scopes: [ALICE, BOB], paths: [], tags: [] });
    alice();
    const resumed = await read(hub.connect(BOB, 64, afterB1));
    // A second resume from the same place, then one from the latest place: nothing new.
    await read(hub.connect(BOB, 64, afterB1));
    await read(hub.connect(BOB, 64, resumed));
    // A long absence (more public moves than the history holds): a reset, whatever alice did.
    for (let i = 0; i < HISTORY + 2; i++) {
      hub.publish(publicMove(`q${i}`));
      alice();
    }
    await read(hub.connect(BOB, 64, resumed));
    // A slow reader whose buffer fills with public moves only.
    const slow = hub.connect(BOB, 3);
    for (let i = 0; i < 5; i++) {
      alice();
      hub.publish(publicMove(`r${i}`));
    }
    await read(slow);
    return normalised(seen);
  }

  it('gives bob the same stream, ids and resets included, whether or not alice moved her scope 50 times between steps', async () => {
    const quiet = await bobsStream(0);
    const busy = await bobsStream(50);
    expect(busy).toEqual(quiet);
    // The scenario exercised replay, the reset of a long absence and the overflow reset.
    expect(quiet.filter((line) => line.includes('"reason":"resume"'))).toHaveLength(1);
    expect(quiet.filter((line) => line.includes('"reason":"overflow"'))).toHaveLength(1);
    expect(quiet.filter((line) => line.includes('"self":true')).length).toBeGreaterThanOrEqual(3);
  });

  it('replays to a resuming reader every move of its own scope made while it was away', async () => {
    const hub = new LiveHub({ bufferSize: 64, historySize: HISTORY, report: () => {} });
    open.push({ close: () => hub.close() });
    const first = hub.connect(BOB, 64);
    const ready = (await first.next()) as LiveDelivery;
    first.close();
    hub.publish(privateMove('b1', BOB));
    for (let i = 0; i < 3 * HISTORY; i++) hub.publish(privateMove(`a${i}`, ALICE));
    const again = hub.connect(BOB, 64, ready.id);
    const events: LiveEvent[] = [];
    while (again.waiting > 0) events.push(((await again.next()) as LiveDelivery).event);
    expect(events).toEqual([
      { v: 1, type: 'ready' },
      { v: 1, type: 'moved', moved: { id: 'b1', self: true } },
    ]);
  });

  it('tells a reader whose scope the hub forgot (past scopeLimit) that its scope moved, rather than miss a move', async () => {
    const hub = new LiveHub({ bufferSize: 64, historySize: HISTORY, scopeLimit: 2, report: () => {} });
    open.push({ close: () => hub.close() });
    const first = hub.connect(BOB, 64);
    hub.publish(privateMove('b1', BOB));
    await first.next();
    const seen = (await first.next()) as LiveDelivery;
    first.close();
    hub.publish(privateMove('b2', BOB));
    // Three other scopes move: bob's count is forgotten, then counted again from one.
    for (const user of ['carol', 'dave', 'erin']) hub.publish(privateMove(user, segment(user)));
    hub.publish(privateMove('b3', BOB));
    const again = hub.connect(BOB, 64, seen.id);
    const events: LiveEvent[] = [];
    while (again.waiting > 0) events.push(((await again.next()) as LiveDelivery).event);
    expect(events).toEqual([
      { v: 1, type: 'ready' },
      { v: 1, type: 'moved', moved: { id: 'b3', self: true } },
    ]);
  });
});

describe('across OS processes over Redis', () => {
  /** A server process on the Redis (test/live/server-process.ts), its URL once it listens. */
  async function otherProcess(): Promise<string> {
    const child = fork(fileURLToPath(new URL('./server-process.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, REDIS_URL: redis.url },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    open.push({
      close: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.disconnect();
        }),
    });
    return new Promise<string>((resolve, reject) => {
      child.once('message', (message: { url: string }) => resolve(message.url));
      child.once('exit', (code) => reject(new Error(`the server process exited with ${code}`)));
    });
  }

  /** A raw subscription to the stream, collecting what it gets. */
  function listen(url: string, user: string | null, seen: Array<{ id: string; event: LiveEvent }>, lastEventId?: string) {
    const client = clientFor(url, user, {});
    const subscription = client.invalidations.subscribe(lastEventId === undefined ? undefined : { lastEventId }, {
      onData: ({ id, data }) => seen.push({ id, event: data }),
    });
    open.push({ close: () => subscription.unsubscribe() });
    return subscription;
  }

  /**
   * Bob's stream on a new process B (a createCaching instance of its own, with its own Redis connections) while alice makes `n` private moves on process A between steps. A public move made
   * on A after alice's (a barrier, ordered after them on the one publishing connection) tells when B's hub has
   * heard them; an anonymous watcher on B sees the barriers while bob is away.
   */
  async function bobsStream(there: string, n: number): Promise<string[]> {
    const app = clientApp(redis.track(createRawStringStore(new KeyvRedis(redis.url))));
    const here = await serve(app);
    open.push({ close: () => here.close() }, { close: () => app.caching.close() });
    const alice = clientFor(there, 'alice', {});
    const carol = clientFor(there, 'carol', {});
    const bob = clientFor(here.url, 'bob', {});
    const watched: Array<{ id: string; event: LiveEvent }> = [];
    listen(here.url, null, watched);
    await until(() => watched.length > 0, 10_000, 'the watcher');
    let barriers = 0;
    const aliceThenBarrier = async () => {
      for (let i = 0; i < n; i++) await alice.post.touch.mutate();
      await carol.post.retitle.mutate({ id: 4, title: `barrier ${++barriers}` });
      await until(() => watched.filter((seen) => seen.event.type === 'moved').length === barriers, 10_000, 'the barrier');
    };
    const seen: Array<{ id: string; event: LiveEvent }> = [];
    const count = (type: LiveEvent['type']) => seen.filter((item) => item.event.type === type).length;

    await aliceThenBarrier();
    const first = listen(here.url, 'bob', seen);
    await until(() => count('ready') === 1, 10_000, "bob's stream");
    await bob.post.touch.mutate();
    await aliceThenBarrier();
    await until(() => count('moved') === 2, 10_000, 'bob to see his move and the barrier');
    first.unsubscribe();
    const away = seen.at(-1)?.id as string;
    await aliceThenBarrier();
    await bob.post.touch.mutate();
    await aliceThenBarrier();
    listen(here.url, 'bob', seen, away);
    await until(() => count('ready') === 2 && count('moved') === 5, 10_000, 'the replay');
    await aliceThenBarrier();
    await until(() => count('moved') === 6, 10_000, 'the last barrier');
    return normalised(seen);
  }

  it('gives a reader on one process the same stream whether or not alice moved her scope on another process', async () => {
    await redis.server.command('FLUSHALL');
    // One process A for both runs; a new process B (a new hub) for each, so that both start from nothing.
    const there = await otherProcess();
    const quiet = await bobsStream(there, 0);
    const busy = await bobsStream(there, 20);
    expect(busy).toEqual(quiet);
    expect(quiet.filter((line) => line.includes('"self":true'))).toHaveLength(2);
  }, 60_000);
});
