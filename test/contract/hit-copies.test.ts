import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type HarnessCtx, harness } from '../support/apps/harness.js';
import { storeKinds } from '../support/stores.js';

/** More entries than a count-bounded cache of decoded templates (512) would keep: every one of them hot. */
const HOT = 2_100;

/** A result with every kind of object a hit copies: Dates, a Map, a Set, nested arrays and objects. */
function record(id: number) {
  return {
    id,
    when: new Date(Date.UTC(2024, 0, 1 + (id % 28))),
    tags: new Set(['a', `t${id}`]),
    byId: new Map<number, { name: string; at: Date }>([[id, { name: `n${id}`, at: new Date(id) }]]),
    grid: [
      [1, 2],
      [3, { deep: [true, { id }] }],
    ],
    rows: Array.from({ length: 2 }, (_, i) => ({ i, label: `r${i}`, author: { id: `u${i}` }, marks: [i, i + 1] })),
  };
}

/** Changes every mutable part of a value in place, as a careless caller might. */
function vandalize(node: unknown): void {
  if (typeof node !== 'object' || node === null) return;
  if (node instanceof Date) {
    node.setTime(0);
  } else if (node instanceof Map) {
    for (const item of node.values()) vandalize(item);
    node.set('added', 'added');
  } else if (node instanceof Set) {
    node.add('added');
  } else if (Array.isArray(node)) {
    for (const item of node) vandalize(item);
    node.push('added');
  } else {
    const fields = node as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      vandalize(fields[key]);
      if (typeof fields[key] !== 'object') fields[key] = 'replaced';
    }
    fields.added = 'added';
  }
}

describe.each(storeKinds())('copies served by hits on $name', (kind) => {
  it(`never lets a caller that mutates a hit change what later hits return, for entries hit many times among ${HOT} hot ones`, async () => {
    const { t, authed, caching } = harness<HarnessCtx>(await kind.fresh(), { timeout: 5_000 });
    let runs = 0;
    const router = t.router({
      record: caching
        .cachedQuery(authed)
        .input(z.object({ id: z.number() }))
        .query(({ input }) => {
          runs++;
          return record(input.id);
        }),
    });
    caching.validateRouter(router);
    const alice = t.createCallerFactory(router)({ user: 'alice' });
    const ids = Array.from({ length: HOT }, (_, id) => id);
    // A miss, then hits: the first hits decode the entry, later ones copy what an earlier hit decoded.
    for (let pass = 0; pass < 3; pass++) {
      for (const id of ids) vandalize(await alice.record({ id }));
    }
    for (const id of ids) expect(await alice.record({ id })).toStrictEqual(record(id));
    expect(runs).toBe(HOT);
  });
});
