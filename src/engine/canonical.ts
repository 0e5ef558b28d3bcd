/**
 * Bounds that keep key derivation cheap whatever a client sends.
 *
 * @example
 * ```ts
 * canonicalInput(input, { maxInputBytes: 64 * 1024, maxInputDepth: 32 });
 * ```
 */
export interface InputLimits {
  /** Longest canonical input, in characters, that is hashed; a longer one bypasses the cache. @default 65536 */
  readonly maxInputBytes: number;
  /** Deepest nesting of an input; a deeper one bypasses the cache. @default 32 */
  readonly maxInputDepth: number;
}

/**
 * Raised while canonicalizing an input that the cache will not key: too large,
 * too deep, cyclic, or holding a value that cannot be keyed exactly (a class
 * instance, an Error, a function…). The call then bypasses the cache.
 *
 * @example
 * ```ts
 * try { canonicalInput({ at: new Error('x') }, limits); }
 * catch (error) { if (error instanceof UncacheableInputError) error.path; } // 'input.at'
 * ```
 */
export class UncacheableInputError extends Error {
  override readonly name = 'UncacheableInputError';
  /** Where the refused value sits (`input.filter.re`); undefined when a limit, not a value, is at fault. */
  readonly path: string | undefined;

  constructor(message: string, path?: string) {
    super(message);
    this.path = path;
  }
}

/**
 * Canonical text of an input, hashed into the entry key. Two inputs share it
 * only if a procedure cannot tell them apart, but for object key order, Map/Set
 * insertion order and sharing (two equal copies key like one object seen
 * twice). So `1` and `"1"`, `-0` and `0`, an absent field and one set to
 * `undefined` (`{ page: 1, ...input }` tells them apart), `/^b/` and `/^c/`,
 * `Uint8Array [1, 0]` and `Uint16Array [1]` all differ. Any object whose
 * prototype is not listed below (class instances, whose `#private` state no
 * walk can see; subclasses of built-ins; Errors; boxed primitives) and any
 * function is refused with an {@link UncacheableInputError} naming its path.
 *
 * The text is unambiguous: every value starts with its own type mark and
 * strings are JSON-quoted (lone surrogates escaped, so the UTF-8 that MD5
 * reads is lossless):
 *
 * | value | text |
 * | --- | --- |
 * | string | JSON string |
 * | number, bigint | `d` + number (`d-0`, `dNaN`), `b` + digits |
 * | true, false, null, undefined, array hole | `t`, `f`, `n`, `u`, `h` |
 * | plain object, null-prototype object | `{"k":v,…}`, `O{"k":v,…}`, keys sorted |
 * | array | `[v,…]` |
 * | Map, Set | `M[[k,v],…]`, `S[v,…]`, items sorted by their text |
 * | Date (invalid too) | `D` + epoch ms (`DNaN`) |
 * | RegExp | `R` + JSON source + flags (+ `@` + lastIndex's text when not 0) |
 * | URL | `L` + JSON href |
 * | typed array, Buffer, DataView, ArrayBuffer | `B` + type name + `:` + base64 of the bytes in view |
 *
 * Bounded in depth and length, with huge collections refused before any work,
 * so that a hostile input cannot stall or crash the process.
 *
 * @example
 * ```ts
 * canonicalInput({ b: 1, a: [/x/g, 2n] }, limits); // '{"a":[R"x"g,b2],"b":d1}'
 * ```
 */
export function canonicalInput(value: unknown, limits: InputLimits): string {
  const state: Walk = { text: '', max: limits.maxInputBytes, limits, seen: new Set() };
  try {
    walk(state, value, 0);
  } catch (error) {
    if (error instanceof Refusal) {
      const path = `input${error.segments.reverse().join('')}`;
      throw new UncacheableInputError(`input holds ${error.what} at ${path}${error.what === CYCLE ? '' : KEYED}`, path);
    }
    throw error;
  }
  return state.text;
}

/**
 * The text written so far and its budget. Module-level functions over this
 * record, rather than closures, keep a hit free of per-call allocations
 * beyond the record and its cycle set.
 */
interface Walk {
  text: string;
  /** Longest this text may grow: the input's budget, or what a Map/Set item has left of it. */
  readonly max: number;
  readonly limits: InputLimits;
  readonly seen: Set<object>;
}

/** A refused value. Not an Error (no stack): each level it passes on the way out adds its path segment. */
class Refusal {
  readonly segments: string[] = [];
  constructor(readonly what: string) {}
}

const CYCLE = 'a cycle';
const KEYED = '; only plain objects, arrays, primitives, Date, RegExp, URL, Map, Set and binary data are keyed';

function within(error: unknown, segment: string): unknown {
  if (error instanceof Refusal) error.segments.push(segment);
  return error;
}

function tooLarge(state: Walk): UncacheableInputError {
  return new UncacheableInputError(`input is larger than maxInputBytes (${state.limits.maxInputBytes})`);
}

function emit(state: Walk, text: string): void {
  if (state.text.length + text.length > state.max) throw tooLarge(state);
  state.text += text;
}

/** Binary types by exact prototype: a subclass, with state or behaviour of its own, is refused, not keyed as its base. */
const BINARY_TYPES = new Map<object, string>();
const TYPED_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array];
for (const type of [...TYPED_ARRAYS, Float64Array, BigInt64Array, BigUint64Array, Buffer, DataView, ArrayBuffer, SharedArrayBuffer]) {
  BINARY_TYPES.set(type.prototype, type.name);
}

function walk(state: Walk, node: unknown, depth: number): void {
  switch (typeof node) {
    case 'string':
      // JSON text is at least two characters longer: refuse a huge string before copying it.
      if (state.text.length + node.length + 2 > state.max) throw tooLarge(state);
      emit(state, JSON.stringify(node));
      return;
    case 'number':
      // String(-0) is "0", but a procedure can tell them apart (Object.is, 1 / x) and superjson carries -0.
      emit(state, Object.is(node, -0) ? 'd-0' : `d${node}`);
      return;
    case 'boolean':
      emit(state, node ? 't' : 'f');
      return;
    case 'bigint':
      emit(state, `b${node}`);
      return;
    case 'undefined':
      emit(state, 'u');
      return;
    case 'function':
    case 'symbol':
      throw new Refusal(`a ${typeof node}`);
  }
  if (node === null) {
    emit(state, 'n');
    return;
  }
  if (depth >= state.limits.maxInputDepth) {
    throw new UncacheableInputError(`input is nested deeper than maxInputDepth (${state.limits.maxInputDepth})`);
  }
  const object = node as object;
  if (state.seen.has(object)) throw new Refusal(CYCLE);
  state.seen.add(object);
  const proto: unknown = Object.getPrototypeOf(object);
  if (proto === Object.prototype) {
    walkObject(state, object as Record<string, unknown>, depth, '{');
  } else if (proto === Array.prototype) {
    walkArray(state, object as unknown[], depth);
  } else if (proto === null) {
    // superjson and JSON deliver both as plain objects, so over HTTP this mark never splits entries; an
    // in-process caller can pass either, and a procedure can tell them apart (`'toString' in input`).
    walkObject(state, object as Record<string, unknown>, depth, 'O{');
  } else if (proto === Date.prototype) {
    emit(state, `D${(object as Date).getTime()}`);
  } else if (proto === Map.prototype) {
    walkCollection(state, object as Map<unknown, unknown>, depth, 'M[');
  } else if (proto === Set.prototype) {
    walkCollection(state, object as Set<unknown>, depth, 'S[');
  } else if (proto === RegExp.prototype) {
    const pattern = object as RegExp;
    emit(state, `R${JSON.stringify(pattern.source)}${pattern.flags}`);
    // Where the next exec or test of a global or sticky pattern starts: part of what the procedure sees.
    if (pattern.lastIndex !== 0) {
      emit(state, '@');
      walk(state, pattern.lastIndex, depth + 1);
    }
  } else if (proto === URL.prototype) {
    // superjson carries a URL as its href and rebuilds it; the href is the whole state of a URL.
    emit(state, `L${JSON.stringify((object as URL).href)}`);
  } else {
    const type = BINARY_TYPES.get(proto as object);
    if (type === undefined) throw new Refusal(describeObject(object, proto as object));
    walkBinary(state, object, type);
  }
  state.seen.delete(object);
}

function walkObject(state: Walk, object: Record<string, unknown>, depth: number, open: string): void {
  const keys = Object.keys(object);
  // A field takes at least four characters (`"":u`): refuse a huge object before sorting its keys.
  if (keys.length * 4 > state.max - state.text.length) throw tooLarge(state);
  keys.sort();
  emit(state, open);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    emit(state, i === 0 ? `${JSON.stringify(key)}:` : `,${JSON.stringify(key)}:`);
    // A field set to undefined is kept (`u`): superjson delivers it, and `{ page: 1, ...input }` tells it from an absent one.
    try {
      walk(state, object[key], depth + 1);
    } catch (error) {
      throw within(error, /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`);
    }
  }
  emit(state, '}');
}

function walkArray(state: Walk, array: unknown[], depth: number): void {
  // Every element takes at least one character: refuse a huge (or huge sparse) array before walking it.
  if (array.length > state.max - state.text.length) throw tooLarge(state);
  emit(state, '[');
  for (let i = 0; i < array.length; i++) {
    if (i > 0) emit(state, ',');
    const child = array[i];
    // A hole is not undefined: superjson sends it as null, and in process `i in array` and forEach tell them apart.
    if (child === undefined && !(i in array)) {
      emit(state, 'h');
      continue;
    }
    try {
      walk(state, child, depth + 1);
    } catch (error) {
      throw within(error, `[${i}]`);
    }
  }
  emit(state, ']');
}

/**
 * Map and Set items (a Map's as `[key, value]`) are canonicalized one by one
 * and sorted by their text, so insertion order does not matter. Every item
 * takes at least one character and all items share what is left of the
 * budget: a huge collection is refused before any work, not after
 * canonicalizing and sorting all of it.
 */
function walkCollection(state: Walk, collection: Map<unknown, unknown> | Set<unknown>, depth: number, open: 'M[' | 'S['): void {
  let budget = state.max - state.text.length;
  if (collection.size > budget) throw tooLarge(state);
  const items: string[] = [];
  for (const item of collection as Iterable<unknown>) {
    const text: Walk = { text: '', max: budget, limits: state.limits, seen: state.seen };
    try {
      walk(text, item, depth + 1);
    } catch (error) {
      throw within(error, open === 'M[' ? `[Map entry ${items.length}]` : `[Set item ${items.length}]`);
    }
    budget -= text.text.length;
    items.push(text.text);
  }
  items.sort();
  emit(state, open);
  for (let i = 0; i < items.length; i++) emit(state, i > 0 ? `,${items[i]}` : (items[i] as string));
  emit(state, ']');
}

function walkBinary(state: Walk, object: object, type: string): void {
  // The bytes in view, not the whole underlying buffer: that is what superjson sends and what a view reads
  // (a small Buffer is a window on a shared pool, whose other bytes belong to no input).
  const bytes = ArrayBuffer.isView(object)
    ? Buffer.from(object.buffer, object.byteOffset, object.byteLength)
    : Buffer.from(object as ArrayBuffer);
  if (state.text.length + type.length + Math.ceil(bytes.length / 3) * 4 + 2 > state.max) throw tooLarge(state);
  emit(state, `B${type}:${bytes.toString('base64')}`);
}

const BOXED = new Set<unknown>([Number.prototype, String.prototype, Boolean.prototype, BigInt.prototype, Symbol.prototype]);
type Constructor = abstract new (...args: never[]) => object;
const TypedArray = Object.getPrototypeOf(Uint8Array) as Constructor;
const BUILT_IN_BASES = Object.entries({ Array, Map, Set, Date, RegExp, URL, 'typed array': TypedArray, DataView, ArrayBuffer });

/** What a refused object is, for the message: runs only when an input is refused. */
function describeObject(object: object, proto: object): string {
  const maker: unknown = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value;
  const name = typeof maker === 'function' && maker.name !== '' ? maker.name : undefined;
  if (name === undefined) return 'an object whose prototype is neither Object.prototype nor null';
  const article = /^[AEIOU]/.test(name) ? 'an' : 'a';
  if (BOXED.has(proto)) return `a boxed ${name} (new ${name}(…))`;
  if (object instanceof Error) return `${article} ${name} (an Error)`;
  for (const [base, type] of BUILT_IN_BASES) {
    if (object instanceof type) return `an instance of ${name}, a subclass of ${base}`;
  }
  const native = Function.prototype.toString.call(maker).includes('[native code]');
  return native ? `${article} ${name}` : `an instance of class ${name}`;
}
