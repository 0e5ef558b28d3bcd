/**
 * Whether an `If-None-Match` value matches an ETag, by weak comparison (RFC 9110 §13.1.2).
 * Internal to the 304 wrappers: an app that answers 304 itself has its framework's own.
 */
export function etagMatches(ifNoneMatch: string | null | undefined, etag: string | null | undefined): boolean {
  if (!ifNoneMatch || !etag) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const opaque = (tag: string) => (tag.startsWith('W/') ? tag.slice(2) : tag);
  const wanted = opaque(etag.trim());
  return (ifNoneMatch.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => opaque(tag) === wanted);
}
