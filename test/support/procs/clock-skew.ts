/**
 * Preloaded (`--import`) into a worker to run it with a wrong wall clock: `Date.now()` and
 * `new Date()` are shifted by `ADVERSITY_CLOCK_SKEW_MS`, as on a host whose clock drifted or
 * was set by hand. Monotonic clocks (`performance.now()`) are left alone, as they are on such a host.
 */
const skew = Number(process.env.ADVERSITY_CLOCK_SKEW_MS ?? 0);
if (!Number.isFinite(skew)) throw new Error('ADVERSITY_CLOCK_SKEW_MS must be a number of milliseconds');

const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);

class SkewedDate extends RealDate {
  constructor(...args: [] | ConstructorParameters<DateConstructor>) {
    if (args.length === 0) super(realNow() + skew);
    else super(...(args as ConstructorParameters<DateConstructor>));
  }

  static override now(): number {
    return realNow() + skew;
  }
}

globalThis.Date = SkewedDate as DateConstructor;
