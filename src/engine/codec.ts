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
/** Deepest nesting a template is kept for; deeper values are decoded by superjson on every hit. */
const MAX_DEPTH = 64;

/**
 * Whether {@link copyValue} reproduces a decoded value exactly: a tree (the
 * caller checks superjson recorded no shared reference) of plain objects,
 * arrays, Dates, Maps, Sets and primitives. Anything else (a registered
 * class, a RegExp, an Error...) is left to superjson on every hit.
 */
function copyable(value: unknown, depth = 0): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (depth > MAX_DEPTH) return false;
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
 * Templates copy their Maps and Sets (rare in results) with it; plain objects
 * and arrays go through a {@link Shape}.
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
      setOwn(out, key, copyValue((value as Record<string, unknown>)[key]));
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

/** `target[key] = value` as an own data property, even for `__proto__` (which an assignment would take as the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * How to copy one plain object or array of a template fast: a shallow copy of
 * it (spread or slice, which V8 does in one step for the object's whole
 * layout), then a fresh copy of each child that is an object, in place of the
 * template's own. `at` lists every key (index, for an array) whose value is an
 * object, so a copy shares nothing with the template; `inner` holds, at the
 * same position, what {@link shapeOf} made of the child.
 */
class Shape {
  constructor(
    private readonly base: Record<string, unknown> | unknown[],
    private readonly at: ReadonlyArray<string | number>,
    private readonly inner: readonly object[],
  ) {}

  copy(): object {
    const base = this.base;
    const out = (Array.isArray(base) ? base.slice() : { ...base }) as Record<string | number, unknown>;
    const { at, inner } = this;
    for (let i = 0; i < at.length; i++) {
      const child = copyTemplate(inner[i] as object);
      const key = at[i] as string | number;
      if (key === '__proto__') setOwn(out as Record<string, unknown>, key, child);
      else out[key] = child;
    }
    return out;
  }
}

/**
 * What a template keeps of a {@link copyable} object: a {@link Shape} for a
 * plain object or array with objects inside; the object itself for one with
 * none (most records' leaves: an author, a list of tags), which a spread or a
 * slice copies whole, and for a Date, Map or Set. Leaves take no shape of their
 * own, so a template costs little more than its decoded value.
 */
function shapeOf(value: object): object {
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype) return value;
  let at: Array<string | number> | undefined;
  let inner: object[] | undefined;
  const add = (key: string | number, child: unknown): void => {
    if (typeof child !== 'object' || child === null) return;
    at ??= [];
    inner ??= [];
    at.push(key);
    inner.push(shapeOf(child));
  };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) add(i, value[i]);
  } else {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) add(key, record[key]);
  }
  if (at === undefined || inner === undefined) return value;
  // Sliced to their length: an array grown by push keeps room for more, and a template lives long.
  return new Shape(value as Record<string, unknown> | unknown[], at.slice(), inner.slice());
}

/** A fresh copy of what {@link shapeOf} made. */
function copyTemplate(template: object): unknown {
  if (template instanceof Shape) return template.copy();
  // A plain object or array without objects inside: one spread or slice copies it.
  if (Array.isArray(template)) return template.slice();
  if (Object.getPrototypeOf(template) === Object.prototype) return { ...template };
  return copyValue(template);
}

/**
 * Most decoded templates one codec (one caching instance) keeps, counted as
 * the length of the stored entry each was decoded from plus
 * {@link TEMPLATE_OVERHEAD}. Room for about 2 000 hot results of 3 KB. A
 * template of a typical result (records of strings and numbers) takes about
 * three times its text in the heap, its decoded value and its shapes: the
 * default holds roughly 24 MiB at most (test/engine/codec.test.ts checks the
 * 2048-entry case fits).
 * @default 8 MiB (8 * 1024 * 1024)
 */
export const TEMPLATE_CACHE_SIZE = 8 * 1024 * 1024;

/**
 * What each template counts for beyond its text: its bookkeeping, so that
 * many tiny entries are bounded too (at most 16 384 templates by default).
 * @default 512
 */
export const TEMPLATE_OVERHEAD = 512;

/**
 * Entry payloads: superjson text, so Date, Map, Set, BigInt, undefined fields
 * and cycles come back as they went in, and every hit decodes a fresh copy
 * that a caller may mutate freely. One per engine, so that its templates live
 * and die with the caching instance.
 */
export class Codec {
  /**
   * Decoded payloads of recently hit entries, by entry key, as the
   * {@link Shape} that copies them. They never leave this object: a hit gets a
   * copy of one, several times cheaper than parsing the same text again. A template serves only the exact entry it
   * was decoded from, so a new entry under the same key is decoded again.
   *
   * The first decode of a text only records it (`value` undefined) and the
   * template is kept from the second on, so that an entry read once per
   * eviction cycle costs a parse and nothing more. A value that copyValue
   * cannot reproduce is marked (`value` null) and always decoded by superjson.
   * Bounded by size (see {@link TEMPLATE_CACHE_SIZE}) rather than by count, so
   * that a hot set of thousands of typical results is copied, not parsed; only
   * the hot set pays memory for it.
   */
  private readonly templates: LRUCache<string, { readonly source: string; value: object | null | undefined }>;

  /** @param maxSize Most text (plus {@link TEMPLATE_OVERHEAD} each) of the templates kept. @default TEMPLATE_CACHE_SIZE */
  constructor(maxSize = TEMPLATE_CACHE_SIZE) {
    this.templates = new LRUCache({ maxSize, sizeCalculation: (template) => template.source.length + TEMPLATE_OVERHEAD });
  }

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

  /**
   * A fresh copy of the value of `text`; `key` (the entry key) lets later hits copy a template instead of parsing.
   * `source` is the stored entry `text` was read from (by default `text` itself): a template serves only the very
   * source it was decoded from, matched by identity first, since the in-memory store hands back the same string at
   * every read (two different strings of the same entry compare equal by content).
   */
  decode(text: string, key?: string, source: string = text): unknown {
    const known = key === undefined ? undefined : this.templates.get(key);
    const seen = known !== undefined && known.source === source;
    if (seen && known.value) return copyTemplate(known.value);
    const parsed = JSON.parse(text) as Parameters<typeof superjson.deserialize>[0];
    const value: unknown = superjson.deserialize(parsed, { inPlace: true });
    if (key === undefined || typeof value !== 'object' || value === null) return value;
    if (!seen) {
      this.templates.set(key, { source, value: undefined });
      return value;
    }
    if (known.value === null) return value;
    if (parsed.meta?.referentialEqualities !== undefined || !copyable(value)) {
      known.value = null;
      return value;
    }
    known.value = shapeOf(value);
    return copyTemplate(known.value);
  }

  /** Drops every template (at close). */
  clear(): void {
    this.templates.clear();
  }
}
