/**
 * A promise the test controls: resolvers that call `pass()` wait while the
 * gate is closed, so a test can hold a request in flight across a mutation.
 * The gate starts open.
 */
export class Gate {
  private release: (() => void) | undefined;
  private closedUntil: Promise<void> | undefined;
  private readonly watchers: Array<{ n: number; resolve: () => void }> = [];
  /** Calls of `pass()` so far. */
  arrived = 0;

  /** Makes later `pass()` calls wait until `open()`. */
  close(): void {
    if (this.closedUntil) return;
    this.closedUntil = new Promise<void>((resolve) => {
      this.release = resolve;
    });
  }

  /** Lets every waiting and later caller through. */
  open(): void {
    this.release?.();
    this.release = undefined;
    this.closedUntil = undefined;
  }

  /** Waits while the gate is closed. */
  async pass(): Promise<void> {
    this.arrived++;
    for (const watcher of this.watchers.filter((w) => this.arrived >= w.n)) {
      this.watchers.splice(this.watchers.indexOf(watcher), 1);
      watcher.resolve();
    }
    await this.closedUntil;
  }

  /** Resolves once `pass()` has been called `n` times in total. */
  arrivals(n: number): Promise<void> {
    if (this.arrived >= n) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ n, resolve }));
  }
}
