import fc from 'fast-check';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { canonicalInput, UncacheableInputError } from '../../src/engine/canonical.js';
import { KeyFormat } from '../../src/engine/keys.js';

const LIMITS = { maxInputBytes: 64 * 1024, maxInputDepth: 32 };

/** The canonical key of a value, or undefined when the cache refuses to key it. */
function keyOf(value: unknown): string | undefined {
  try {
    return canonicalInput(value, LIMITS);
  } catch (error) {
    if (error instanceof UncacheableInputError) return undefined;
    throw error;
  }
}

/**
 * What the superjson transformer sends for a value, in a normal form: object keys sorted and Map/Set
 * items sorted by their own text (the two orders the key deliberately ignores), and every node a fresh
 * copy, so that no shared reference shows up in superjson's output. Undefined when superjson cannot
 * send the value at all (a BigInt64Array, whose items JSON cannot write).
 */
function sent(value: unknown): string | undefined {
  try {
    return superjson.stringify(normalize(value));
  } catch {
    return undefined;
  }
}

function normalize(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) if (i in value) copy[i] = normalize(value[i]);
    return copy;
  }
  if (value instanceof Map) return new Map(sortedByText([...value].map(([k, v]) => [normalize(k), normalize(v)] as const)));
  if (value instanceof Set) return new Set(sortedByText([...value].map(normalize)));
  if (value instanceof Date) return new Date(value.getTime());
  if (value instanceof RegExp) return new RegExp(value);
  if (value instanceof URL) return new URL(value.href);
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return (value as Uint8Array).slice();
  if (value instanceof DataView || value instanceof ArrayBuffer) return {};
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const copy = Object.create(proto as object | null) as Record<string, unknown>;
  for (const key of Object.keys(value).sort()) {
    Object.defineProperty(copy, key, {
      value: normalize((value as Record<string, unknown>)[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

function sortedByText<T>(items: T[]): T[] {
  return items
    .map((item) => ({ item, text: superjson.stringify(item) }))
    .sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0))
    .map(({ item }) => item);
}

/** An object with these fields in this order; `__proto__` becomes an own field, as JSON.parse makes it. */
function objectOf(entries: Array<readonly [string, unknown]>, proto: object | null = Object.prototype): Record<string, unknown> {
  const object = Object.create(proto) as Record<string, unknown>;
  for (const [key, value] of entries) {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return object;
}

/** The same value with every object's fields and every Map and Set filled in reverse order. */
function reversed(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(reversed);
  if (value instanceof Map) return new Map([...value].reverse().map(([k, v]) => [reversed(k), reversed(v)]));
  if (value instanceof Set) return new Set([...value].reverse().map(reversed));
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const entries = Object.keys(value)
    .reverse()
    .map((key) => [key, reversed((value as Record<string, unknown>)[key])] as const);
  return objectOf(entries, proto as object | null);
}

type Confusion = 'holes' | 'prototypes' | 'fields';

/**
 * A lookalike of a value that a careless key walk would confuse with it: array holes and undefined items
 * swapped, plain and null-prototype objects swapped, or fields set to undefined dropped. Each run checks
 * every input against its lookalikes, so these confusions are tried in every run, not only by chance.
 */
function lookalike(value: unknown, confusion: Confusion): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      // Left unassigned, an index stays a hole.
      if (!(i in value)) {
        if (confusion === 'holes') copy[i] = undefined;
      } else if (value[i] !== undefined || confusion !== 'holes') {
        copy[i] = lookalike(value[i], confusion);
      }
    }
    return copy;
  }
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [lookalike(k, confusion), lookalike(v, confusion)]));
  if (value instanceof Set) return new Set([...value].map((item) => lookalike(item, confusion)));
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const entries = Object.entries(value)
    .filter(([, field]) => confusion !== 'fields' || field !== undefined)
    .map(([key, field]) => [key, lookalike(field, confusion)] as const);
  return objectOf(entries, confusion !== 'prototypes' ? (proto as object | null) : proto === null ? Object.prototype : null);
}

// Small domains, so that a run draws many values that are alike but not equal: that is where keys collide.
const codeUnit = fc.oneof(
  fc.constantFrom('a', '1', '"', ':', '\0', '\ud800', '\udc00', '\ufffd', '\\'),
  fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
);
const text = fc.oneof(fc.constantFrom('', 'a', '1', 'true', 'null', 'd1', '/^b/'), fc.string({ unit: codeUnit, maxLength: 3 }));
const sentFieldName = fc.constantFrom('a', 'b', '1', '', 'k\ud800', 'k\udc00', 'toString');
// superjson refuses to send these (a prototype pollution guard); JSON and in-process callers do not.
const anyFieldName = fc.oneof(sentFieldName, fc.constantFrom('__proto__', 'constructor', 'prototype'));
const smallInts = fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 3 });
const pattern = fc
  .tuple(fc.constantFrom('a', '^b', '^c', 'a+b', '\ud800', '/'), fc.constantFrom('', 'g', 'i', 'gi', 'y'))
  .map(([source, flags]) => new RegExp(source, flags));

/** Leaves a transformer delivers exactly as sent (superjson): what an HTTP client can make a procedure see. */
const sentLeaf = fc.oneof(
  fc.constantFrom<unknown>(0, -0, 1, 2, -1.5, Number.NaN, Number.POSITIVE_INFINITY, true, false, null, undefined),
  fc.bigInt({ min: -2n, max: 2n }),
  text,
  fc.integer({ min: 0, max: 2 }).map((ms) => new Date(ms)),
  pattern,
  fc.constantFrom('https://a.example/', 'https://a.example/x', 'https://b.example/x?y=1').map((href) => new URL(href)),
  smallInts.map((ints) => new Uint8Array(ints)),
  smallInts.map((ints) => new Int8Array(ints)),
  smallInts.map((ints) => new Uint16Array(ints)),
  smallInts.map((ints) => new Float64Array(ints)),
);

/** Leaves that only an in-process caller can pass, or that superjson sends lossily, or that the cache refuses. */
const otherLeaf = fc.oneof(
  fc.constant(new Date(Number.NaN)).map((date) => new Date(date.getTime())),
  fc.tuple(pattern, fc.integer({ min: 1, max: 2 })).map(([re, lastIndex]) => Object.assign(re, { lastIndex })),
  fc.constantFrom(-0, Number.NaN, 0).map((n) => new Float64Array([n])),
  smallInts.map((ints) => Buffer.from(ints)),
  smallInts.map((ints) => new DataView(new Uint8Array(ints).buffer)),
  smallInts.map((ints) => new Uint8Array(ints).buffer),
  smallInts.map((ints) => new BigInt64Array(ints.map(BigInt))),
  text.map((message) => new Error(message)),
  fc.integer().map(
    (n) =>
      new (class Box {
        readonly n = n;
      })(),
  ),
  fc.integer({ min: 0, max: 2 }).map((n) => new Number(n)),
);

function values(leaf: fc.Arbitrary<unknown>, inProcess: boolean): fc.Arbitrary<unknown> {
  const fieldName = inProcess ? anyFieldName : sentFieldName;
  return fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: 3 },
      { weight: 4, arbitrary: leaf },
      fc.array(tie('value'), { maxLength: 3 }),
      fc.array(fc.tuple(fieldName, tie('value')), { maxLength: 3 }).map((entries) => objectOf(entries)),
      fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
      fc.array(tie('value'), { maxLength: 3 }).map((items) => new Set(items)),
      ...(inProcess
        ? [
            fc.sparseArray(tie('value'), { maxLength: 3 }),
            fc.array(fc.tuple(fieldName, tie('value')), { maxLength: 3 }).map((entries) => objectOf(entries, null)),
          ]
        : []),
    ),
  })).value;
}

const anyInput = values(fc.oneof(sentLeaf, otherLeaf), true);
const sentInput = values(sentLeaf, false);

describe('canonical input keys', () => {
  it('never gives one key to two inputs that superjson sends differently', () => {
    fc.assert(
      fc.property(fc.array(anyInput, { minLength: 1, maxLength: 12 }), (drawn) => {
        const confusions: Confusion[] = ['holes', 'prototypes', 'fields'];
        const inputs = drawn.flatMap((input) => [input, ...confusions.map((confusion) => lookalike(input, confusion))]);
        const firstSent = new Map<string, string>();
        for (const input of inputs) {
          const key = keyOf(input);
          const text = sent(input);
          if (key === undefined || text === undefined) continue;
          const earlier = firstSent.get(key);
          if (earlier === undefined) firstSent.set(key, text);
          else expect(text).toBe(earlier);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('gives one key to inputs that superjson sends alike, whatever their field and item order', () => {
    fc.assert(
      fc.property(fc.array(sentInput, { minLength: 2, maxLength: 24 }), (inputs) => {
        const keys = inputs.map(keyOf);
        const texts = inputs.map(sent);
        for (let i = 0; i < inputs.length; i++) {
          expect(keys[i]).toBeDefined();
          expect(keyOf(reversed(inputs[i]))).toBe(keys[i]);
          for (let j = i + 1; j < inputs.length; j++) expect(keys[i] === keys[j]).toBe(texts[i] === texts[j]);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('keys what a procedure receives after superjson exactly as what the client sent', () => {
    fc.assert(
      fc.property(sentInput, (input) => {
        // Where superjson itself does not carry a value faithfully (a Map keyed by a Map that holds NaN loses that
        // entry), the procedure receives another value, keyed as such: only inputs it carries are compared.
        const sent = superjson.stringify(input);
        fc.pre(superjson.stringify(superjson.parse(sent)) === sent);
        expect(keyOf(superjson.parse(sent))).toBe(keyOf(input));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses only with an UncacheableInputError, whatever the input', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        keyOf(input);
      }),
      { numRuns: 300 },
    );
  });
});

describe('user scope segments', () => {
  const id = fc.string({ unit: codeUnit, minLength: 1, maxLength: 4 });

  it('gives distinct ids, lone surrogates, NUL and ":" included, distinct segments', () => {
    fc.assert(
      fc.property(fc.uniqueArray(id, { minLength: 2, maxLength: 40 }), (ids) => {
        const keys = new KeyFormat('trpc-caching');
        const segments = ids.map((user) => keys.scopeSegment({ kind: 'user', id: user }));
        expect(new Set(segments).size).toBe(ids.length);
        for (const segment of segments) expect(segment).toMatch(/^u\.[0-9a-f]{32}$/);
      }),
      { numRuns: 300 },
    );
  });
});
