import { describe, expect, it } from 'vitest';
import { scopeSegment } from '../../src/engine/keys.js';
import { createContractApp } from '../support/apps/contract.js';
import { redisCommandsDuring as redisCommands, versionRows } from '../support/inspect.js';
import { invalidatedBy, PROBE_USERS, probeName, probes, userProbeNames } from '../support/probes.js';
import { storeKinds } from '../support/stores.js';

/** Names without duplicates, sorted: targets add up, so overlapping ones count once. */
const sorted = (names: string[]) => [...new Set(names)].sort();
const userSegment = (id: string) => scopeSegment('trpc-caching', { kind: 'user', id });
const forEveryUser = (...queries: string[]) => PROBE_USERS.flatMap((user) => queries.map((query) => probeName(user, query)));

const kinds = storeKinds();

describe.each(kinds)('invalidation targets on $name', (kind) => {
  it("invalidates by default every entry of the acting user, and no one else's", async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller('alice').post.touch());
    expect(sorted(invalidated)).toEqual(sorted(userProbeNames('alice')));
  });

  it('invalidates by default the shared anonymous scope when an anonymous caller mutates, and no user', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller(null).post.touch());
    expect(sorted(invalidated)).toEqual(sorted(userProbeNames(null)));
  });

  it('invalidates the linked users named by meta.invalidate.users, not the acting user when self is false', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller('bob').post.share({ with: ['alice', 42] }));
    expect(sorted(invalidated)).toEqual(sorted([...userProbeNames('alice'), ...userProbeNames(42)]));
  });

  it('reaches a user with a numeric id when the linked id comes as a string', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller('bob').post.share({ with: ['42'] }));
    expect(sorted(invalidated)).toEqual(sorted(userProbeNames(42)));
  });

  it('invalidates a router prefix path for every user and the public scope, and no path beside it', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller('alice').post.reset());
    expect(sorted(invalidated)).toEqual(
      sorted([...forEveryUser('post.list', 'post.list{page:2}', 'post.byId{1}', 'post.byId{2}'), 'public post.top']),
    );
  });

  it('invalidates one procedure path for every input of every user, and not its sibling procedures', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller('alice').post.relist());
    expect(sorted(invalidated)).toEqual(sorted(forEveryUser('post.list', 'post.list{page:2}')));
  });

  it('invalidates a tag computed from the input for every user, and only the entries that declared it', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller('alice').post.retag({ id: 1 }));
    expect(sorted(invalidated)).toEqual(sorted(forEveryUser('post.byId{1}')));
  });

  it('invalidates a public entry through its tag', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller('alice').jobs.publish());
    expect(invalidated).toEqual(['public feed']);
  });

  it('invalidates every entry of every scope with all: true', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller('alice').jobs.wipe());
    expect(sorted(invalidated)).toEqual(sorted(probes(app).map((probe) => probe.name)));
  });

  it('invalidates nothing with invalidate: false, even though the data changed', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caller('alice').jobs.audit());
    expect(invalidated).toEqual([]);
    expect(app.state.rev).toBe(1);
    expect((await app.caller('alice').post.list()).rev).toBe(0);
  });

  it('invalidates from a job with caching.invalidate, adding up users, paths and tags, and resolves to true', async () => {
    const app = createContractApp(await kind.fresh());
    let written: boolean | undefined;
    const invalidated = await invalidatedBy(app, async () => {
      written = await app.caching.invalidate({ users: ['bob'], paths: ['comment'], tags: ['post:2'] });
    });
    expect(written).toBe(true);
    expect(sorted(invalidated)).toEqual(sorted([...userProbeNames('bob'), ...forEveryUser('comment.list', 'post.byId{2}')]));
  });

  it('invalidates everything from a job with caching.invalidate({ all: true })', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caching.invalidate({ all: true }));
    expect(sorted(invalidated)).toEqual(sorted(probes(app).map((probe) => probe.name)));
  });

  it('invalidates nothing from a job with empty targets', async () => {
    const app = createContractApp(await kind.fresh());
    const invalidated = await invalidatedBy(app, () => app.caching.invalidate({}));
    expect(invalidated).toEqual([]);
  });

  it('serves fresh data to the affected scopes after an invalidation and keeps serving the rest from the cache', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    const bob = app.caller('bob');
    expect((await alice.post.list()).rev).toBe(0);
    expect((await bob.post.list()).rev).toBe(0);
    expect(await alice.post.touch()).toEqual({ rev: 1 });
    expect((await alice.post.list()).rev).toBe(1);
    expect((await bob.post.list()).rev).toBe(0);
    expect(app.runs('post.list', 'bob')).toBe(1);
  });

  it('moves the version keys of its targets to fresh unique tokens and leaves other version keys alone', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const aliceKey = `trpc-caching:v:s:${userSegment('alice')}`;
    const bobKey = `trpc-caching:v:s:${userSegment('bob')}`;
    await app.caller('bob').post.touch();
    const bobToken = (await versionRows(kind, keyv)).get(bobKey);
    expect(bobToken).toBeDefined();

    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      await app.caller('alice').post.touch();
      const versions = await versionRows(kind, keyv);
      expect([...versions.keys()].sort()).toEqual([aliceKey, bobKey].sort());
      const token = versions.get(aliceKey);
      expect(token).toBeDefined();
      seen.add(String(token));
      expect(versions.get(bobKey)).toBe(bobToken);
    }
    expect(seen.size).toBe(5);

    await app.caller('alice').post.reset();
    await app.caller('alice').post.retag({ id: 9 });
    const versions = await versionRows(kind, keyv);
    expect(versions.has('trpc-caching:v:p:post')).toBe(true);
    // ':' in a tag is escaped, so a tag cannot reach into another key family.
    expect(versions.has('trpc-caching:v:t:post%3A9')).toBe(true);
    expect(versions.size).toBe(4);
  });
});

describe.each(kinds.filter((kind) => kind.name === 'redis'))('store round trips on $name', (kind) => {
  const server = () => {
    if (!kind.redis) throw new Error('redis-server not started');
    return kind.redis;
  };

  it('serves a hit with exactly one MGET and no other command', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    await alice.post.byId({ id: 1 });
    expect(await redisCommands(server(), () => alice.post.byId({ id: 1 }))).toEqual({ mget: 1 });
    expect(app.runs('post.byId', 'alice', { id: 1 })).toBe(1);
  });

  it('serves ten hits with ten MGETs, also once version keys exist and for public and tagged entries', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    await alice.post.touch();
    await app.caching.invalidate({ paths: ['post'], tags: ['post:1', 'feed'] });
    await alice.post.byId({ id: 1 });
    await alice.feed();
    const counts = await redisCommands(server(), async () => {
      for (let i = 0; i < 5; i++) {
        await alice.post.byId({ id: 1 });
        await alice.feed();
      }
    });
    expect(counts).toEqual({ mget: 10 });
    expect(app.totalRuns('post.byId') + app.totalRuns('feed')).toBe(2);
  });

  it('answers a miss with one MGET and one SET of the entry once its versions exist', async () => {
    const app = createContractApp(await kind.fresh());
    await app.caller('alice').post.byId({ id: 1 });
    await app.caller('bob').post.byId({ id: 2 });
    expect(await redisCommands(server(), () => app.caller('alice').post.byId({ id: 2 }))).toEqual({ mget: 1, set: 1 });
  });

  it('seeds the versions a miss finds absent in one MULTI before its resolver runs', async () => {
    const app = createContractApp(await kind.fresh());
    const commands = await redisCommands(server(), () => app.caller('alice').post.byId({ id: 1 }));
    expect(commands).toEqual({ mget: 1, multi: 1, set: 1 + (commands.set ?? 0) - 1, exec: 1 });
    expect(commands.set).toBeGreaterThan(2);
  });
});
