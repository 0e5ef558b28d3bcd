import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { Codec, UnencodableResultError } from '../../src/engine/codec.js';

describe('the entry codec', () => {
  // superjson writes both as a bare null: a hit would answer null where the miss answered the value.
  it('refuses an invalid Date, which a cached copy would turn into null', () => {
    const value = { at: new Date(Number.NaN) };
    expect(superjson.parse(superjson.stringify(value))).toEqual({ at: null });
    expect(() => new Codec().encode(value, 1024)).toThrow(UnencodableResultError);
  });

  it('refuses a sparse array, whose holes a cached copy would turn into null', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    const value = { list: [1, , 3] };
    expect(() => new Codec().encode(value, 1024)).toThrow(/sparse array/);
    expect(new Codec().encode({ list: [1, undefined, 3] }, 1024)).toContain('undefined');
  });
});
