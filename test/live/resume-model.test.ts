// Adversarial review of issue 16 part 3: what a reader of the live stream can learn of other users' private moves,
// what forged lastEventIds do, and whether a resuming reader can ever miss one of its own moves.
import { afterEach, describe, expect, it } from 'vitest';
import { scopeSegment } from '../../src/engine/keys.js';
import type { MoveTerms } from '../../src/engine/move.js';
import { type LiveDelivery, LiveHub } from '../../src/live/hub.js';

const segment = (user: string) => scopeSegment('trpc-caching', { kind: 'user', id: user });
const BOB = segment('bob');
const publicMove = (id: string): MoveTerms => ({ id, all: false, scopes: [], paths: [], tags: [id] });
const privateMove = (id: string, scope: string): MoveTerms => ({ id, all: false, scopes: [scope], paths: [], tags: [] });

const open: LiveHub[] = [];
afterEach(async () => {
  for (const hub of open.splice(0)) await hub.close();
});
function newHub(options: { historySize?: number; scopeLimit?: number } = {}): LiveHub {
  const hub = new LiveHub({ bufferSize: 1_000, historySize: options.historySize ?? 16, scopeLimit: options.scopeLimit, report: () => {} });
  open.push(hub);
  return hub;
}

async function drain(connection: ReturnType<LiveHub['connect']>): Promise<LiveDelivery[]> {
  const out: LiveDelivery[] = [];
  while (connection.waiting > 0) out.push((await connection.next()) as LiveDelivery);
  return out;
}

/** Ids without the random epoch, events with move ids that are not bob's own replaced by their kind. */
const shown = (deliveries: LiveDelivery[]) =>
  deliveries.map(({ id, event }) => {
    const moved =
      event.type === 'moved' && event.moved.self && !/^b\d+$/.test(event.moved.id ?? '') ? { ...event.moved, id: 'random' } : undefined;
    return `${id.replace(/^[0-9a-f]{12}\./, 'E.')} ${JSON.stringify(moved ? { ...event, moved } : event)}`;
  });

describe('what bob learns when many other users move their own scopes (the scope limit, 10 000 by default)', () => {
  /** Bob's stream while connected: one own move, `others` private moves of distinct users, then a public move. */
  async function connected(others: number): Promise<string[]> {
    const hub = newHub();
    const live = hub.connect(BOB);
    hub.publish(privateMove('b1', BOB));
    for (let i = 0; i < others; i++) hub.publish(privateMove(`o${i}`, segment(`user${i}`)));
    hub.publish(publicMove('p1'));
    hub.publish(privateMove('b2', BOB));
    return shown(await drain(live));
  }

  /** A reader of bob's that resumes from its first id after `others` private moves of distinct users. */
  async function resumed(others: number): Promise<string[]> {
    const hub = newHub();
    const tab = hub.connect(BOB);
    const [ready] = await drain(tab);
    tab.close();
    for (let i = 0; i < others; i++) hub.publish(privateMove(`q${i}`, segment(`late${i}`)));
    return shown(await drain(hub.connect(BOB, 1_000, (ready as LiveDelivery).id)));
  }

  // Broke before this review's fix (scopes of open connections are never forgotten): bob's own count read 0 again
  // once 10 000 other scopes had moved, in the ids of the connection he still had open.
  it('gives a connected reader the same ids whether or not 10 001 other users moved their private scopes', {
    timeout: 30_000,
  }, async () => {
    const quiet = await connected(0);
    expect(await connected(10_001)).toEqual(quiet);
    expect(quiet).toEqual([
      'E.0.0 {"v":1,"type":"ready"}',
      'E.0.1 {"v":1,"type":"moved","moved":{"id":"b1","self":true}}',
      'E.1.1 {"v":1,"type":"moved","moved":{"id":"p1","tags":["p1"]}}',
      'E.1.2 {"v":1,"type":"moved","moved":{"id":"b2","self":true}}',
    ]);
  });

  // Still open (see the report): a reader that comes back after more than scopeLimit other scopes moved is told its
  // scope moved when it did not (a `self` move with a random id): one bit about others. `it.fails` keeps it on record.
  it.fails('gives a resuming reader the same events whether or not 10 001 other users moved their private scopes', {
    timeout: 30_000,
  }, async () => {
    expect(await resumed(10_001)).toEqual(await resumed(0));
  });

  it('differs on resume only by one conservative self move with a random id', { timeout: 30_000 }, async () => {
    expect(await resumed(0)).toEqual(['E.0.0 {"v":1,"type":"ready"}']);
    expect(await resumed(10_001)).toEqual([
      'E.0.0 {"v":1,"type":"ready"}',
      'E.0.0 {"v":1,"type":"moved","moved":{"id":"random","self":true}}',
    ]);
  });

  it('keeps memory bounded when every remembered scope is connected: past the limit only by the connections', () => {
    const hub = newHub({ scopeLimit: 4 });
    const readers = Array.from({ length: 10 }, (_, i) => segment(`c${i}`));
    for (const reader of readers) hub.connect(reader);
    for (const reader of readers) hub.publish(privateMove(`m-${reader}`, reader));
    for (let i = 0; i < 100; i++) hub.publish(privateMove(`x${i}`, segment(`x${i}`)));
    const own = (hub as unknown as { own: { counts: Map<string, unknown> } }).own.counts;
    // The 10 connected scopes, and at most the limit's worth of others.
    expect(readers.every((reader) => own.has(reader))).toBe(true);
    expect(own.size).toBeLessThanOrEqual(10 + 4);
  });
});

describe('forged lastEventIds', () => {
  const forged = (epoch: string, aliceId: string) => [
    '',
    'x',
    `${epoch}`,
    `${epoch}.-1.0`,
    `${epoch}.0.-1`,
    `${epoch}.NaN.0`,
    `${epoch}.0.NaN`,
    `${epoch}.Infinity.0`,
    `${epoch}.1e3.0`,
    `${epoch}.999999999999999.0`,
    `${epoch}.0.999999999999999`,
    `${epoch}.9999999999999999999999.0`,
    `${epoch}.0.0.0`,
    `${epoch}.0x1.0`,
    ` ${epoch}.0.0`,
    `${epoch}.0.0\n`,
    `${epoch.toUpperCase()}.0.0`,
    '000000000000.0.0',
    `${epoch}.00000000000000.0`,
    `${'9'.repeat(100_000)}`,
    '\u0000',
    '__proto__',
    'constructor.0.0',
    aliceId,
  ];

  it('never throw and never tell bob more than a reset, a ready, or his own moves', async () => {
    const hub = newHub({ historySize: 4 });
    const ALICE = segment('alice');
    const alice = hub.connect(ALICE);
    for (let i = 0; i < 5; i++) hub.publish(privateMove(`a${i}`, ALICE));
    hub.publish(publicMove('p1'));
    const aliceId = (await drain(alice)).at(-1)?.id as string;
    const outcomes = new Map<string, string[]>();
    for (const id of forged(hub.epoch, aliceId)) {
      const events = (await drain(hub.connect(BOB, 1_000, id))).map(({ event }) => JSON.stringify(event));
      outcomes.set(id.slice(0, 40), events);
      // Nothing of alice's, ever; a forged id is either a reset or a valid position of bob's own.
      for (const event of events) expect(event).not.toMatch(/"a\d"/);
    }
    // Alice's id names 5 own moves; bob has none: told to reset, not given alice's anything.
    expect(outcomes.get(aliceId)).toEqual(['{"v":1,"type":"ready"}', '{"v":1,"type":"reset","reason":"resume"}']);
    expect(outcomes.get(`${hub.epoch}.999999999999999.0`)).toEqual(['{"v":1,"type":"ready"}', '{"v":1,"type":"reset","reason":"resume"}']);
  });
});

describe('a resuming reader never misses one of its own moves (random runs against a model)', () => {
  /** Small deterministic PRNG (mulberry32). */
  function random(seed: number) {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let x = Math.imul(a ^ (a >>> 15), 1 | a);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
  }

  it('covers, on every resume, each own move made after the id it resumes from (a self move, a reset or `all`)', async () => {
    let resumes = 0;
    let covered = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const rnd = random(seed);
      const hub = newHub({ historySize: 1 + Math.floor(rnd() * 6), scopeLimit: 1 + Math.floor(rnd() * 4) });
      let ownMoves = 0;
      /** Ids bob has been given, with how many own moves had been made when each was given. */
      const given: Array<{ id: string; ownMovesBefore: number }> = [];
      let connection: ReturnType<LiveHub['connect']> | undefined = hub.connect(BOB);
      const take = async (conn: ReturnType<LiveHub['connect']>) => {
        const got = await drain(conn);
        for (const { id } of got) given.push({ id, ownMovesBefore: ownMoves });
        return got;
      };
      await take(connection);
      for (let step = 0; step < 80; step++) {
        const r = rnd();
        if (r < 0.2) {
          ownMoves++;
          hub.publish(privateMove(`b${ownMoves}`, BOB));
          if (connection) await take(connection);
        } else if (r < 0.35) {
          hub.publish(publicMove(`p${step}`));
          if (connection) await take(connection);
        } else if (r < 0.6) {
          hub.publish(privateMove(`o${step}`, segment(`user${Math.floor(rnd() * 8)}`)));
        } else if (r < 0.65) {
          hub.publish({ id: `both${step}`, all: false, scopes: [BOB, segment('alice')], paths: [], tags: [] });
          ownMoves++;
          if (connection) await take(connection);
        } else if (r < 0.7) {
          hub.resetAll('bus');
          if (connection) await take(connection);
        } else if (r < 0.85) {
          connection?.close();
          connection = undefined;
        } else if (given.length > 0) {
          // Resume from any id bob was ever given (a tab that was away longer), read what comes back.
          connection?.close();
          const from = given[Math.floor(rnd() * given.length)] as { id: string; ownMovesBefore: number };
          const before = ownMoves;
          connection = hub.connect(BOB, 1_000, from.id);
          const got = await take(connection);
          resumes++;
          if (before > from.ownMovesBefore) {
            const ok = got.some(
              ({ event }) => event.type === 'reset' || (event.type === 'moved' && (event.moved.self === true || event.moved.all === true)),
            );
            if (!ok)
              throw new Error(
                `seed ${seed} step ${step}: resumed from ${from.id} after ${before - from.ownMovesBefore} own moves, got ${JSON.stringify(got)}`,
              );
            covered++;
          }
        }
      }
      await hub.close();
    }
    console.log(`[attack] resumes ${resumes}, with own moves missed while away ${covered}, all covered`);
    expect(resumes).toBeGreaterThan(100);
    expect(covered).toBeGreaterThan(20);
  });
});
