/**
 * Sends one purge of surrogate keys to an edge and resolves once the edge has accepted it; rejects when it did not
 * (a {@link PurgeRefused} with `retryAfterMs` asks for a later retry). The edge's `createEdge` keeps a failed purge
 * and retries it. Any `(keys) => Promise<void>` is a purger: the ones shipped here speak Varnish, Fastly and Cloudflare.
 *
 * @example
 * ```ts
 * const purger: Purger = async (keys) => {
 *   const res = await fetch('https://cdn.example/purge', { method: 'POST', body: JSON.stringify({ keys }) });
 *   if (!res.ok) throw new Error(`purge refused: ${res.status}`);
 * };
 * ```
 */
export type Purger = (keys: readonly string[]) => Promise<void>;

/**
 * A purge the edge did not accept: its HTTP status and, when the edge said (`Retry-After` on a 429), how long to wait
 * before the next try.
 *
 * @example
 * ```ts
 * throw new PurgeRefused('Cloudflare answered 429', 429, 2_000);
 * ```
 */
export class PurgeRefused extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'PurgeRefused';
  }
}

/** `Retry-After` as ms: seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterOf(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Throws a PurgeRefused for a response that is not 2xx, naming the edge and carrying its `Retry-After`. */
export async function expectAccepted(edge: string, response: Response): Promise<void> {
  if (response.ok) {
    await response.body?.cancel();
    return;
  }
  const body = (await response.text().catch(() => '')).slice(0, 200);
  throw new PurgeRefused(
    `${edge} refused the purge: ${response.status}${body === '' ? '' : ` ${body}`}`,
    response.status,
    retryAfterOf(response.headers.get('retry-after')),
  );
}

/** Splits keys into requests of at most `size` keys (an edge's per-request limit). */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
