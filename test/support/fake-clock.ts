import { vi } from 'vitest';

/**
 * Fakes the clocks the memory store reads: Keyv checks `expires` against
 * `Date.now()`, and lru-cache measures TTLs with the `performance` object it
 * captured at import (faking the global `performance` would not reach it), so
 * its `now()` is made to follow the fake `Date`. Timers are faked too, since
 * lru-cache debounces its clock reads with a timer.
 */
export function useFakeClock(): { advance(ms: number): void; restore(): void } {
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
  const perfBase = performance.now();
  const dateBase = Date.now();
  const spy = vi.spyOn(performance, 'now').mockImplementation(() => perfBase + (Date.now() - dateBase));
  return {
    advance(ms) {
      vi.advanceTimersByTime(ms);
    },
    restore() {
      spy.mockRestore();
      vi.useRealTimers();
    },
  };
}
