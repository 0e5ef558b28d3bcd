import { readFileSync } from 'node:fs';

/** How often the monitor looks, in ms: a stretch is measured to within about this much. */
const TICK_MS = 5;

/**
 * CPU time this thread has run so far, in ns. On Linux, the scheduler's own count for the calling thread
 * (the event loop's), which time spent waiting for a core does not touch; elsewhere the process's CPU time
 * (every thread's, so GC helpers count too: an overestimate, never an underestimate).
 */
function threadCpuNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]);
  } catch {
    const { user, system } = process.cpuUsage();
    return (user + system) * 1_000;
  }
}

/** What {@link watchBusyStretches} saw, in ms. */
export interface BusyStretches {
  /** The most CPU time the event loop's thread used between two consecutive ticks of a {@link TICK_MS} timer. */
  readonly max: number;
  /** Ticks seen. */
  readonly ticks: number;
}

/**
 * Watches how long the event loop keeps its thread busy at a stretch. A wall-clock loop delay (what
 * `monitorEventLoopDelay` reports) also counts the time the process waited for a core, hundreds of ms on a
 * loaded machine, so it cannot tell a cache that blocks the loop from a busy neighbour. CPU time between two
 * ticks of a timer can: synchronous work the loop could not interrupt shows in full, waiting for a core not at
 * all. Call the returned function to stop and read the result.
 *
 * @example
 * ```ts
 * const stop = watchBusyStretches();
 * await drain();
 * expect(stop().max).toBeLessThan(control.max / 2);
 * ```
 */
export function watchBusyStretches(): () => BusyStretches {
  let last = threadCpuNs();
  let max = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = threadCpuNs();
    max = Math.max(max, now - last);
    last = now;
    ticks++;
  }, TICK_MS);
  return () => {
    clearInterval(timer);
    const now = threadCpuNs();
    max = Math.max(max, now - last);
    return { max: Math.round(max / 1e4) / 100, ticks };
  };
}
