/**
 * The query keys that tRPC's TanStack Query integrations give a procedure call, read back into (path, input).
 * Both `@trpc/tanstack-react-query` (`createTRPCOptionsProxy`) and `@trpc/react-query` build
 * `[pathSegments, { input?, type? }]`, where `pathSegments` is the dotted path split on dots; the former adds a
 * leading `[prefix]` when its `keyPrefix` feature is on: `[[prefix], pathSegments, { input?, type? }]`.
 */

/** A tRPC call as a query key names it. */
export interface KeyedCall {
  readonly path: string;
  readonly input: unknown;
  /** `query`, `infinite`, or undefined for a key built without a type. */
  readonly type: unknown;
}

const isSegments = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length > 0 && value.every((part) => typeof part === 'string');

const isArgs = (value: unknown): value is { input?: unknown; type?: unknown } =>
  value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value));

/**
 * The call behind a tRPC query key; undefined for a key that is not one (another library's query, or a key of
 * another `keyPrefix` than `prefix`).
 */
export function callOfQueryKey(queryKey: readonly unknown[], prefix: string | undefined): KeyedCall | undefined {
  let segments: unknown;
  let args: unknown;
  if (prefix === undefined) {
    if (queryKey.length > 2) return undefined;
    [segments, args] = queryKey;
  } else {
    const head = queryKey[0];
    if (queryKey.length > 3 || !Array.isArray(head) || head.length !== 1 || head[0] !== prefix) return undefined;
    [, segments, args] = queryKey;
  }
  if (!isSegments(segments) || !isArgs(args)) return undefined;
  return { path: segments.join('.'), input: args?.input, type: args?.type };
}

const hasOwn = (value: object, key: string) => Object.hasOwn(value, key);

/** A plain object (what tRPC's keys and TanStack's hashing treat as a record). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Text that is equal for equal inputs, whatever their key order: JSON with object keys sorted, as TanStack
 * Query's `hashKey` does. Undefined for an input JSON cannot hold (a BigInt): such a call has no known key.
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
 * The input an infinite query's key holds for a page's call: the call's input without the `cursor` and
 * `direction` that tRPC adds per page. Undefined when the input has neither (not a page of an infinite query).
 */
export function infiniteKeyInput(input: unknown): unknown {
  if (!isPlainObject(input) || !(hasOwn(input, 'cursor') || hasOwn(input, 'direction'))) return undefined;
  const { cursor: _cursor, direction: _direction, ...rest } = input;
  return rest;
}
