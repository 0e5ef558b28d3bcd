// Adversarial review of issue 16 part 3: what a reader of the live stream can learn of other users' private moves,
// what forged lastEventIds do, and whether a resuming reader can ever miss one of its own moves.
import { afterEach, describe, expect, it } from 'vitest';
import { scopeSegment } from '../../src/engine/keys.js';
import { type LiveDelivery, LiveHub } from '../../src/live/hub.js';
import type { LiveMove } from '../../src/live/move.js';

const segment = (user: string) => scopeSegment('trpc-caching', { kind: 'user', id: user });
const BOB = segment('bob');
const publicMove = (id: string): LiveMove => ({ id, all: false, scopes: [], paths: [], tags: [id] });
const privateMove = (id: string, scope: string): LiveMove => ({ id, all: false, scopes: [scope], paths: [], tags: [] });

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
  /** Bob's stream: connected through one own move, `others` private moves of distinct users, then a public move; then a resume. */
  async function bobsStream(others: number): Promise<string[]> {
    const hub = newHub();
    const live = hub.connect(BOB);
    hub.publish(privateMove('b1', BOB));
    for (let i = 0; i < others; i++) hub.publish(privateMove(`o${i}`, segment(`user${i}`)));
    hub.publish(publicMove('p1'));
    const seen = await drain(live);
    live.close();
    // A second reader of bob who never saw anything (a fresh tab), resuming from its first id.
    const tab = hub.connect(BOB);
    const [ready] = await drain(tab);
    tab.close();
    for (let i = 0; i < others; i++) hub.publish(privateMove(`q${i}`, segment(`late${i}`)));
    const resumed = await drain(hub.connect(BOB, 1_000, (ready as LiveDelivery).id));
    return shown([...seen, ...resumed]);
  }

  // A break found by this review (see the report): the stream differs once more than scopeLimit other scopes moved,
  // in the ids of a connected reader (bob's own count drops to 0 when his scope is forgotten) and on resume (a
  // spurious `self` move, with a random id). `it.fails` keeps it on record and turns red once it is fixed.
  it.fails('is the same stream, ids included, whether or not 10 001 other users moved their private scopes', {
    timeout: 30_000,
  }, async () => {
    const quiet = await bobsStream(0);
    const busy = await bobsStream(10_001);
    expect(busy).toEqual(quiet);
  });

  it('differs in exactly the ways the report names (bob own count dropping, a spurious self move on resume)', {
    timeout: 30_000,
  }, async () => {
    const quiet = await bobsStream(0);
    const busy = await bobsStream(10_001);
    expect(quiet).toEqual([
      'E.0.0 {"v":1,"type":"ready"}',
      'E.0.1 {"v":1,"type":"moved","moved":{"id":"b1","self":true}}',
      'E.1.1 {"v":1,"type":"moved","moved":{"id":"p1","tags":["p1"]}}',
      'E.1.1 {"v":1,"type":"ready"}',
    ]);
    expect(busy).toEqual([
      'E.0.0 {"v":1,"type":"ready"}',
      'E.0.1 {"v":1,"type":"moved","moved":{"id":"b1","self":true}}',
      // Bob's scope was forgotten: his own count reads 0 again, which he could only see if >= 10 000 others moved.
      'E.1.0 {"v":1,"type":"ready"}'.replace('ready"}', 'moved","moved":{"id":"p1","tags":["p1"]}}'),
      'E.1.0 {"v":1,"type":"ready"}',
      // And on resume, a self move bob never made, with a random id: another sign of others' activity.
      'E.1.0 {"v":1,"type":"moved","moved":{"id":"random","self":true}}',
    ]);
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
