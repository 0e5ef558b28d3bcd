/**
 * Latency measurement. The machine a benchmark runs on is rarely quiet, so
 * every task runs in several short rounds, interleaved with the others, and
 * the reported figure is the median over rounds of each round's median: a
 * burst of noise then hits one round of every task rather than all of one.
 */
import { performance } from 'node:perf_hooks';
import { Bench } from 'tinybench';

export type Task = () => Promise<unknown>;

/** Rounds of {@link measure} and ms per task in each, from BENCH_ROUNDS and BENCH_TIME when they are set. */
export function roundsFromEnv(defaults = { rounds: 12, time: 100 }): { rounds: number; time: number } {
  return { rounds: Number(process.env.BENCH_ROUNDS ?? defaults.rounds), time: Number(process.env.BENCH_TIME ?? defaults.time) };
}

export interface Measured {
  /** Median latency in microseconds. */
  readonly median: number;
  /** Spread of the round medians: (max - min) / median. */
  readonly spread: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The p-th percentile (0..100) of samples, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Runs `tasks` for `rounds` rounds of `time` ms each (tinybench), and returns the median latency of each. */
export async function measure(
  tasks: Readonly<Record<string, Task>>,
  { rounds, time }: { rounds: number; time: number },
): Promise<Record<string, Measured>> {
  const perRound: Record<string, number[]> = {};
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time, warmupTime: round === 0 ? 200 : 20, throws: true });
    for (const [name, task] of Object.entries(tasks)) bench.add(name, task, { async: true });
    await bench.run();
    for (const task of bench.tasks) {
      const result = task.result;
      if (result.state !== 'completed') throw new Error(`benchmark task ${task.name} ended ${result.state}`);
      perRound[task.name] ??= [];
      perRound[task.name]?.push(result.latency.p50 * 1000);
    }
  }
  const measured: Record<string, Measured> = {};
  for (const [name, values] of Object.entries(perRound)) {
    const mid = median(values);
    measured[name] = { median: mid, spread: (Math.max(...values) - Math.min(...values)) / mid };
  }
  return measured;
}

/**
 * Latency of `task` under `concurrency` callers that each start a new call as
 * soon as their previous one ends, for `durationMs`. Microseconds.
 */
export async function underLoad(task: Task, { concurrency, durationMs }: { concurrency: number; durationMs: number }) {
  const samples: number[] = [];
  const end = performance.now() + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      const start = performance.now();
      await task();
      samples.push((performance.now() - start) * 1000);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    calls: samples.length,
    perSecond: samples.length / (durationMs / 1000),
  };
}
