/**
 * Codes a store marks its connection errors with, so that the store guard can tell them from a call's own failure.
 * Read by code, not by class: the CommonJS build gives `trpc-caching/redis` its own copy of every class.
 *
 * - `connecting`: the store's first connection is still being made. A call then never reached the store: the
 *   guard skips it as the open breaker would (no report, not a store error, no step towards opening the breaker).
 * - `unreachable`: the store lost its connection, or never made one; the error names the address and the
 *   connection's own error. Emitted once (as the Keyv's `error` event) each time a working or new connection
 *   starts failing, and carried by every call that fails meanwhile.
 */
export const CONNECTION_ERROR_CODES = {
  connecting: 'ERR_TRPC_CACHING_STORE_CONNECTING',
  unreachable: 'ERR_TRPC_CACHING_STORE_UNREACHABLE',
} as const;

/** Which connection state an error reports, or undefined for any other error. */
export function connectionErrorKind(error: unknown): keyof typeof CONNECTION_ERROR_CODES | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (code === CONNECTION_ERROR_CODES.connecting) return 'connecting';
  if (code === CONNECTION_ERROR_CODES.unreachable) return 'unreachable';
  return undefined;
}

/**
 * Whether a Keyv's `error` event is its client's connection failing (Node's own socket and resolver errors:
 * `connect ECONNREFUSED 10.0.0.5:6379`, `getaddrinfo ENOTFOUND redis.internal`), which names the address.
 */
export function isSocketError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const { code, syscall } = error as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && (syscall === 'connect' || syscall === 'getaddrinfo');
}
