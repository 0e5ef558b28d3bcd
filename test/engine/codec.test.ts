import superjson from 'superjson';
import { describe, expect, it, vi } from 'vitest';
import { Codec, TEMPLATE_CACHE_SIZE, UnencodableResultError } from '../../src/engine/codec.js';

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

  describe('templates of hot entries', () => {
    /** A typical result: 20 records of about 150 characters of JSON each (3 KB). */
    const result = (page: number) =>
      Array.from({ length: 20 }, (_, i) => ({
        id: page * 20 + i,
        title: `Post ${page * 20 + i}`,
        author: { id: `user-${i % 7}`, name: `Author ${i % 7}` },
        tags: ['node', 'trpc', i % 2 === 0 ? 'redis' : 'memory'],
        score: (i * 37) % 101,
        createdAt: new Date(Date.UTC(2025, 0, 1 + i)).toISOString(),
      }));
    /** JSON.parse calls made while decoding each entry once more. */
    function parsesOfOneMorePass(codec: Codec, entries: ReadonlyArray<{ key: string; text: string }>): number {
      const parse = vi.spyOn(JSON, 'parse');
      try {
        for (const { key, text } of entries) codec.decode(text, key);
        return parse.mock.calls.length;
      } finally {
        parse.mockRestore();
      }
    }

    it('copies every one of 2048 hot typical results instead of parsing it again, within the default bound', () => {
      const codec = new Codec();
      const entries = Array.from({ length: 2048 }, (_, page) => ({ key: `q:${page}`, text: codec.encode(result(page), 1 << 20) }));
      for (let pass = 0; pass < 2; pass++) for (const { key, text } of entries) codec.decode(text, key);
      expect(entries.reduce((sum, { text }) => sum + text.length + 512, 0)).toBeLessThan(TEMPLATE_CACHE_SIZE);
      expect(parsesOfOneMorePass(codec, entries)).toBe(0);
    });

    it('keeps templates within its size bound, parsing again the entries it had to drop', () => {
      const entries = Array.from({ length: 64 }, (_, page) => ({ key: `q:${page}`, text: JSON.stringify({ json: result(page) }) }));
      // Room for about 16 of them: a pass over 64 in turn finds none of its templates.
      const codec = new Codec(16 * (entries[0]?.text.length ?? 0));
      for (let pass = 0; pass < 2; pass++) for (const { key, text } of entries) codec.decode(text, key);
      expect(parsesOfOneMorePass(codec, entries)).toBe(64);
      // The last ones it saw were only recorded (the first decode of a text): their next decode keeps a template.
      expect(parsesOfOneMorePass(codec, entries.slice(-8))).toBe(8);
      expect(parsesOfOneMorePass(codec, entries.slice(-8))).toBe(0);
    });
  });
});
