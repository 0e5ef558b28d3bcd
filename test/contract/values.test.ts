import { describe, expect, it } from 'vitest';
import { createContractApp, SAMPLE_VALUES, type SampleName } from '../support/apps/contract.js';
import { storeKinds } from '../support/stores.js';

const FALSY: SampleName[] = ['null', 'zero', 'false', 'empty', 'emptyArray', 'emptyObject'];
const PLAIN_EDGES: SampleName[] = ['plainNegativeZero', 'plainHoles', 'plainUndefinedField', 'plainNaN', 'plainText'];

describe.each(storeKinds())('cached values on $name', (kind) => {
  it('serves a hit without running the resolver again', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    const miss = await alice.post.byId({ id: 7 });
    const hit = await alice.post.byId({ id: 7 });
    expect(hit).toEqual(miss);
    expect(app.runs('post.byId', 'alice', { id: 7 })).toBe(1);
    expect(app.errors).toEqual([]);
  });

  it('caches null, 0, false, the empty string, [] and {} like any other value', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    for (const name of FALSY) {
      const expected = SAMPLE_VALUES[name];
      expect(await alice.value(name), name).toStrictEqual(expected);
      for (let i = 0; i < 3; i++) expect(await alice.value(name), name).toStrictEqual(expected);
      expect(app.runs('value', 'alice', name), name).toBe(1);
    }
  });

  it('returns on a hit a value equal to the miss, with Date, Map, Set, BigInt and undefined fields intact', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    const miss = await alice.value('rich');
    const hit = await alice.value('rich');
    expect(app.runs('value', 'alice', 'rich')).toBe(1);
    expect(hit).toStrictEqual(miss);
    if (typeof hit !== 'object' || hit === null || !('when' in hit)) throw new Error('expected the rich sample');
    expect(hit.when).toBeInstanceOf(Date);
    expect(hit.when.toISOString()).toBe('2024-02-29T12:00:00.123Z');
    expect(hit.tags).toBeInstanceOf(Set);
    expect([...hit.tags]).toEqual(['a', 'b']);
    expect(hit.byId).toBeInstanceOf(Map);
    expect(hit.byId.get(1)).toEqual({ name: 'one' });
    expect(typeof hit.big).toBe('bigint');
    expect(hit.big).toBe(12345678901234567890n);
    expect(Object.keys(hit)).toContain('missing');
    expect(hit.missing).toBeUndefined();
    expect(hit.nested).toEqual({ list: [1, { deep: true }], nothing: null });
  });

  it('returns on a hit -0, NaN, Infinity, array holes, nested Dates, RegExps and shared references as the miss did', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    const miss = await alice.value('edge');
    const hit = await alice.value('edge');
    expect(app.runs('value', 'alice', 'edge')).toBe(1);
    expect(hit).toStrictEqual(miss);
    if (typeof hit !== 'object' || hit === null || !('negativeZero' in hit)) throw new Error('expected the edge sample');
    expect(Object.is(hit.negativeZero, -0)).toBe(true);
    expect(hit.notANumber).toBeNaN();
    expect(hit.infinity).toBe(Number.NEGATIVE_INFINITY);
    expect(hit.holes).toEqual([1, undefined, 3]);
    expect(hit.datesInside[0]).toBeInstanceOf(Date);
    expect((hit.datesInside[1] as { at: Date }).at).toBeInstanceOf(Date);
    expect(hit.pattern).toBeInstanceOf(RegExp);
    expect(hit.pattern.flags).toBe('gi');
    // One object referenced twice stays one object, as it was in the resolver's result.
    expect(hit.shared.left).toBe(hit.shared.right);
    expect(hit.text).toBe(SAMPLE_VALUES.edge().text);
  });

  it('returns on a hit exactly what the miss returned for otherwise plain values holding -0, holes, undefined, NaN or odd text', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    for (const name of PLAIN_EDGES) {
      const miss = await alice.value(name);
      const hit = await alice.value(name);
      expect(app.runs('value', 'alice', name), name).toBe(1);
      expect(hit, name).toStrictEqual(miss);
      expect(hit, name).toStrictEqual(SAMPLE_VALUES[name]);
    }
  });

  it('keeps one object referenced twice in an otherwise plain value as one object on a hit', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    await alice.value('plainShared');
    const hit = await alice.value('plainShared');
    expect(app.runs('value', 'alice', 'plainShared')).toBe(1);
    if (typeof hit !== 'object' || hit === null || !('left' in hit)) throw new Error('expected the shared sample');
    expect(hit).toStrictEqual({ left: { n: 1 }, right: { n: 1 } });
    expect(hit.left).toBe(hit.right);
  });

  it('does not let a caller that mutates a returned object change what the next hit returns', async () => {
    const app = createContractApp(await kind.fresh());
    const alice = app.caller('alice');
    const miss = await alice.value('rich');
    const pristine = SAMPLE_VALUES.rich();
    if (typeof miss !== 'object' || miss === null || !('when' in miss)) throw new Error('expected the rich sample');
    miss.when.setFullYear(1999);
    miss.tags.add('injected');
    miss.nested.list.push(99);
    const hit = await alice.value('rich');
    if (typeof hit !== 'object' || hit === null || !('when' in hit)) throw new Error('expected the rich sample');
    expect(hit).toStrictEqual(pristine);
    hit.byId.set(2, { name: 'two' });
    (hit.nested.list[1] as { deep: boolean }).deep = false;
    hit.nested.list.push(7);
    expect(await alice.value('rich')).toStrictEqual(pristine);
    expect(app.runs('value', 'alice', 'rich')).toBe(1);
  });
});
