/**
 * A position in PostgreSQL's write-ahead log as a number, so that positions compare with `<` (the text form
 * `16/B374D848` does not sort as text).
 *
 * @example
 * ```ts
 * parseLsn('16/B374D848') > parseLsn('16/B374D000'); // true
 * ```
 */
export function parseLsn(text: string): bigint {
  const [high, low] = text.split('/');
  if (high === undefined || low === undefined) throw new Error(`not a WAL position: ${text}`);
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/**
 * The text form of a WAL position, as PostgreSQL prints it (`pg_current_wal_lsn()`).
 *
 * @example
 * ```ts
 * formatLsn(0x16b374d848n); // '16/B374D848'
 * ```
 */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
