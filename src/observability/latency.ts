/**
 * Latency percentiles of one kind of store call, in ms, as `caching.stats().storeLatency` reports them.
 *
 * @example
 * ```ts
 * const { count, p99 } = caching.stats().storeLatency.read;
 * if (count > 100 && p99 > 50) console.warn(`store reads are slow: p99 ${p99} ms`);
 * ```
 */
export interface LatencySummary {
  /** Calls recorded since the instance was created. */
  readonly count: number;
  /** Median, in ms (0 before the first call). */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

/** Smallest latency told apart, in ms: everything at or below it falls in the first bucket. */
const FLOOR_MS = 0.001;
/** Buckets per doubling: each spans a factor of 2^(1/8), so a percentile is at most 9% above the true value. */
const PER_OCTAVE = 8;
/** 28 doublings above 1 µs: up to about 268 s; anything slower falls in the last bucket. */
const BUCKETS = 28 * PER_OCTAVE + 1;
/** Every this many calls, old counts weigh half: percentiles follow recent calls, not the whole uptime. */
const HALF_LIFE_CALLS = 10_000;

/**
 * A fixed-size log-bucket histogram: constant memory (225 numbers) and constant
 * time per call whatever the traffic, unlike a list of samples. Counts decay by
 * half every {@link HALF_LIFE_CALLS} calls, so that an outage an hour ago stops
 * dominating the p99 once enough calls came after it.
 */
export class LatencyHistogram {
  private readonly weights = new Float64Array(BUCKETS);
  private weight = 0;
  private sinceDecay = 0;
  private calls = 0;

  record(ms: number): void {
    // log2 of a non-positive or NaN ratio is -Infinity or NaN: both land in bucket 0.
    const at = ms > FLOOR_MS ? Math.min(BUCKETS - 1, Math.ceil(Math.log2(ms / FLOOR_MS) * PER_OCTAVE)) : 0;
    this.weights[at] = (this.weights[at] as number) + 1;
    this.weight++;
    this.calls++;
    if (++this.sinceDecay === HALF_LIFE_CALLS) this.decay();
  }

  /** The upper bound of the bucket holding the q-th quantile (0 < q <= 1), in ms; 0 when nothing was recorded. */
  quantile(q: number): number {
    if (this.weight === 0) return 0;
    const target = q * this.weight;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.weights[i] as number;
      if (seen >= target) return upperBound(i);
    }
    return upperBound(BUCKETS - 1);
  }

  summary(): LatencySummary {
    return { count: this.calls, p50: this.quantile(0.5), p95: this.quantile(0.95), p99: this.quantile(0.99) };
  }

  private decay(): void {
    this.sinceDecay = 0;
    this.weight /= 2;
    for (let i = 0; i < BUCKETS; i++) this.weights[i] = (this.weights[i] as number) / 2;
  }
}

/** Rounded to 4 significant digits: the bucket is 9% wide, more digits would claim a precision it does not have. */
function upperBound(bucket: number): number {
  return Number((FLOOR_MS * 2 ** (bucket / PER_OCTAVE)).toPrecision(4));
}
