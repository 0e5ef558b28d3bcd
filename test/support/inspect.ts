import type { Keyv } from 'keyv';
import { memoryStoreRows } from '../../src/stores/memory.js';
import type { RedisServer } from './redis.js';
import type { StoreKind } from './stores.js';

/** One raw row of a store: its key and its stored text as the store holds it. */
export interface StoredRow {
  readonly key: string;
  readonly text: string;
}

/**
 * Every row a store holds, read from the store itself (redis-server's KEYS and
 * MGET; the LRU behind the default memory adapter), so that a test sees what
 * actually landed, not what the library meant to write.
 */
export async function storedRows(kind: StoreKind, keyv: Keyv): Promise<StoredRow[]> {
  if (kind.redis) {
    const keys = (await kind.redis.command('KEYS', '*')) as string[];
    if (keys.length === 0) return [];
    const values = (await kind.redis.command('MGET', ...keys)) as Array<string | null>;
    return keys.map((key, i) => ({ key, text: values[i] ?? '' }));
  }
  const rows = memoryStoreRows(keyv);
  if (!rows) throw new Error('storedRows: not a store made by createMemoryStore');
  return rows.map(([key, value]) => ({ key, text: JSON.stringify(value) }));
}

/** Keys of a store that hold cached entries (not versions). */
export async function entryKeys(kind: StoreKind, keyv: Keyv, prefix = 'trpc-caching'): Promise<string[]> {
  return (await storedRows(kind, keyv)).map((row) => row.key).filter((key) => key.startsWith(`${prefix}:q:`));
}

/** Keys of a store that hold version tokens, with their tokens. */
export async function versionRows(kind: StoreKind, keyv: Keyv, prefix = 'trpc-caching'): Promise<Map<string, string>> {
  const rows = await storedRows(kind, keyv);
  return new Map(rows.filter((row) => row.key.startsWith(`${prefix}:v:`)).map((row) => [row.key, row.text]));
}

/**
 * Redis commands (lower-case names from INFO commandstats, with their call
 * counts) that `action` issued. The INFO calls that measure it cost commands
 * of their own (a fresh connection's HELLO/CLIENT SETINFO, INFO itself), so
 * that overhead is measured on an empty action first and taken away.
 */
export async function redisCommandsDuring(server: RedisServer, action: () => Promise<unknown>): Promise<Record<string, number>> {
  const a = await server.commandCounts();
  const b = await server.commandCounts();
  await action();
  const c = await server.commandCounts();
  const delta: Record<string, number> = {};
  for (const name of new Set([...Object.keys(a), ...Object.keys(b), ...Object.keys(c)])) {
    const overhead = (b[name] ?? 0) - (a[name] ?? 0);
    const used = (c[name] ?? 0) - (b[name] ?? 0) - overhead;
    if (used !== 0) delta[name] = used;
  }
  return delta;
}
