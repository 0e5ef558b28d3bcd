import { monotonicNow } from './clock.js';

/** How often the event loop is looked at, in ms. */
const INTERVAL = 50;

/**
 * How late the event loop runs a timer, looked at every 50 ms: an auditor does not add a resolver run to a
 * process that is already behind. One unref'd interval per auditing engine; none otherwise.
 *
 * @example
 * ```ts
 * const lag = new LoopLag();
 * if (lag.ms > 100) skip();
 * lag.close();
 * ```
 */
export class LoopLag {
  private expected = monotonicNow() + INTERVAL;
  private lateness = 0;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => {
      const now = monotonicNow();
      this.lateness = Math.max(0, now - this.expected);
      this.expected = now + INTERVAL;
    }, INTERVAL);
    this.timer.unref();
  }

  /** How late the last timer ran, in ms; also counts a timer overdue now (a loop blocked at this moment). */
  get ms(): number {
    return Math.max(this.lateness, monotonicNow() - this.expected);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
