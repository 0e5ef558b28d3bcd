// How a client finds its call's entry in `X-Cache-Sync`: both sides digest the call's input the same way. The
// digest only has to tell apart the calls of one path within one response, so 32 bits are plenty, and FNV-1a is
// a few lines in any language.

/**
 * A plain object (what tRPC's keys and TanStack's hashing treat as a record).
 *
 * @example
 * ```ts
 * isPlainObject({ id: 1 }); // true; a Date, a Map or an array: false
 * ```
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Text that is equal for equal inputs, whatever their key order: `JSON.stringify` with the keys of plain objects
 * sorted (by UTF-16 code units), as TanStack Query's `hashKey` does; `''` for no input. Undefined for an input
 * JSON cannot hold (a BigInt): such a call has no known key.
 *
 * @example
 * ```ts
 * inputText({ b: 1, a: [2] }); // '{"a":[2],"b":1}'
 * ```
 */
export function inputText(input: unknown): string | undefined {
  if (input === undefined) return '';
  try {
    return JSON.stringify(input, (_, value: unknown) => {
      if (!isPlainObject(value)) return value;
      const sorted: Record<string, unknown> = {};
      for (const key of Object.keys(value).sort()) sorted[key] = value[key];
      return sorted;
    });
  } catch {
    return undefined;
  }
}

/**
 * The `in` of an `X-Cache-Sync` entry: FNV-1a (32 bits) of the UTF-8 bytes of {@link inputText}, as 8 lower-case
 * hex digits. Undefined when the input has no text.
 *
 * @example
 * ```ts
 * inputDigest({ id: 1 }); // the same string on the server, which got { id: 1 } after decoding
 * ```
 */
export function inputDigest(input: unknown): string | undefined {
  const text = inputText(input);
  if (text === undefined) return undefined;
  let hash = 0x811c9dc5;
  const byte = (value: number) => {
    hash = Math.imul(hash ^ value, 0x01000193);
  };
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x80) byte(code);
    else if (code < 0x800) {
      byte(0xc0 | (code >> 6));
      byte(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      byte(0xe0 | (code >> 12));
      byte(0x80 | ((code >> 6) & 0x3f));
      byte(0x80 | (code & 0x3f));
    } else {
      byte(0xf0 | (code >> 18));
      byte(0x80 | ((code >> 12) & 0x3f));
      byte(0x80 | ((code >> 6) & 0x3f));
      byte(0x80 | (code & 0x3f));
    }
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}
