import { md5 } from '../../engine/hash.js';
import type { MoveTerms } from '../../engine/move.js';

/**
 * The response header an edge reads surrogate keys from: `Surrogate-Key` (Fastly, space-separated), `Cache-Tag`
 * (Cloudflare, comma-separated) or `xkey` (Varnish with vmod xkey, space-separated).
 *
 * @example
 * ```ts
 * const header: SurrogateHeader = 'xkey';
 * ```
 */
export type SurrogateHeader = 'Surrogate-Key' | 'Cache-Tag' | 'xkey';

/** Longest key every edge accepts (Fastly and Cloudflare: 1024 bytes); a longer one is sent as a digest. */
const MAX_KEY = 1024;
/** Longest header value Fastly and Cloudflare read (16 KiB): a response whose keys do not fit is not offered to the edge. */
export const MAX_KEYS_HEADER = 16 * 1024;

/** A UTF-16 surrogate without its pair: `encodeURIComponent` throws on one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A path or tag as one key token: percent-encoded outside `A-Za-z0-9-_.~`, so that no separator (space, comma),
 * no non-ASCII and no character an edge refuses gets in; the same function names keys on responses and in purges.
 * A lone surrogate (a tag made of user input: JSON's `"\ud800"` is valid) becomes U+FFFD first, as `toWellFormed`
 * does: encoding it would throw, failing the query's response and losing the whole purge of a mutation. Two tags
 * that differ only there share a key, so a purge of one also purges the other: more than needed, never less.
 */
function token(kind: 'p' | 't', name: string, namespace: string): string {
  const encoded = encodeURIComponent(name.replace(LONE_SURROGATE, '\uFFFD')).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  const key = `${namespace}${kind}:${encoded}`;
  return key.length <= MAX_KEY ? key : `${namespace}${kind}#${md5(encoded)}`;
}

/** The key of everything this caching instance puts at the edge. */
export function allKey(namespace: string): string {
  return `${namespace}all`;
}

/**
 * The surrogate keys of a public response of `path` that depends on `tags`: everything (`all`), the path and each
 * router prefix above it (`p:post`, `p:post.byId`), and each tag (`t:post%3A1`). The same terms the engine moves
 * versions by, so that what invalidates the server's entry purges the edge's copy. Never a user id or an input.
 *
 * @example
 * ```ts
 * surrogateKeysOf('post.byId', ['post:1'], ''); // ['all', 'p:post', 'p:post.byId', 't:post%3A1']
 * ```
 */
export function surrogateKeysOf(path: string, tags: readonly string[] | undefined, namespace: string): string[] {
  const keys = [allKey(namespace)];
  let at = path.indexOf('.');
  while (at !== -1) {
    keys.push(token('p', path.slice(0, at), namespace));
    at = path.indexOf('.', at + 1);
  }
  keys.push(token('p', path, namespace));
  for (const tag of tags ?? []) keys.push(token('t', tag, namespace));
  return keys;
}

/**
 * The surrogate keys a move purges: `all` alone when it moved everything, else its paths and tags. A move of user
 * scopes only purges nothing: per-user responses never reach a shared cache.
 *
 * @example
 * ```ts
 * purgeKeysOf({ id: 'm1', all: false, scopes: ['u.9f'], paths: ['post'], tags: ['post:1'] }, ''); // ['p:post', 't:post%3A1']
 * ```
 */
export function purgeKeysOf(move: Pick<MoveTerms, 'all' | 'paths' | 'tags'>, namespace: string): string[] {
  if (move.all) return [allKey(namespace)];
  return [...move.paths.map((path) => token('p', path, namespace)), ...move.tags.map((tag) => token('t', tag, namespace))];
}

/**
 * The value of the surrogate-key header for `keys`, or undefined when it would exceed what edges read (16 KiB):
 * the response must then stay out of shared caches, since a purge could not find it.
 */
export function surrogateHeaderValue(header: SurrogateHeader, keys: readonly string[]): string | undefined {
  const value = [...new Set(keys)].join(header === 'Cache-Tag' ? ',' : ' ');
  return value.length <= MAX_KEYS_HEADER ? value : undefined;
}
