/**
 * Single-flight: concurrent identical misses in one process share one run of
 * the resolver. The flight key includes the version tokens the miss read, so a
 * query that starts after an invalidation never joins a flight that started
 * before it.
 */
export class Coalescer<T> {
  private readonly flights = new Map<string, Promise<T>>();

  /** In-flight runs, for tests and metrics. */
  get size(): number {
    return this.flights.size;
  }

  /** The run already in flight for this key, if any. */
  joinable(key: string): Promise<T> | undefined {
    return this.flights.get(key);
  }

  /** Starts the run for this key; it is forgotten as soon as it settles. */
  lead(key: string, run: () => Promise<T>): Promise<T> {
    const flight = run().finally(() => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    });
    this.flights.set(key, flight);
    return flight;
  }
}
