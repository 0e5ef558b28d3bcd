import fc from 'fast-check';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { Codec, UnencodableResultError } from '../../src/engine/codec.js';

/**
 * Class-free values of every kind superjson carries and plain JSON does not: Dates, Maps (with object keys), Sets,
 * BigInts, undefined fields and elements, -0, NaN, ±Infinity, null-prototype objects, shared references, and
 * keys that name Object.prototype members. Sparse arrays and invalid Dates are left out: superjson writes a hole
 * and an invalid Date as `null`, so they are a matter of what superjson keeps, not of how the codec copies it.
 */
const { value } = fc.letrec<{ value: unknown; leaf: unknown; node: unknown }>((tie) => ({
  leaf: fc.oneof(
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.integer(),
    fc.double(),
    fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt(),
    fc.date({ noInvalidDate: true }),
  ),
  node: fc.oneof(
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('constructor', 'prototype', 'toString', 'json', 'meta')),
      tie('value'),
      {
        maxKeys: 4,
        noNullPrototype: false,
      },
    ),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
    // One object reached by two paths: superjson restores the sharing, so the codec must not copy it apart.
    tie('value').map((shared) => ({ left: shared, right: [shared] })),
  ),
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('node')),
}));

/**
 * Changes every mutable part of a decoded value in place: a caller who edits what a hit returned must not change
 * what the next hit returns.
 */
function vandalize(node: unknown, seen = new Set<object>()): void {
  if (typeof node !== 'object' || node === null || seen.has(node)) return;
  seen.add(node);
  if (node instanceof Date) {
    node.setTime(node.getTime() === 0 ? 1 : 0);
  } else if (node instanceof Map) {
    for (const [key, item] of node) {
      vandalize(key, seen);
      vandalize(item, seen);
    }
    node.set(Symbol('added'), 'added');
  } else if (node instanceof Set) {
    for (const item of node) vandalize(item, seen);
    node.add('added');
  } else if (Array.isArray(node)) {
    for (const item of node) vandalize(item, seen);
    node.push('added');
    node[0] = 'replaced';
  } else {
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      vandalize(record[key], seen);
      record[key] = 'replaced';
    }
    record.added = 'added';
  }
}

/**
 * Where a value reaches an object it reached before, as `path -> first path` pairs: equal values with a different
 * sharing (superjson restores shared references, a naive copy splits them) tell apart here, not in toStrictEqual.
 */
function sharing(root: unknown): string[] {
  const first = new Map<object, string>();
  const pairs: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (typeof node !== 'object' || node === null) return;
    const earlier = first.get(node);
    if (earlier !== undefined) {
      pairs.push(`${path} -> ${earlier}`);
      return;
    }
    first.set(node, path);
    if (node instanceof Map) {
      let i = 0;
      for (const [key, item] of node) {
        walk(key, `${path}.<key ${i}>`);
        walk(item, `${path}.<value ${i++}>`);
      }
    } else if (node instanceof Set) {
      let i = 0;
      for (const item of node) walk(item, `${path}.<item ${i++}>`);
    } else {
      for (const key of Object.keys(node)) walk((node as Record<string, unknown>)[key], `${path}.${key}`);
    }
  };
  walk(root, '$');
  return pairs;
}

describe('the entry codec', () => {
  it('decodes what superjson.parse gives, on the first, second and third hit, and each hit gets a copy it may change', () => {
    let run = 0;
    fc.assert(
      fc.property(value, (original) => {
        // A fresh codec and key per run: each run starts with no template, so the three decodes take the three paths
        // (parse and remember the text, parse and keep a template, copy the template).
        const codec = new Codec();
        const key = `trpc-caching:q:property:${run++}`;
        let text: string;
        try {
          text = codec.encode(original, 1024 * 1024);
        } catch (error) {
          // superjson refuses a `constructor` or `prototype` key on the path to a value it annotates (a Date in
          // `{ constructor: [date] }`); such a result is served uncached, so there is nothing to decode.
          if (error instanceof UnencodableResultError && /prototype pollution/.test(error.message)) return fc.pre(false);
          throw error;
        }
        const expected = superjson.parse(text);
        const decoded: unknown[] = [];
        for (let i = 0; i < 3; i++) {
          const copy = codec.decode(text, key);
          expect(copy).toStrictEqual(expected);
          expect(sharing(copy)).toEqual(sharing(expected));
          if (typeof copy === 'object' && copy !== null) for (const earlier of decoded) expect(copy).not.toBe(earlier);
          decoded.push(copy);
          vandalize(copy);
        }
        expect(codec.decode(text, key)).toStrictEqual(superjson.parse(text));
      }),
      { numRuns: 300 },
    );
  });
});
