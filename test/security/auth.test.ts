import { describe, expect, it } from 'vitest';
import { CounterDb, createCounterApp } from '../support/apps/counter.js';
import { codeOf as rejection } from '../support/rejection.js';
import { storeKinds } from '../support/stores.js';

// adrf-caching 0.1.0-0.1.4 read the cache before the permission check, so a
// revoked user (or an anonymous caller, for shared entries) got cached data.
describe.each(storeKinds())('the auth middleware of the base procedure, on $name', (kind) => {
  it("rejects a revoked user even though that user's entry is in the cache", async () => {
    const db = new CounterDb();
    const app = createCounterApp(db, await kind.fresh(), { timeout: 2_000 });
    const carol = app.caller('carol');
    await carol.counter.get({ name: 'secret' });
    await carol.counter.get({ name: 'secret' });
    expect(db.runs['counter.get']).toBe(1);

    db.banned.add('carol');
    for (let i = 0; i < 3; i++) expect(await rejection(carol.counter.get({ name: 'secret' }))).toBe('FORBIDDEN');
    expect(await rejection(carol.deep.nested.get({ name: 'secret' }))).toBe('FORBIDDEN');

    // The entry was there all along: once the ban is lifted it is a hit again.
    db.banned.delete('carol');
    expect(await carol.counter.get({ name: 'secret' })).toMatchObject({ user: 'carol', value: 0 });
    expect(db.runs['counter.get']).toBe(1);
  });

  it('rejects an anonymous caller and a revoked user on a public entry that others filled', async () => {
    const db = new CounterDb();
    const app = createCounterApp(db, await kind.fresh(), { timeout: 2_000 });
    await app.caller('alice').counter.bump({ name: 'a' });
    expect(await app.caller('alice').board()).toEqual({ total: 1 });
    expect(await app.caller('bob').board()).toEqual({ total: 1 });
    expect(db.runs.board).toBe(1);

    expect(await rejection(app.caller(null).board())).toBe('UNAUTHORIZED');
    db.banned.add('bob');
    expect(await rejection(app.caller('bob').board())).toBe('FORBIDDEN');
    expect(db.runs.board).toBe(1);
    expect(await app.caller('alice').board()).toEqual({ total: 1 });
    expect(db.runs.board).toBe(1);
  });

  it('lets no concurrent burst of rejected requests through while the entry is being served to others', async () => {
    const db = new CounterDb();
    const app = createCounterApp(db, await kind.fresh(), { timeout: 2_000 });
    db.banned.add('mallory');
    const calls = Array.from({ length: 60 }, (_, i) =>
      i % 3 === 0
        ? rejection(app.caller('mallory').board())
        : app
            .caller(`user${i}`)
            .board()
            .then(() => 'OK'),
    );
    const outcomes = await Promise.all(calls);
    outcomes.forEach((outcome, i) => {
      expect(outcome).toBe(i % 3 === 0 ? 'FORBIDDEN' : 'OK');
    });
  });
});
