import { createHash } from 'node:crypto';

/**
 * MD5 of a text, as 32 hex digits, computed every time. Used where a memo would
 * not pay (ETags of whole payloads). MD5 is fast and fixed-width; it keys, it
 * does not protect a secret.
 *
 * @example
 * ```ts
 * md5('hello'); // '5d41402abc4b2a76b9719d911017c592'
 * ```
 */
export function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/**
 * A map from short texts to values that starts over when full: a bounded memo
 * with no per-entry bookkeeping, so a hit costs one `Map` lookup. A flood of
 * distinct texts costs re-hashing, never memory.
 *
 * @example
 * ```ts
 * const memo = new BoundedMemo(4096, 256);
 * memo.get('a') ?? memo.set('a', expensive('a'));
 * ```
 */
export class BoundedMemo {
  private readonly known = new Map<string, string>();

  /**
   * @param maxSize Entries held before the memo starts over. @default 4096
   * @param maxTextLength Longest text remembered; longer ones are never stored (hashing them costs more than the lookup saves). @default 256
   */
  constructor(
    readonly maxSize = 4096,
    readonly maxTextLength = 256,
  ) {}

  /** The value remembered for a text, if any. */
  get(text: string): string | undefined {
    return text.length > this.maxTextLength ? undefined : this.known.get(text);
  }

  /** Remembers a value for a text (unless the text is too long) and returns the value. */
  set(text: string, value: string): string {
    if (text.length > this.maxTextLength) return value;
    if (this.known.size >= this.maxSize) this.known.clear();
    this.known.set(text, value);
    return value;
  }

  /** Forgets everything. */
  clear(): void {
    this.known.clear();
  }
}

/**
 * MD5 with a memo of its own. One per cache instance (owned by `KeyFormat`),
 * so that two instances never share memory and closing one frees its memo:
 * a hit on a popular input does not hash again.
 *
 * @example
 * ```ts
 * const hasher = new Hasher();
 * hasher.md5('{"q":"shoes"}') === hasher.md5('{"q":"shoes"}'); // true, hashed once
 * ```
 */
export class Hasher {
  private readonly memo: BoundedMemo;

  /** @param memo Where digests are remembered. @default new BoundedMemo() */
  constructor(memo = new BoundedMemo()) {
    this.memo = memo;
  }

  /** MD5 of a text, hex; remembered when the text is short. */
  md5(text: string): string {
    return this.memo.get(text) ?? this.memo.set(text, md5(text));
  }

  /** Forgets every remembered digest (on close). */
  clear(): void {
    this.memo.clear();
  }
}
