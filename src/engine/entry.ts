import { md5 } from './keys.js';

/**
 * The stored form of a cached result: one string, so that every store keeps it
 * byte for byte and every hit decodes a fresh copy. Two formats:
 *
 *   `1 {etag} {version tokens}\n{superjson payload}`
 *   `2 {etag} {fresh until} {version tokens}\n{superjson payload}`
 *
 * The tokens are the versions the result was computed under, in the order the
 * query reads them; the entry is valid only while they are all current.
 *
 * The `2` layout is what the engine writes: `fresh until` (wall clock ms, decimal)
 * says when the entry's TTL ends, and a read after it is a miss (or, within a
 * procedure's stale-while-revalidate window, a stale hit; the store TTL is the
 * TTL plus the window), whatever the store still holds. The `1` layout has no
 * `fresh until` (`1 {etag} {version tokens}`) and is read as fresh until the store
 * drops it. A reader that knows only `1` reads a `2` entry as a miss, never as a
 * wrong hit.
 */
const FORMAT = '1 ';
const STALE_FORMAT = '2 ';
const ETAG_LENGTH = 32;
const TOKENS_AT = FORMAT.length + ETAG_LENGTH + 1;
/** Where `fresh until` starts in the `2` layout (both markers have the same length). */
const FRESH_AT = TOKENS_AT;
/** A wall-clock time in ms has 13 digits until the year 2286; 15 leaves room without admitting junk. */
const MAX_FRESH_DIGITS = 15;

/** An entry whose tokens matched. */
export interface EntryRead {
  readonly payload: string;
  readonly etag: string;
  /** When the entry's TTL ends (wall clock, ms); undefined for an entry in the `1` layout. */
  readonly freshUntil: number | undefined;
}

/**
 * The stored text of a result computed under `tokens`. With `freshUntil` the entry records when its TTL
 * ends (the `2` layout); without it, the `1` layout (which tests use to write entries without a TTL end).
 */
export function formatEntry(tokens: string, payload: string, freshUntil?: number): { text: string; etag: string } {
  const etag = md5(payload);
  const text =
    freshUntil === undefined
      ? `${FORMAT}${etag} ${tokens}\n${payload}`
      : `${STALE_FORMAT}${etag} ${Math.floor(freshUntil)} ${tokens}\n${payload}`;
  return { text, etag };
}

/** The payload, etag and end of freshness of an entry whose tokens match; undefined for an invalidated or foreign value. */
export function readEntry(value: unknown, tokens: string): EntryRead | undefined {
  if (typeof value !== 'string') return undefined;
  if (value.startsWith(FORMAT)) {
    const newline = value.indexOf('\n', TOKENS_AT);
    if (newline === -1 || newline - TOKENS_AT !== tokens.length || !value.startsWith(tokens, TOKENS_AT)) return undefined;
    return { payload: value.slice(newline + 1), etag: value.slice(FORMAT.length, TOKENS_AT - 1), freshUntil: undefined };
  }
  if (!value.startsWith(STALE_FORMAT)) return undefined;
  const space = value.indexOf(' ', FRESH_AT);
  if (space <= FRESH_AT || space - FRESH_AT > MAX_FRESH_DIGITS) return undefined;
  const freshUntil = digits(value, FRESH_AT, space);
  if (freshUntil === undefined) return undefined;
  const tokensAt = space + 1;
  const newline = value.indexOf('\n', tokensAt);
  if (newline === -1 || newline - tokensAt !== tokens.length || !value.startsWith(tokens, tokensAt)) return undefined;
  return { payload: value.slice(newline + 1), etag: value.slice(STALE_FORMAT.length, TOKENS_AT - 1), freshUntil };
}

/** The decimal number in `text[from, to)`, or undefined when any character is not a digit. */
function digits(text: string, from: number, to: number): number | undefined {
  let n = 0;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i) - 48;
    if (code < 0 || code > 9) return undefined;
    n = n * 10 + code;
  }
  return n;
}

/** A version row as a token: a non-empty string that cannot be confused with the entry format's separators. */
export function asToken(row: unknown): string | undefined {
  if (typeof row !== 'string' || row.length === 0 || row.length > 64) return undefined;
  return row.includes(' ') || row.includes('\n') ? undefined : row;
}
