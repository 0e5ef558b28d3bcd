/** What the Postgres fleet driver and its worker processes say to each other. Types only. */

/** One post as a worker's cached query answered it. */
export interface PgReadReply {
  readonly id: number;
  readonly title: string | null;
  readonly rev: number | null;
  /** True when the resolver did not run: served from the cache. */
  readonly cached: boolean;
}

/** Driver → worker: read these posts (each through the cached query). */
export interface PgRequest {
  readonly seq: number;
  readonly ids: readonly number[];
}

/** Worker → driver. */
export type PgResponse =
  | { readonly kind: 'ready' }
  | { readonly kind: 'reply'; readonly seq: number; readonly ok: true; readonly value: PgReadReply[] }
  | { readonly kind: 'reply'; readonly seq: number; readonly ok: false; readonly error: string };
