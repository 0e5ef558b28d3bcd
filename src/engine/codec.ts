import { LRUCache } from 'lru-cache';
import superjson from 'superjson';

/** A result that cannot become an entry; the caller still gets it, uncached. */
export class UnencodableResultError extends Error {
  override readonly name = 'UnencodableResultError';
}

/**
 * Finds what superjson would silently drop (functions, symbols), so that a hit
 * never returns less than the miss did. Cycles are fine: superjson restores them.
 *
 * Returns whether the value is plain JSON that superjson writes without meta
 * (objects, arrays, strings, finite numbers, booleans, null; no shared
 * reference), so that the caller can skip superjson's own walk: for such a
 * value `{"json":` + JSON.stringify + `}` is exactly superjson's text.
 */
function assertEncodable(value: unknown): boolean {
  let plain = true;
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    const type = typeof node;
    if (type === 'function' || type === 'symbol') {
      throw new UnencodableResultError(`the result holds a ${type}, which a cached copy would lose`);
    }
    if (type !== 'object' || node === null) {
      if (type === 'undefined' || type === 'bigint' || (type === 'number' && (!Number.isFinite(node) || Object.is(node, -0)))) {
        plain = false;
      }
      continue;
    }
    if (seen.has(node as object)) {
      plain = false;
      continue;
    }
    seen.add(node as object);
    if (node instanceof Map) {
      plain = false;
      for (const [k, v] of node) stack.push(k, v);
    } else if (node instanceof Set) {
      plain = false;
      for (const v of node) stack.push(v);
    } else if (node instanceof Date || ArrayBuffer.isView(node)) {
      // superjson writes an invalid Date as plain null: a hit would return null where the miss returned the Date.
      if (node instanceof Date && Number.isNaN(node.getTime())) {
        throw new UnencodableResultError('the result holds an invalid Date, which a cached copy would turn into null');
      }
      plain = false;
    } else {
      const keys = Object.keys(node as object);
      const proto = Object.getPrototypeOf(node);
      if (proto === Array.prototype && keys.length !== (node as unknown[]).length) {
        // Likewise an array hole comes back as null.
        for (let i = 0; i < (node as unknown[]).length; i++) {
          if (!(i in (node as unknown[])))
            throw new UnencodableResultError('the result holds a sparse array, whose holes a cached copy would turn into null');
        }
      }
      if (proto === Array.prototype ? keys.length !== (node as unknown[]).length : proto !== Object.prototype) plain = false;
      for (const key of keys) {
        if (key === '__proto__' || key === 'constructor' || key === 'prototype') plain = false;
        stack.push((node as Record<string, unknown>)[key]);
      }
    }
  }
  return plain;
}

const hasOwn = Object.prototype.hasOwnProperty;
const toTag = Object.prototype.toString;

/**
 * Whether {@link copyValue} reproduces a decoded value exactly: a tree (the
 * caller checks superjson recorded no shared reference) of plain objects,
 * arrays, Dates, Maps, Sets and primitives. Anything else (a registered
 * class, a RegExp, an Error...) is left to superjson on every hit.
 */
function copyable(value: unknown, depth = 0): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (depth > 64) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === Array.prototype) {
    for (const key in value) {
      if (hasOwn.call(value, key) && !copyable((value as Record<string, unknown>)[key], depth + 1)) return false;
    }
    return true;
  }
  if (proto === Date.prototype) return toTag.call(value) === '[object Date]';
  if (proto === Map.prototype && value instanceof Map) {
    for (const [k, v] of value) if (!copyable(k, depth + 1) || !copyable(v, depth + 1)) return false;
    return true;
  }
  if (proto === Set.prototype && value instanceof Set) {
    for (const v of value) if (!copyable(v, depth + 1)) return false;
    return true;
  }
  return false;
}

/**
 * A deep copy of a {@link copyable} value: every object, array, Date, Map and
 * Set is new and primitives are immutable, so the copy shares nothing a
 * caller could change. Own keys in the same order, and `__proto__` stays an
 * own key (as JSON.parse makes it): the copy is indistinguishable from a decode.
 */
function copyValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const proto = Object.getPrototypeOf(value);
  if (proto === Array.prototype) {
    const array = value as unknown[];
    const length = array.length;
    const out: unknown[] = new Array(length);
    for (let i = 0; i < length; i++) out[i] = copyValue(array[i]);
    return out;
  }
  if (proto === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const key in value) {
      if (!hasOwn.call(value, key)) continue;
      const child = copyValue((value as Record<string, unknown>)[key]);
      if (key === '__proto__') Object.defineProperty(out, key, { value: child, enumerable: true, writable: true, configurable: true });
      else out[key] = child;
    }
    return out;
  }
  if (value instanceof Date) return new Date(value.getTime());
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    for (const [k, v] of value) out.set(copyValue(k), copyValue(v));
    return out;
  }
  const out = new Set<unknown>();
  for (const v of value as Set<unknown>) out.add(copyValue(v));
  return out;
}

/**
 * Entry payloads: superjson text, so Date, Map, Set, BigInt, undefined fields
 * and cycles come back as they went in, and every hit decodes a fresh copy
 * that a caller may mutate freely. One per engine, so that its templates live
 * and die with the caching instance.
 */
export class Codec {
  /**
   * Decoded payloads of recently hit entries, by entry key. They never leave
   * this object: a hit gets a {@link copyValue} of one, several times cheaper
   * than parsing the same text again. A template serves only the exact text it
   * was decoded from, so a new entry under the same key is decoded again.
   *
   * The first decode of a text only records it (`value` undefined) and the
   * template is kept from the second on, so that an entry read once per
   * eviction cycle costs a parse and nothing more. A value that copyValue
   * cannot reproduce is marked (`value` null) and always decoded by superjson.
   * Bounded in count and in text size (decoded values take a few times their
   * text): only the hot set pays memory for it.
   */
  private readonly templates = new LRUCache<string, { readonly text: string; value: object | null | undefined }>({
    max: 512,
    maxSize: 4 * 1024 * 1024,
    sizeCalculation: (template) => Math.max(1, template.text.length),
  });

  encode(value: unknown, maxBytes: number): string {
    const plain = assertEncodable(value);
    let text: string;
    try {
      text = plain ? `{"json":${JSON.stringify(value)}}` : superjson.stringify(value);
    } catch (cause) {
      throw new UnencodableResultError(`the result cannot be serialized: ${(cause as Error).message}`);
    }
    // UTF-16 length bounds UTF-8 bytes from below; the exact count only matters near the limit.
    if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) {
      throw new UnencodableResultError(`the result is larger than maxEntryBytes (${maxBytes})`);
    }
    return text;
  }

  /** A fresh copy of the value of `text`; `key` (the entry key) lets later hits copy a template instead of parsing. */
  decode(text: string, key?: string): unknown {
    const known = key === undefined ? undefined : this.templates.get(key);
    const seen = known !== undefined && known.text === text;
    if (seen && known.value) return copyValue(known.value);
    const parsed = JSON.parse(text) as Parameters<typeof superjson.deserialize>[0];
    const value: unknown = superjson.deserialize(parsed, { inPlace: true });
    if (key === undefined || typeof value !== 'object' || value === null) return value;
    if (!seen) {
      this.templates.set(key, { text, value: undefined });
      return value;
    }
    if (known.value === null) return value;
    if (parsed.meta?.referentialEqualities !== undefined || !copyable(value)) {
      known.value = null;
      return value;
    }
    known.value = value;
    return copyValue(value);
  }

  /** Drops every template (at close). */
  clear(): void {
    this.templates.clear();
  }
}
