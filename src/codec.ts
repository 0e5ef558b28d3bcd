import { LRUCache } from 'lru-cache';
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

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * A deep copy of a value made by JSON.parse: every object and array is new,
 * primitives are immutable, so the copy shares nothing a caller could change.
 * Own enumerable keys only, in the same order, and `__proto__` stays an own
 * key (as JSON.parse makes it), so the copy is indistinguishable from a parse.
 */
function copyJson(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const length = value.length;
    const out: unknown[] = new Array(length);
    for (let i = 0; i < length; i++) out[i] = copyJson(value[i]);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (!hasOwn.call(value, key)) continue;
    const child = copyJson((value as Record<string, unknown>)[key]);
    if (key === '__proto__') Object.defineProperty(out, key, { value: child, enumerable: true, writable: true, configurable: true });
    else out[key] = child;
  }
  return out;
}

/**
 * Parsed plain-JSON payloads (superjson wrote no meta: no Date, Map, cycle...)
 * of recently hit entries, by entry key. They never leave this module: a hit
 * gets a {@link copyJson} of one, several times cheaper than JSON.parse of the
 * same text. A template serves only the exact text it was parsed from, so a
 * new entry under the same key is parsed again. Bounded in count and text size.
 */
const templates = new LRUCache<string, { readonly text: string; readonly json: object }>({
  max: 1000,
  maxSize: 8 * 1024 * 1024,
  sizeCalculation: (template) => Math.max(1, template.text.length),
});

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
  /** A fresh copy of the value of `text`; `key` (the entry key) lets a plain-JSON payload be copied from a template. */
  decode(text: string, key?: string): unknown {
    if (key !== undefined) {
      const template = templates.get(key);
      if (template !== undefined && template.text === text) return copyJson(template.json);
    }
    const parsed = JSON.parse(text) as Parameters<typeof superjson.deserialize>[0];
    if (parsed.meta !== undefined || typeof parsed.json !== 'object' || parsed.json === null) {
      return superjson.deserialize(parsed, { inPlace: true });
    }
    if (key === undefined) return parsed.json;
    templates.set(key, { text, json: parsed.json });
    return copyJson(parsed.json);
  },
};
