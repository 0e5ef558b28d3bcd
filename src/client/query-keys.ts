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

import { isPlainObject } from '../protocol/input-digest.js';

export { inputText } from '../protocol/input-digest.js';

const hasOwn = (value: object, key: string) => Object.hasOwn(value, key);

/**
 * The input an infinite query's key holds for a page's call: the call's input without the `cursor` and
 * `direction` that tRPC adds per page. Undefined when the input has neither (not a page of an infinite query).
 */
export function infiniteKeyInput(input: unknown): unknown {
  if (!isPlainObject(input) || !(hasOwn(input, 'cursor') || hasOwn(input, 'direction'))) return undefined;
  const { cursor: _cursor, direction: _direction, ...rest } = input;
  return rest;
}
