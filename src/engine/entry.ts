import { md5 } from './keys.js';

/**
 * The stored form of a cached result: one string, so that every store keeps it
 * byte for byte and every hit decodes a fresh copy.
 *
 *   `1 {etag} {version tokens}\n{superjson payload}`
 *
 * The tokens are the versions the result was computed under, in the order the
 * query reads them; the entry is valid only while they are all current.
 */
const FORMAT = '1 ';
const ETAG_LENGTH = 32;
const TOKENS_AT = FORMAT.length + ETAG_LENGTH + 1;

export function formatEntry(tokens: string, payload: string): { text: string; etag: string } {
  const etag = md5(payload);
  return { text: `${FORMAT}${etag} ${tokens}\n${payload}`, etag };
}

/** The payload and etag of an entry whose tokens match; undefined for a stale or foreign value. */
export function readEntry(value: unknown, tokens: string): { payload: string; etag: string } | undefined {
  if (typeof value !== 'string' || !value.startsWith(FORMAT)) return undefined;
  const newline = value.indexOf('\n', TOKENS_AT);
  if (newline === -1 || newline - TOKENS_AT !== tokens.length || !value.startsWith(tokens, TOKENS_AT)) return undefined;
  return { payload: value.slice(newline + 1), etag: value.slice(FORMAT.length, TOKENS_AT - 1) };
}
