/** What a leader shares with the identical misses that joined it: only a successful, encodable result. */
export interface SharedResult {
  readonly payload: string;
  readonly etag: string;
  /** The versions the result was computed under, joined in plan order (see `FillOutcome`). */
  readonly tokens?: string;
}

/**
 * Single-flight: concurrent identical misses in one process share one run of
 * the resolver. The flight key includes the version tokens the miss read, so a
 * query that starts after an invalidation never joins a flight that started
 * before it.
 *
 * Only success is shared. A leader whose resolver failed, or whose caller
 * aborted, shares nothing: each follower then runs its own resolver, one at a
 * time (the first to wake leads a new flight, the rest join it), so that no
 * caller ever receives another caller's error or abort.
 */
export class Flights {
  private readonly flights = new Map<string, Promise<SharedResult | undefined>>();

  /** What the flight in progress for this key will share (undefined: it failed), or undefined when none is in progress. */
  joinable(key: string): Promise<SharedResult | undefined> | undefined {
    return this.flights.get(key);
  }

  /**
   * Starts the flight for this key. `run` resolves to the leader's own outcome and to what it
   * shares; it may `alsoAs` another key that identical misses will read (the versions it seeded),
   * so that they join too, and `retire` the key it was started under, so that no miss joins it by
   * that key any more. The flight is forgotten under every key as soon as it settles.
   */
  lead<T>(
    key: string,
    run: (alsoAs: (key: string) => void, retire: () => void) => Promise<{ readonly own: T; readonly shared: SharedResult | undefined }>,
  ): Promise<T> {
    const keys = [key];
    let share: (shared: SharedResult | undefined) => void = () => {};
    const flight = new Promise<SharedResult | undefined>((resolve) => {
      share = resolve;
    });
    this.flights.set(key, flight);
    const alsoAs = (alias: string) => {
      if (this.flights.has(alias)) return;
      this.flights.set(alias, flight);
      keys.push(alias);
    };
    const retire = () => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    const running = run(alsoAs, retire);
    running.then(
      (outcome) => share(outcome.shared),
      () => share(undefined),
    );
    void flight.then(() => {
      for (const known of keys) if (this.flights.get(known) === flight) this.flights.delete(known);
    });
    return running.then((outcome) => outcome.own);
  }
}

/** The promise's value, unless the signal aborts first (then its reason is thrown). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
