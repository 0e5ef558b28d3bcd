import { describe, expect, it } from 'vitest';
import { createContractApp } from '../support/apps/contract.js';
import { entryKeys, storedRows } from '../support/inspect.js';
import { invalidatedBy, probes } from '../support/probes.js';
import { codeOf } from '../support/rejection.js';
import { storeKinds } from '../support/stores.js';

describe.each(storeKinds())('failed calls on $name', (kind) => {
  it('writes no entry for a query whose input fails validation, and runs no resolver', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const alice = app.caller('alice');
    for (const bad of [{ id: -1 }, { id: 1.5 }, { id: 'one' }, {}]) {
      expect(await codeOf(alice.strict(bad as { id: number }))).toBe('BAD_REQUEST');
    }
    expect(app.totalRuns('strict')).toBe(0);
    // A miss seeds the versions it found absent before the chain runs; no entry is written.
    expect(await entryKeys(kind, keyv)).toEqual([]);
  });

  it('writes no entry for a query whose resolver throws, so the next call runs it again', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const alice = app.caller('alice');
    expect(await codeOf(alice.broken({ id: 1 }))).toBe('NOT_FOUND');
    expect(await entryKeys(kind, keyv)).toEqual([]);
    expect(await codeOf(alice.broken({ id: 1 }))).toBe('NOT_FOUND');
    expect(app.runs('broken', 'alice', { id: 1 })).toBe(2);
    expect(app.errors).toEqual([]);
  });

  it('caches a valid input of the same procedure after an invalid one failed', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const alice = app.caller('alice');
    await expect(alice.strict({ id: 0 })).rejects.toThrow();
    await alice.strict({ id: 3 });
    await alice.strict({ id: 3 });
    expect(app.runs('strict', 'alice', { id: 3 })).toBe(1);
    expect(await entryKeys(kind, keyv)).toHaveLength(1);
  });

  it('invalidates nothing when a mutation fails input validation', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    let versionsBefore: string[] = [];
    const invalidated = await invalidatedBy(app, async () => {
      versionsBefore = (await storedRows(kind, keyv)).filter((row) => row.key.includes(':v:')).map((row) => `${row.key}=${row.text}`);
      expect(await codeOf(app.caller('alice').post.rename({ title: 'x' }))).toBe('BAD_REQUEST');
    });
    expect(invalidated).toEqual([]);
    const versionsAfter = (await storedRows(kind, keyv)).filter((row) => row.key.includes(':v:')).map((row) => `${row.key}=${row.text}`);
    expect(versionsAfter).toEqual(versionsBefore);
    expect(app.state.rev).toBe(0);
  });

  it('invalidates nothing when a mutation resolver throws', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    let versionsBefore: string[] = [];
    const invalidated = await invalidatedBy(app, async () => {
      versionsBefore = (await storedRows(kind, keyv)).filter((row) => row.key.includes(':v:')).map((row) => `${row.key}=${row.text}`);
      expect(await codeOf(app.caller('alice').post.explode())).toBe('CONFLICT');
    });
    expect(invalidated).toEqual([]);
    const versionsAfter = (await storedRows(kind, keyv)).filter((row) => row.key.includes(':v:')).map((row) => `${row.key}=${row.text}`);
    expect(versionsAfter).toEqual(versionsBefore);
  });

  it('invalidates everything its targets name once the same mutation succeeds (the failure cases are not vacuous)', async () => {
    const keyv = await kind.fresh();
    const app = createContractApp(keyv);
    const invalidated = await invalidatedBy(app, () => app.caller('alice').post.rename({ title: 'long enough' }));
    expect(invalidated).toHaveLength(probes(app).length);
  });
});
