import { monotonicNow } from '../engine/clock.js';

interface Waiter {
  /** When the call's time is up (monotonic ms). */
  readonly at: number;
  /** Settles the race: with the call's value, or with `expired`. */
  readonly resolve: (value: unknown) => void;
  readonly expired: unknown;
}

/**
 * The deadlines of store calls that share one timeout, on one timer. A call
 * that settles in time (every call of a healthy store) costs a set insertion
 * and deletion, not a timer of its own: on the hit path a `setTimeout` and
 * `clearTimeout` per read took more time than an in-memory read itself.
 *
 * Calls started later end later (one timeout for all), so the timer only ever
 * waits for the oldest call in flight. A call's time is up no earlier than
 * `timeout` ms after it started, and as late as its own timer would have been
 * (the timer fires late when the event loop is blocked, which the guard
 * measures from the call's start, as before). While no call is in flight the
 * timer does not keep the process alive.
 *
 * @example
 * ```ts
 * const deadlines = new Deadlines(1000);
 * const result = await deadlines.race(store.getMany(keys), monotonicNow(), TIMED_OUT);
 * if (result === TIMED_OUT) giveUp();
 * ```
 */
export class Deadlines {
  /** Calls in flight, oldest first (a Set iterates in insertion order). */
  private readonly waiting = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;

  /** @param timeout How long each call may take, in ms. */
  constructor(readonly timeout: number) {}

  /** What `pending` settles to, or `expired` once the call that started at `startedAt` is out of time, whichever comes first. */
  race<T, E>(pending: Promise<T>, startedAt: number, expired: E): Promise<T | E> {
    // No closure stored per call: the waiter holds the race's own resolve.
    let waiter: Waiter | undefined;
    const race = new Promise<T | E>((resolve, reject) => {
      waiter = { at: startedAt + this.timeout, resolve: resolve as (value: unknown) => void, expired };
      pending.then(
        (value) => {
          this.settled(waiter as Waiter);
          resolve(value);
        },
        (error: unknown) => {
          this.settled(waiter as Waiter);
          reject(error);
        },
      );
    });
    this.waiting.add(waiter as Waiter);
    if (this.timer === undefined) this.timer = setTimeout(this.fire, this.timeout);
    else if (this.waiting.size === 1) this.timer.ref();
    return race;
  }

  private settled(waiter: Waiter): void {
    // A timer left for calls that have all ended must not hold the process open; it finds nothing when it fires.
    if (this.waiting.delete(waiter) && this.waiting.size === 0) this.timer?.unref();
  }

  /** Expires every call whose time is up, oldest first, and waits for the next one. */
  private readonly fire = (): void => {
    this.timer = undefined;
    const now = monotonicNow();
    for (const waiter of this.waiting) {
      if (waiter.at > now) {
        this.timer = setTimeout(this.fire, Math.max(1, waiter.at - now));
        return;
      }
      this.waiting.delete(waiter);
      waiter.resolve(waiter.expired);
    }
  };
}
