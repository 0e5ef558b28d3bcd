import { afterEach, describe, expect, it } from 'vitest';
import { scopeSegment } from '../../src/engine/keys.js';
import { createContractApp } from '../support/apps/contract.js';
import { useFakeClock } from '../support/fake-clock.js';
import { entryKeys } from '../support/inspect.js';
import { eventually } from '../support/redis-store.js';
import { storeKinds } from '../support/stores.js';

const kinds = storeKinds();
const aliceVersion = `trpc-caching:v:s:${scopeSegment('trpc-caching', { kind: 'user', id: 'alice' })}`;
/** Real-time TTLs: long enough that a loaded machine's slow calls finish well within them. */
const ENTRY_TTL = 30_000;
const VERSION_TTL = 600_000;
/** A TTL the real-time expiry test waits out: a hit within it is certain; its end is waited for, not slept. */
const SHORT_TTL = 2_000;

describe.each(kinds.filter((kind) => kind.name === 'memory'))('expiry on $name with a fake clock', (kind) => {
  let clock: ReturnType<typeof useFakeClock> | undefined;
  afterEach(() => {
    clock?.restore();
    clock = undefined;
  });

  it('serves an entry until its ttl and runs the resolver again once the ttl has passed', async () => {
    clock = useFakeClock();
    const app = createContractApp(await kind.fresh(), { ttl: 1_000 });
    const alice = app.caller('alice');
    await alice.post.list();
    clock.advance(999);
    await alice.post.list();
    expect(app.runs('post.list', 'alice')).toBe(1);
    clock.advance(2);
    await alice.post.list();
    expect(app.runs('post.list', 'alice')).toBe(2);
  });

  it("expires an entry at its procedure's meta.cache.ttl, independently of the default ttl", async () => {
    clock = useFakeClock();
    const app = createContractApp(await kind.fresh(), { ttl: 10_000 });
    const alice = app.caller('alice');
    await alice.brief();
    await alice.post.list();
    clock.advance(249);
    await alice.brief();
    expect(app.runs('brief', 'alice')).toBe(1);
    clock.advance(2);
    await alice.brief();
    await alice.post.list();
    expect(app.runs('brief', 'alice')).toBe(2);
    expect(app.runs('post.list', 'alice')).toBe(1);
  });

  it('never brings back a pre-mutation entry when the version it was invalidated by expires', async () => {
    clock = useFakeClock();
    // The tightest setting createCaching accepts: versions live exactly as long as entries.
    const keyv = await kind.fresh();
    const app = createContractApp(keyv, { ttl: 1_000, versionTtl: 1_000 });
    const alice = app.caller('alice');
    // Entries that the mutation makes stale; each is read for the first time after it at its own moment,
    // so that no read replaces a stale entry before a later moment could find it.
    const pages = 140;
    for (let page = 1; page <= pages; page++) expect((await alice.post.list({ page })).rev).toBe(0);
    clock.advance(10);
    await alice.post.touch();
    const moved = await keyv.get(aliceVersion);
    expect(moved).toBeDefined();
    const revs = new Map<number, number>();
    for (let page = 1; page <= pages; page++) {
      clock.advance(25);
      revs.set(page, (await alice.post.list({ page })).rev);
    }
    // The moments span the version's life, its expiry at 1 010 ms and long after it (a miss then seeds a new token).
    expect(await keyv.get(aliceVersion)).not.toBe(moved);
    expect([...revs].filter(([, rev]) => rev !== 1)).toEqual([]);
  });
  it("does not let a slow resolver's entry outlive the version move that happened while it ran", async () => {
    clock = useFakeClock();
    const keyv = await kind.fresh();
    const app = createContractApp(keyv, { ttl: 1_000, versionTtl: 1_000 });
    const alice = app.caller('alice');
    app.gate.close();
    // Reads the versions and the data at 0 ms, then takes 900 ms.
    const slow = alice.gated();
    await app.gate.arrivals(1);
    clock.advance(10);
    await alice.post.touch();
    clock.advance(890);
    app.gate.open();
    expect((await slow).rev).toBe(0);
    // Read first after the moved version expired (at 1 010 ms): the slow entry, recorded under the
    // versions from before the move, must be gone by then rather than match the expired version again.
    clock.advance(120);
    expect((await alice.gated()).rev).toBe(1);
    expect(app.runs('gated', 'alice')).toBe(2);
  });
});

describe.each(kinds.filter((kind) => kind.name === 'redis'))('expiry on $name in real time', (kind) => {
  it('writes entries with their ttl and versions with versionTtl, so that every version outlives its entries', async () => {
    const keyv = await kind.fresh();
    const server = kind.redis;
    if (!server) throw new Error('redis-server not started');
    // TTLs far above what the calls take on a loaded machine, and far apart: each PTTL says which one was used.
    const app = createContractApp(keyv, { ttl: ENTRY_TTL, versionTtl: VERSION_TTL });
    const alice = app.caller('alice');
    await alice.post.touch();
    await alice.post.list();
    await alice.comment.list();
    const versionTtl = Number(await server.command('PTTL', aliceVersion));
    expect(versionTtl).toBeGreaterThan(ENTRY_TTL);
    expect(versionTtl).toBeLessThanOrEqual(VERSION_TTL);
    const ttls = await Promise.all((await entryKeys(kind, keyv)).map(async (key) => Number(await server.command('PTTL', key))));
    expect(ttls).toHaveLength(2);
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(ENTRY_TTL);
      expect(ttl).toBeLessThan(versionTtl);
    }
  });

  it('expires entries and versions at their ttl without ever serving a pre-mutation entry', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv, { ttl: SHORT_TTL, versionTtl: SHORT_TTL });
    const alice = app.caller('alice');
    expect((await alice.post.list()).rev).toBe(0);
    await alice.post.touch();
    expect((await alice.post.list()).rev).toBe(1);
    expect((await alice.post.list()).rev).toBe(1);
    expect(app.runs('post.list', 'alice')).toBe(2);
    // Redis expires the keys on its own clock: wait for that, not for a fixed time.
    await eventually(
      'the version and the entries have expired',
      async () => {
        return (await kind.redis?.command('EXISTS', aliceVersion)) === 0 && (await entryKeys(kind, keyv)).length === 0;
      },
      30_000,
    );
    expect((await alice.post.list()).rev).toBe(1);
    expect(app.runs('post.list', 'alice')).toBe(3);
  });
});
