import { expect } from 'vitest';
import type { ContractApp, ContractCtx } from './apps/contract.js';

/** A cached query of the contract app, named `user path input`, that a test can call and whose resolver runs it can count. */
export interface Probe {
  readonly name: string;
  call(): Promise<unknown>;
  runs(): number;
}

/** Users the probes run as: two named users, a numeric id and an anonymous caller. */
export const PROBE_USERS: readonly ContractCtx['user'][] = ['alice', 'bob', 42, null];

/** Name of a probe as `probeNames` lists it. */
export function probeName(user: ContractCtx['user'], query: string): string {
  return `${user === null ? 'anon' : String(user)} ${query}`;
}

/**
 * One probe per user and per user-scoped entry kind (paths under and beside
 * the `post` router, both tags), plus the public entries.
 */
export function probes(app: ContractApp): Probe[] {
  const list: Probe[] = [];
  for (const user of PROBE_USERS) {
    const c = app.caller(user);
    const add = (query: string, path: string, input: unknown, call: () => Promise<unknown>) =>
      list.push({ name: probeName(user, query), call, runs: () => app.runs(path, user, input) });
    add('post.list', 'post.list', undefined, () => c.post.list());
    add('post.list{page:2}', 'post.list', { page: 2 }, () => c.post.list({ page: 2 }));
    add('post.byId{1}', 'post.byId', { id: 1 }, () => c.post.byId({ id: 1 }));
    add('post.byId{2}', 'post.byId', { id: 2 }, () => c.post.byId({ id: 2 }));
    add('comment.list', 'comment.list', undefined, () => c.comment.list());
    add('postal.list', 'postal.list', undefined, () => c.postal.list());
  }
  const anon = app.caller(null);
  list.push({ name: 'public post.top', call: () => anon.post.top(), runs: () => app.runs('post.top', null) });
  list.push({ name: 'public feed', call: () => anon.feed(), runs: () => app.runs('feed', null) });
  return list;
}

/**
 * Warms every probe, checks that a second pass is served from the cache, runs
 * `action`, and returns the names of the probes whose resolver ran again: the
 * entries the action invalidated, and only those.
 */
export async function invalidatedBy(app: ContractApp, action: () => Promise<unknown>): Promise<string[]> {
  const all = probes(app);
  await callAll(all);
  const warm = all.map((probe) => probe.runs());
  await callAll(all);
  const cold = all.filter((probe, i) => probe.runs() !== warm[i]).map((probe) => probe.name);
  if (cold.length > 0) {
    const faults = app.errors.map((error) => error.message).join('; ');
    throw new Error(`probes did not hit before the action: ${cold.join(', ')}; cache faults: ${faults || 'none'}`);
  }
  await action();
  await callAll(all);
  return all.filter((probe, i) => probe.runs() !== warm[i]).map((probe) => probe.name);
}

/** Calls every probe at once: they are distinct entries, so concurrency changes nothing but the wall time. */
async function callAll(all: readonly Probe[]): Promise<void> {
  await Promise.all(all.map((probe) => probe.call()));
}

/** Every probe name of a user, for expectations. */
export function userProbeNames(user: ContractCtx['user']): string[] {
  return ['post.list', 'post.list{page:2}', 'post.byId{1}', 'post.byId{2}', 'comment.list', 'postal.list'].map((query) =>
    probeName(user, query),
  );
}

/**
 * Alice's `post.list` page 1 after `first`, her own first answer: a hit that runs no resolver, then after her
 * `post.touch` a miss with the next revision. What every store under the cache must serve.
 *
 * @example
 * ```ts
 * await expectHitThenInvalidated(app, await app.caller('alice').post.list({ page: 1 }));
 * ```
 */
export async function expectHitThenInvalidated(app: ContractApp, first: { rev: number }): Promise<void> {
  const alice = app.caller('alice');
  expect(await alice.post.list({ page: 1 })).toEqual(first);
  expect(app.runs('post.list', 'alice', { page: 1 })).toBe(1);
  await alice.post.touch();
  expect((await alice.post.list({ page: 1 })).rev).toBe(first.rev + 1);
  expect(app.runs('post.list', 'alice', { page: 1 })).toBe(2);
}
