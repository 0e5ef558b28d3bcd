import { TRPCError } from '@trpc/server';

/**
 * The hit-only mode of one request: the HTTP fast path (`trpc-caching/http`) runs a request's calls through tRPC's
 * own procedure call (the base procedure's middlewares, input parsing, then the cache) with this mode on its
 * context. The cache middleware then serves a clean hit as usual and notes its stored text here; on anything else (a
 * miss, a stale entry, a bypass, a sampled audit check) it throws {@link FallBack} before the resolver runs, and the
 * whole request goes to the regular handler.
 */

/** One call's clean hit: the value handed to tRPC, and the stored superjson text it was decoded from. */
export interface HitOnlyHit {
  readonly value: unknown;
  readonly payload: string;
}

/** What the fast path learns of one request's calls, by the call's identity (its `getRawInput`, one per call). */
export class HitOnly {
  readonly hits = new Map<unknown, HitOnlyHit>();

  /** Notes a clean hit of the call whose input accessor is `call`. */
  hit(call: unknown, value: unknown, payload: string): void {
    this.hits.set(call, { value, payload });
  }
}

/**
 * Freezes a hit's value (a fresh copy, see the codec) before the procedure's middlewares see it on the fast path.
 * The fast path writes the stored text of a hit whose value comes back as the very same object; a middleware before
 * the cache that changed that object in place (deleted a field a role must not see, added one) would otherwise have
 * its change dropped from the answer. Frozen, such a change throws in strict code (ES modules, TypeScript output),
 * the call fails, and the request goes to the regular handler, which sends the changed value. Only plain objects and
 * arrays are frozen (those inside Maps and Sets too): a Map, Set, Date or class instance stays mutable through its
 * methods. About 60 ns an object (5 µs for a 20-record list of 80 objects), paid on the fast path only.
 *
 * @param value - The hit's decoded value, fresh for this call.
 * @returns `value`, frozen in place.
 * @example
 * ```ts
 * hitOnly.hit(opts.getRawInput, freezeHit(read.value), read.payload);
 * ```
 */
export function freezeHit<T>(value: T): T {
  if (typeof value === 'object' && value !== null) freezeTree(value);
  return value;
}

function freezeTree(value: object): void {
  if (Array.isArray(value)) {
    Object.freeze(value);
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null) freezeTree(item);
    }
    return;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    Object.freeze(value);
    // for...in: no array of keys made per object. A plain object's prototype lends no enumerable key.
    for (const key in value) {
      const item: unknown = (value as Record<string, unknown>)[key];
      if (typeof item === 'object' && item !== null) freezeTree(item);
    }
  } else if (value instanceof Map) {
    for (const [key, item] of value) {
      if (typeof key === 'object' && key !== null) freezeTree(key);
      if (typeof item === 'object' && item !== null) freezeTree(item);
    }
  } else if (value instanceof Set) {
    for (const item of value) if (typeof item === 'object' && item !== null) freezeTree(item);
  }
}

/**
 * Thrown by the cache middleware in hit-only mode where the call would need more than a clean hit (the resolver, a
 * background refresh or audit). tRPC turns it into the call's error; the fast path then hands the request on.
 */
export class FallBack extends TRPCError {
  constructor(readonly path: string) {
    // A TRPCError, so that tRPC hands it on as it is: it would wrap any other error in a TRPCError and copy its
    // `stack`, and formatting a stack (with source maps, all the more) costs more than the rest of the attempt.
    super({
      code: 'INTERNAL_SERVER_ERROR',
      message: `trpc-caching: "${path}" is not a clean hit; the request goes to the regular handler`,
    });
  }
}

/**
 * Where a context carries its hit-only mode. Registered (`Symbol.for`) for the same reason as the call observer's
 * slot in src/engine/calls.ts: `trpc-caching` and `trpc-caching/http` may be loaded by different module systems.
 * Enumerable, so that tRPC's spread of the context (a middleware that extends it) keeps it.
 */
const HIT_ONLY: unique symbol = Symbol.for('trpc-caching.hit-only');

/**
 * The request's context in hit-only mode, leaving `ctx` itself as it was (an app may hand every request one shared
 * object). A proxy of `ctx` that adds the mode: every other read goes to `ctx` itself, so that a getter keyed by the
 * context object (a session in a `WeakMap`, a private field) sees the object the app made, as it does on the regular
 * handler; a copy of the own fields would read such a user as missing, and serve the anonymous entry. Writes go to
 * `ctx` as they do on the regular handler. tRPC's spread of the context (`next({ ctx })`) keeps the mode: it is an
 * enumerable own key of the proxy. A context that cannot take a new key (frozen, sealed) is copied instead.
 *
 * @param ctx - What the app's `createContext` returned for this request.
 * @param hitOnly - This request's mode.
 * @returns The context the procedures run with on the fast path.
 * @example
 * ```ts
 * const ctx = hitOnlyContext(await createContext(opts), new HitOnly());
 * ```
 */
export function hitOnlyContext(ctx: object, hitOnly: HitOnly): object {
  if (!Object.isExtensible(ctx)) {
    const copy = Object.assign(Object.create(Object.getPrototypeOf(ctx)) as object, ctx);
    Object.defineProperty(copy, HIT_ONLY, { value: hitOnly, enumerable: true, configurable: true, writable: true });
    return copy;
  }
  const descriptor: PropertyDescriptor = { value: hitOnly, enumerable: true, configurable: true, writable: true };
  return new Proxy(ctx, {
    // Reflect.get without the receiver: a getter runs on the app's own object.
    get: (target, key) => (key === HIT_ONLY ? hitOnly : Reflect.get(target, key)),
    has: (target, key) => key === HIT_ONLY || Reflect.has(target, key),
    ownKeys: (target) => {
      const keys = Reflect.ownKeys(target);
      return keys.includes(HIT_ONLY) ? keys : [...keys, HIT_ONLY];
    },
    getOwnPropertyDescriptor: (target, key) => (key === HIT_ONLY ? descriptor : Reflect.getOwnPropertyDescriptor(target, key)),
  });
}

/** The hit-only mode of a context; undefined for every request the fast path did not mark. */
export function hitOnlyOf(ctx: unknown): HitOnly | undefined {
  if (typeof ctx !== 'object' || ctx === null) return undefined;
  const mode = (ctx as { [HIT_ONLY]?: unknown })[HIT_ONLY];
  // Duck-typed: a HitOnly made by the other module system's copy of this module is still one.
  return typeof mode === 'object' && mode !== null && typeof (mode as HitOnly).hit === 'function' ? (mode as HitOnly) : undefined;
}
