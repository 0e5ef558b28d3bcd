import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalInput, UncacheableInputError } from '../../src/engine/canonical.js';
import { KeyFormat, scopeSegment, userScope } from '../../src/engine/keys.js';

const LIMITS = { maxInputBytes: 64 * 1024, maxInputDepth: 32 };
const keys = new KeyFormat('trpc-caching');
const key = (input: unknown) => keys.inputHash(input, LIMITS);
const user = (id: string, format = keys) => format.scopeSegment({ kind: 'user', id });

/** A Uint8Array of `bytes` that is a window in the middle of a larger buffer. */
function windowOn(bytes: number[]): Uint8Array {
  const buffer = new Uint8Array([9, 9, ...bytes, 9]).buffer;
  return new Uint8Array(buffer, 2, bytes.length);
}

/** `[<hole>, 1]`, built without a sparse literal. */
function holeThenOne(): unknown[] {
  const array: unknown[] = new Array(2);
  array[1] = 1;
  return array;
}

function withLastIndex(pattern: RegExp, lastIndex: number): RegExp {
  pattern.lastIndex = lastIndex;
  return pattern;
}

class Query {
  #secret: string;
  constructor(secret: string) {
    this.#secret = secret;
  }
  get secret(): string {
    return this.#secret;
  }
}

describe('input keys', () => {
  it.each<[string, unknown, unknown]>([
    ['regular expressions with different sources', { re: /^b/ }, { re: /^c/ }],
    ['regular expressions with different flags', /^b/, /^b/i],
    ['a global pattern and the same pattern part-way through a string', /a/g, withLastIndex(/a/g, 2)],
    ['patterns part-way through a string at different places', withLastIndex(/a/g, 1), withLastIndex(/a/g, 2)],
    ['a regular expression and its text', /^b/, '/^b/'],
    ['typed arrays of the same bytes but different types', new Uint8Array([1, 0]), new Uint16Array([1])],
    ['signed and unsigned bytes', new Int8Array([-1]), new Uint8Array([255])],
    ['a Uint8Array and a Buffer of the same bytes', new Uint8Array([97]), Buffer.from('a')],
    ['a DataView and an ArrayBuffer of the same bytes', new DataView(new ArrayBuffer(2)), new ArrayBuffer(2)],
    ['typed arrays of different bytes', new Float64Array([0]), new Float64Array([-0])],
    ['a typed array and an array of its numbers', new Uint8Array([1, 2]), [1, 2]],
    ['a plain object and a null-prototype object', {}, Object.create(null)],
    ['two dates', new Date(0), new Date(1)],
    ['an invalid date and null', new Date(Number.NaN), null],
    ['a date and its time stamp', new Date(0), 0],
    ['two URLs', new URL('https://example.com/a'), new URL('https://example.com/b')],
    ['a URL and its address', new URL('https://example.com/a'), 'https://example.com/a'],
    ['an array hole and undefined', holeThenOne(), [undefined, 1]],
    ['an array hole and null', holeThenOne(), [null, 1]],
    ['a field set to undefined and an absent field', { page: undefined }, {}],
    ['0 and -0', 0, -0],
    ['1 and "1"', 1, '1'],
    ['1n and 1', 1n, 1],
    ['NaN and null', Number.NaN, null],
    ['a Map and an object of the same entries', new Map([['a', 1]]), { a: 1 }],
    ['a Set and an array of the same items', new Set([1]), [1]],
    ['strings that differ in a lone surrogate', 'x\ud800', 'x\udc00'],
    ['a lone surrogate and the replacement character', 'x\ud800', 'x\ufffd'],
    ['keys that differ in a lone surrogate', { 'k\ud800': 1 }, { 'k\udc00': 1 }],
  ])('gives %s different keys', (_name, a, b) => {
    expect(key(a)).not.toBe(key(b));
  });

  it.each<[string, unknown, unknown]>([
    ['objects whose keys come in another order', { a: 1, b: { c: [1, 2], d: 'x' } }, { b: { d: 'x', c: [1, 2] }, a: 1 }],
    [
      'Maps filled in another order',
      new Map<unknown, unknown>([
        ['a', 1],
        [2, 'b'],
      ]),
      new Map<unknown, unknown>([
        [2, 'b'],
        ['a', 1],
      ]),
    ],
    ['Sets filled in another order', new Set([3, 1, 2]), new Set([1, 2, 3])],
    ['a pattern literal and the same pattern built at run time', /a+b/gi, /a+b/gi],
    ['URLs that normalize to one address', new URL('https://example.com/x/../a'), new URL('https://EXAMPLE.com/a')],
    ['a typed array and a window of the same bytes on a larger buffer', new Uint8Array([1, 2]), windowOn([1, 2])],
    ['equal dates', new Date(Date.UTC(2024, 1, 29)), new Date('2024-02-29T00:00:00.000Z')],
  ])('gives %s one key', (_name, a, b) => {
    expect(key(a)).toBe(key(b));
  });

  it.each<[string, unknown, RegExp]>([
    ['an Error', { filter: { cause: new Error('x') } }, /input holds an Error \(an Error\) at input\.filter\.cause;/],
    ['a TypeError', [new TypeError('x')], /input holds a TypeError \(an Error\) at input\[0\];/],
    ['a class instance with #private state', { q: new Query('a') }, /input holds an instance of class Query at input\.q;/],
    ['a boxed number', { n: new Number(1) }, /input holds a boxed Number \(new Number\(…\)\) at input\.n;/],
    ['a boxed string', new String('a'), /input holds a boxed String \(new String\(…\)\) at input;/],
    ['a subclass of Map', { m: new (class Registry extends Map {})() }, /an instance of Registry, a subclass of Map at input\.m;/],
    ['a subclass of Array', new (class Path extends Array {})(), /an instance of Path, a subclass of Array at input;/],
    ['a subclass of Date', { at: new (class Moment extends Date {})() }, /an instance of Moment, a subclass of Date at input\.at;/],
    ['a subclass of Uint8Array', new (class Bytes extends Uint8Array {})(2), /an instance of Bytes, a subclass of typed array at input;/],
    ['a subclass of URL', new (class Link extends URL {})('https://a/'), /an instance of Link, a subclass of URL at input;/],
    ['a Promise', { p: Promise.resolve(1) }, /input holds a Promise at input\.p;/],
    ['a WeakMap', { 'odd key': new WeakMap() }, /input holds a WeakMap at input\["odd key"\];/],
    [
      'an object with an object prototype',
      Object.create({ inherited: 1 }),
      /input holds an object whose prototype is neither Object\.prototype nor null at input;/,
    ],
    ['a function', { sort: () => 0 }, /input holds a function at input\.sort;/],
    ['a symbol', [1, Symbol('s')], /input holds a symbol at input\[1\];/],
    ['a function inside a Map value', { m: new Map([['k', () => 0]]) }, /input holds a function at input\.m\[Map entry 0\]\[1\];/],
    ['an Error as a Map key', new Map([[new Error('x'), 1]]), /an Error \(an Error\) at input\[Map entry 0\]\[0\];/],
    ['a class instance inside a Set', new Set([1, new Query('b')]), /an instance of class Query at input\[Set item 1\];/],
  ])('refuses %s and says where it sits', (_name, input, message) => {
    let refusal: unknown;
    try {
      canonicalInput(input, LIMITS);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(UncacheableInputError);
    expect((refusal as Error).message).toMatch(message);
    expect((refusal as Error).message).toMatch(
      /only plain objects, arrays, primitives, Date, RegExp, URL, Map, Set and binary data are keyed$/,
    );
  });

  it('refuses a cycle and names the field that closes it', () => {
    const node: Record<string, unknown> = { name: 'loop' };
    node.next = { back: node };
    expect(() => canonicalInput(node, LIMITS)).toThrow(/^input holds a cycle at input\.next\.back$/);
  });

  it('keys the same object reached twice, which is not a cycle', () => {
    const shared = { n: 1 };
    expect(key({ left: shared, right: shared })).toBe(key({ left: { n: 1 }, right: { n: 1 } }));
  });

  it('refuses a huge typed array, string or sparse array before copying it', () => {
    const small = { maxInputBytes: 100, maxInputDepth: 8 };
    expect(() => canonicalInput(new Uint8Array(1_000_000), small)).toThrow(/maxInputBytes \(100\)/);
    expect(() => canonicalInput('x'.repeat(1_000_000), small)).toThrow(/maxInputBytes \(100\)/);
    expect(() => canonicalInput(new Array(1_000_000_000), small)).toThrow(/maxInputBytes \(100\)/);
    expect(canonicalInput(new Uint8Array(10), small)).toBe('BUint8Array:AAAAAAAAAAAAAA==');
  });
});

describe('user scopes', () => {
  it('gives ids that differ only in a lone surrogate scopes of their own', () => {
    const ids = ['x\ud800', 'x\udc00', 'x\ufffd', 'x', 'x\ud800\udc00'];
    expect(new Set(ids.map((id) => user(id))).size).toBe(ids.length);
  });

  it('keeps the scope of a well-formed id what 0.1.0 stored, so old and new processes share its version', () => {
    const v010 = (prefix: string, id: string) =>
      `u.${createHash('sha256').update(prefix).update('\0').update(id).digest('hex').slice(0, 32)}`;
    for (const id of ['alice', 'tenant:7:admin', 'émilie', '🎉', '42']) {
      expect(user(id)).toBe(v010('trpc-caching', id));
      expect(scopeSegment('shop-api', { kind: 'user', id })).toBe(v010('shop-api', id));
    }
  });

  it('never lets the prefix and the id trade characters', () => {
    // Under 0.1.0's encoding both pairs hashed the bytes `a NUL b NUL c`.
    expect(user('b\0c', new KeyFormat('a'))).not.toBe(user('c', new KeyFormat('a\0b')));
    expect(user('\ud800', new KeyFormat('a'))).not.toBe(user('', new KeyFormat('a\ud800')));
  });

  it('gives the same id the same scope from every instance, memo or not', () => {
    const other = new KeyFormat('trpc-caching');
    for (const id of ['alice', 'x\ud800']) {
      expect(user(id, other)).toBe(user(id));
      expect(user(id, other)).toBe(user(id, other));
      expect(scopeSegment('trpc-caching', { kind: 'user', id })).toBe(user(id));
    }
    other.clear();
    expect(user('alice', other)).toBe(user('alice'));
  });

  it('names anonymous and public scopes plainly', () => {
    expect(keys.scopeSegment({ kind: 'anon' })).toBe('anon');
    expect(keys.scopeSegment({ kind: 'public' })).toBe('public');
  });
});

describe('key format', () => {
  it('tells its own version keys from entries and from another prefix', () => {
    expect(keys.isVersionKey(keys.tagVersion('post:1'))).toBe(true);
    expect(keys.isVersionKey(keys.allVersion())).toBe(true);
    expect(keys.isVersionKey(keys.entry('v', 'anon', key(1)))).toBe(false);
    expect(keys.isVersionKey(new KeyFormat('other').allVersion())).toBe(false);
  });

  it('hashes an input to the same 32 hex digits before and after its memo is cleared', () => {
    const input = { q: 'shoes', page: 2 };
    const first = key(input);
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(key(input)).toBe(first);
    keys.clear();
    expect(key(input)).toBe(first);
  });
});

describe('numeric user ids', () => {
  it('refuses a number beyond 2^53, which may already be another id rounded, and asks for a string', () => {
    expect(2 ** 53 + 1).toBe(2 ** 53);
    expect(() => userScope(2 ** 53 + 2)).toThrow(/as strings/);
    expect(() => userScope(1.5)).toThrow(/safe integer/);
    expect(userScope(42)).toEqual(userScope('42'));
    expect(userScope(String(2n ** 53n + 1n))).not.toEqual(userScope(String(2n ** 53n)));
  });
});
