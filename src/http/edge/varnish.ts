import { batches, expectAccepted, type Purger } from './purger.js';

/**
 * Options of {@link varnishPurger}.
 *
 * @example
 * ```ts
 * const options: VarnishPurgerOptions = { url: 'http://127.0.0.1:6081/', header: 'xkey-purge', timeout: 2_000 };
 * ```
 */
export interface VarnishPurgerOptions {
  /** Where Varnish listens: every purge is one request there (each Varnish of a fleet needs its own purger). */
  readonly url: string;
  /**
   * The request method your VCL purges on.
   * @default 'PURGE'
   */
  readonly method?: 'PURGE' | 'BAN';
  /**
   * The request header carrying the keys, space-separated, that your VCL hands to `xkey.purge()`.
   * @default 'xkey-purge'
   */
  readonly header?: string;
  /**
   * Longest one purge request may take, in ms, before it counts as failed (and is retried).
   * @default 5000
   */
  readonly timeout?: number;
  /**
   * Most keys in one request (the header stays under Varnish's `http_req_hdr_len`, 8 KiB by default).
   * @default 100
   */
  readonly maxKeys?: number;
}

/**
 * A purger for Varnish with vmod xkey: sends `PURGE` (or `BAN`) to Varnish with the keys in an `xkey-purge`
 * header, for a VCL that calls `xkey.purge(req.http.xkey-purge)` (hard purge: a soft purge would let grace serve
 * the old copy). Any 2xx is success. docs/edge.md has the VCL.
 *
 * @example
 * ```ts
 * createEdge({ header: 'xkey', purger: varnishPurger({ url: 'http://127.0.0.1:6081/' }) });
 * ```
 */
export function varnishPurger(options: VarnishPurgerOptions): Purger {
  const { url, method = 'PURGE', header = 'xkey-purge', timeout = 5_000, maxKeys = 100 } = options;
  new URL(url); // refuses a bad URL at startup, not at the first mutation
  return async (keys) => {
    for (const batch of batches(keys, maxKeys)) {
      const response = await fetch(url, { method, headers: { [header]: batch.join(' ') }, signal: AbortSignal.timeout(timeout) });
      await expectAccepted('Varnish', response);
    }
  };
}
