import { describe, expect, it } from 'vitest';
import { KeyFormat } from '../../src/engine/keys.js';
import { createContractApp } from '../support/apps/contract.js';
import { entryKeys, storedRows } from '../support/inspect.js';
import { storeKinds } from '../support/stores.js';

const LIMITS = { maxInputBytes: 64 * 1024, maxInputDepth: 32 };
const userSegment = (id: string, prefix = 'trpc-caching') => new KeyFormat(prefix).scopeSegment({ kind: 'user', id });
const inputHash = (input: unknown) => new KeyFormat('trpc-caching').inputHash(input, LIMITS);

describe.each(storeKinds())('cache keys on $name', (kind) => {
  it('stores an entry under prefix, procedure path, hashed user scope and the MD5 of the canonical input', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const input = { b: [1, 'two'], a: { z: null, y: true } };
    await app.caller('alice').echo(input);

    const scope = userSegment('alice');
    expect(scope).toMatch(/^u\.[0-9a-f]{32}$/);
    expect(await entryKeys(kind, keyv)).toEqual([`trpc-caching:q:echo:${scope}:${inputHash(input)}`]);
  });

  it('keys anonymous callers under anon and public procedures under public, for every caller alike', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    await app.caller(null).echo('x');
    await app.caller(null).feed();
    await app.caller('alice').feed();
    const hash = inputHash('x');
    expect((await entryKeys(kind, keyv)).sort()).toEqual(
      [`trpc-caching:q:echo:anon:${hash}`, `trpc-caching:q:feed:public:${inputHash(undefined)}`].sort(),
    );
    expect(app.runs('feed', null)).toBe(1);
  });

  it('puts every key under the configured prefix', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv, { prefix: 'shop-api' });
    await app.caller('alice').echo(1);
    await app.caller('alice').post.touch();
    const keys = (await storedRows(kind, keyv)).map((row) => row.key);
    // The entry, the versions its miss seeded, and the one the mutation moved.
    expect(keys.filter((key) => key.includes(':q:'))).toHaveLength(1);
    for (const key of keys) expect(key.startsWith('shop-api:')).toBe(true);
    expect(keys).toContain(`shop-api:v:s:${userSegment('alice', 'shop-api')}`);
  });

  it('shares one entry between inputs that differ only in object key order', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const alice = app.caller('alice');
    const first = await alice.echo({ a: 1, b: { c: 1, d: [2, 3] } });
    const second = await alice.echo({ b: { d: [2, 3], c: 1 }, a: 1 });
    expect(second).toEqual(first);
    expect(app.runs('echo', 'alice', { a: 1, b: { c: 1, d: [2, 3] } })).toBe(1);
    expect(await entryKeys(kind, keyv)).toHaveLength(1);
  });

  it('keeps inputs of different types apart: 1 and "1", true and "true", [1, 2] and [2, 1]', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const alice = app.caller('alice');
    const inputs: unknown[] = [1, '1', true, 'true', [1, 2], [2, 1], { n: 1 }, { n: '1' }];
    for (const input of inputs) await alice.echo(input);
    for (const input of inputs) await alice.echo(input);
    for (const input of inputs) expect(app.runs('echo', 'alice', input)).toBe(1);
    expect(await entryKeys(kind, keyv)).toHaveLength(inputs.length);
  });

  it('never writes a raw user id into any key or value of the store', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const ids = ['alice.smith@example.com', 'tenant:7:admin', 987654321];
    for (const id of ids) {
      const c = app.caller(id);
      await c.post.list();
      await c.post.byId({ id: 1 });
      await c.echo({ q: 'search' });
      await c.post.touch();
    }
    await app.caller('alice.smith@example.com').post.share({ with: ['tenant:7:admin', 987654321] });
    await app.caching.invalidate({ users: ids });

    const rows = await storedRows(kind, keyv);
    expect(rows.length).toBeGreaterThan(10);
    for (const row of rows) {
      for (const id of ids) {
        expect(row.key).not.toContain(String(id));
        expect(row.text).not.toContain(String(id));
      }
    }
  });

  it("does not serve one user's entry to another user, to an anonymous caller or to a public query", async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    expect(await app.caller('alice').echo('inbox')).toEqual({ run: 1 });
    expect(await app.caller('bob').echo('inbox')).toEqual({ run: 1 });
    expect(await app.caller(null).echo('inbox')).toEqual({ run: 1 });
    expect(app.runs('echo', 'alice', 'inbox')).toBe(1);
    expect(app.runs('echo', 'bob', 'inbox')).toBe(1);
    expect(app.runs('echo', null, 'inbox')).toBe(1);
  });

  it("gives user ids that look like another user's id or key segment a scope of their own", async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    await app.caller('alice').echo('inbox');
    const aliceScope = userSegment('alice');
    const lookalikes = [
      'alice:',
      ':alice',
      'alice:x',
      'ALICE',
      'alice ',
      ' alice',
      'alice\0',
      aliceScope,
      `alice:${aliceScope}`,
      'anon',
      'public',
    ];
    for (const id of lookalikes) {
      expect(await app.caller(id).echo('inbox')).toEqual({ run: 1 });
    }
    const scopes = (await entryKeys(kind, keyv)).map((key) => key.split(':')[3]);
    expect(new Set(scopes).size).toBe(lookalikes.length + 1);
    for (const scope of scopes) expect(scope).toMatch(/^u\.[0-9a-f]{32}$/);
  });

  it('gives user ids that differ only in a lone surrogate scopes of their own', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    // UTF-8 turns every lone surrogate into U+FFFD: hashed as UTF-8, these three ids were one user.
    const ids = ['x\ud800', 'x\udc00', 'x\ufffd'];
    for (const id of ids) expect(await app.caller(id).echo('inbox')).toEqual({ run: 1 });
    for (const id of ids) expect(app.runs('echo', id, 'inbox')).toBe(1);
    expect(new Set((await entryKeys(kind, keyv)).map((key) => key.split(':')[3])).size).toBe(ids.length);
  });

  it("does not let a crafted input reach another user's entry", async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    await app.caller('alice').echo('inbox');
    const [aliceKey] = await entryKeys(kind, keyv);
    const aliceScope = userSegment('alice');
    const hash = inputHash('inbox');
    const crafted: unknown[] = [
      aliceKey,
      `${aliceScope}:${hash}`,
      `inbox:${aliceScope}`,
      { user: 'alice', input: 'inbox' },
      ['inbox', aliceScope],
      `"inbox"`,
    ];
    const mallory = app.caller('mallory');
    for (const input of crafted) {
      const before = app.runs('echo', 'mallory', input);
      await mallory.echo(input);
      expect(app.runs('echo', 'mallory', input)).toBe(before + 1);
    }
    // Mallory's entries all live in Mallory's scope; Alice's entry is untouched and still hits.
    const malloryScope = userSegment('mallory');
    const scopes = new Set((await entryKeys(kind, keyv)).map((key) => key.split(':')[3]));
    expect(scopes).toEqual(new Set([aliceScope, malloryScope]));
    await app.caller('alice').echo('inbox');
    expect(app.runs('echo', 'alice', 'inbox')).toBe(1);
  });

  it('treats the numeric id 42 and the string "42" as one user, as the README documents', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    await app.caller(42).echo('inbox');
    expect(await app.caller('42').echo('inbox')).toEqual({ run: 1 });
    expect(app.runs('echo', '42', 'inbox')).toBe(0);
  });
});
