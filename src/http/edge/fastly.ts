import { batches, expectAccepted, type Purger } from './purger.js';

/**
 * Options of {@link fastlyPurger}.
 *
 * @example
 * ```ts
 * const options: FastlyPurgerOptions = { serviceId: 'SU1Z0isxPaozGVKXdv0eY', token: process.env.FASTLY_TOKEN ?? '', soft: true };
 * ```
 */
export interface FastlyPurgerOptions {
  readonly serviceId: string;
  /** An API token with purge rights, sent as `Fastly-Key`. */
  readonly token: string;
  /**
   * Soft purge (`Fastly-Soft-Purge: 1`): marks objects stale instead of removing them. With `stale-while-revalidate`
   * or `stale-if-error` Fastly may then serve the old copy once more: read-your-writes through the edge is lost.
   * @default false
   */
  readonly soft?: boolean;
  /**
   * The API's base URL (tests point it at a local server).
   * @default 'https://api.fastly.com'
   */
  readonly endpoint?: string;
  /** @default 5000 (ms a request may take) */
  readonly timeout?: number;
}

/** Fastly's most surrogate keys in one batch purge. */
const FASTLY_MAX_KEYS = 256;

/**
 * A purger for Fastly: `POST /service/{serviceId}/purge` with the keys, space-separated, in a `Surrogate-Key`
 * header (at most 256 a request), authenticated by `Fastly-Key`. Pair it with `createEdge({ header: 'Surrogate-Key' })`.
 *
 * @example
 * ```ts
 * createEdge({ header: 'Surrogate-Key', purger: fastlyPurger({ serviceId: 'SU1Z0isxPaozGVKXdv0eY', token: process.env.FASTLY_TOKEN ?? '' }) });
 * ```
 */
export function fastlyPurger(options: FastlyPurgerOptions): Purger {
  const { serviceId, token, soft = false, endpoint = 'https://api.fastly.com', timeout = 5_000 } = options;
  if (serviceId === '' || token === '') throw new TypeError('trpc-caching: fastlyPurger needs a serviceId and a token');
  const url = new URL(`/service/${encodeURIComponent(serviceId)}/purge`, endpoint).toString();
  return async (keys) => {
    for (const batch of batches(keys, FASTLY_MAX_KEYS)) {
      const headers: Record<string, string> = { 'Fastly-Key': token, 'Surrogate-Key': batch.join(' '), Accept: 'application/json' };
      if (soft) headers['Fastly-Soft-Purge'] = '1';
      const response = await fetch(url, { method: 'POST', headers, signal: AbortSignal.timeout(timeout) });
      await expectAccepted('Fastly', response);
    }
  };
}
