import superjson from 'superjson';

/** A result that cannot become an entry; the caller still gets it, uncached. */
export class UnencodableResultError extends Error {
  override readonly name = 'UnencodableResultError';
}

/**
 * Finds what superjson would silently drop (functions, symbols), so that a hit
 * never returns less than the miss did. Cycles are fine: superjson restores them.
 */
function assertEncodable(value: unknown): void {
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    const type = typeof node;
    if (type === 'function' || type === 'symbol') {
      throw new UnencodableResultError(`the result holds a ${type}, which a cached copy would lose`);
    }
    if (type !== 'object' || node === null || seen.has(node as object)) continue;
    seen.add(node as object);
    if (node instanceof Map) {
      for (const [k, v] of node) stack.push(k, v);
    } else if (node instanceof Set) {
      for (const v of node) stack.push(v);
    } else if (!(node instanceof Date) && !ArrayBuffer.isView(node)) {
      for (const key of Object.keys(node as object)) stack.push((node as Record<string, unknown>)[key]);
    }
  }
}

/**
 * Entry payloads: superjson text, so Date, Map, Set, BigInt, undefined fields
 * and cycles come back as they went in, and every hit decodes a fresh copy
 * that a caller may mutate freely.
 */
export const codec = {
  encode(value: unknown, maxBytes: number): string {
    assertEncodable(value);
    let text: string;
    try {
      text = superjson.stringify(value);
    } catch (cause) {
      throw new UnencodableResultError(`the result cannot be serialized: ${(cause as Error).message}`);
    }
    // UTF-16 length bounds UTF-8 bytes from below; the exact count only matters near the limit.
    if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) {
      throw new UnencodableResultError(`the result is larger than maxEntryBytes (${maxBytes})`);
    }
    return text;
  },
  decode(text: string): unknown {
    return superjson.parse(text);
  },
};
