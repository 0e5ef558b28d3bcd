import { performance } from 'node:perf_hooks';

/**
 * Milliseconds on a monotonic clock. Deadlines, cool-downs and timeouts use it
 * rather than `Date.now()`: a wall clock stepped back an hour by NTP would
 * otherwise keep the circuit breaker open, or a deadline unreached, for that hour.
 */
export function monotonicNow(): number {
  return performance.now();
}

/** Resolves after the event loop's poll phase has run once: I/O that is ready by now has been handled. */
export function afterPendingIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
