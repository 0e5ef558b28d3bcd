import type { Keyv } from 'keyv';

/**
 * Makes the multi-key writes of a real store slow (version moves go through
 * `setMany`): each call waits `delayMs()` before reaching the store. With a
 * slow write, a mutation that returned before its invalidation landed would
 * let a following query read the old versions, so tests can see whether the
 * library waits for the write.
 */
export function delaySetMany(keyv: Keyv, delayMs: () => number): void {
  const adapter = keyv.store as { setMany?: (entries: unknown[]) => Promise<unknown> };
  const original = adapter.setMany?.bind(adapter);
  if (!original) throw new Error('delaySetMany: the store has no setMany');
  adapter.setMany = async (entries) => {
    await new Promise((resolve) => setTimeout(resolve, delayMs()));
    return original(entries);
  };
}
