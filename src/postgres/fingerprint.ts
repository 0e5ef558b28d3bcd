import { createHash } from 'node:crypto';
import type { InvalidationTargets } from '../index.js';

/**
 * A digest of what decides the moves: the publication, the mapped tables with each function's source text, what a
 * resync covers, the app's `mappingVersion`, and the mapped tables the publication lacks (their changes never
 * arrive: once one is added, what it missed must be resynced). A listener that finds another digest stored for its slot resyncs,
 * since rows read before were mapped differently.
 *
 * @example
 * ```ts
 * mappingFingerprint({ publication: 'trpc_caching', tables: { posts: String(mapPost) }, covers: { all: true }, version: '' });
 * ```
 */
export function mappingFingerprint(input: {
  publication: string;
  tables: Readonly<Record<string, string>>;
  covers: InvalidationTargets;
  version: string;
  /** Mapped tables the publication lacks. @default [] */
  unpublished?: readonly string[];
}): string {
  const tables = Object.keys(input.tables)
    .sort()
    .map((name) => [name, input.tables[name]]);
  return createHash('sha256')
    .update(JSON.stringify([input.publication, tables, input.covers, input.version, [...(input.unpublished ?? [])].sort()]))
    .digest('hex')
    .slice(0, 32);
}
