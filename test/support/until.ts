/**
 * Waits until `condition` holds, looking every 5 ms for at most 10 s (the machine may be loaded: no fixed sleep
 * decides an order).
 *
 * @example
 * ```ts
 * await until(() => runs === 1);
 * ```
 */
export async function until(condition: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not reached in 10 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
