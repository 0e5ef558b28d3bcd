import { batches, expectAccepted, PurgeRefused, type Purger } from './purger.js';

/**
 * Options of {@link cloudflarePurger}.
 *
 * @example
 * ```ts
 * const options: CloudflarePurgerOptions = { zoneId: '023e105f4ecef8ad9ca31a8372d0c353', token: process.env.CF_TOKEN ?? '' };
 * ```
 */
export interface CloudflarePurgerOptions {
  readonly zoneId: string;
  /** An API token with the Cache Purge permission, sent as `Authorization: Bearer`. */
  readonly token: string;
  /**
   * Most tags in one request: Cloudflare's limit of operations per purge request.
   * @default 100
   */
  readonly maxTags?: number;
  /**
   * The API's base URL (tests point it at a local server).
   * @default 'https://api.cloudflare.com/client/v4'
   */
  readonly endpoint?: string;
  /** @default 5000 (ms a request may take) */
  readonly timeout?: number;
}

/**
 * A purger for Cloudflare: `POST /zones/{zoneId}/purge_cache` with `{"tags":[...]}` (at most `maxTags` a request),
 * authenticated by a Bearer token. A 429 (Cloudflare's purge rate limit) rejects with its `Retry-After`, which
 * `createEdge` waits before retrying. Pair it with `createEdge({ header: 'Cache-Tag' })`.
 *
 * @example
 * ```ts
 * createEdge({ header: 'Cache-Tag', purger: cloudflarePurger({ zoneId: '023e105f4ecef8ad9ca31a8372d0c353', token: process.env.CF_TOKEN ?? '' }) });
 * ```
 */
export function cloudflarePurger(options: CloudflarePurgerOptions): Purger {
  const { zoneId, token, maxTags = 100, endpoint = 'https://api.cloudflare.com/client/v4', timeout = 5_000 } = options;
  if (zoneId === '' || token === '') throw new TypeError('trpc-caching: cloudflarePurger needs a zoneId and a token');
  const url = `${endpoint.replace(/\/+$/, '')}/zones/${encodeURIComponent(zoneId)}/purge_cache`;
  return async (keys) => {
    for (const tags of batches(keys, maxTags)) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ tags }),
        signal: AbortSignal.timeout(timeout),
      });
      if (!response.ok) await expectAccepted('Cloudflare', response);
      // Cloudflare may answer 200 with `success: false` for a purge it refused (a bad tag, say).
      const answer: unknown = await response.json().catch(() => undefined);
      if (typeof answer !== 'object' || answer === null || (answer as { success?: unknown }).success !== true) {
        throw new PurgeRefused(`Cloudflare refused the purge: ${JSON.stringify(answer)?.slice(0, 200)}`, response.status);
      }
    }
  };
}
