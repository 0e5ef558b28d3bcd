import { type NodeHealthState, nodeFault } from '../capabilities.js';

/** Failures in a row after which a node is skipped. */
const THRESHOLD = 3;
/** How long a failing node is skipped before one trial call, in ms. */
const COOLDOWN_MS = 1_000;

interface Health {
  failures: number;
  /** 0 while closed; otherwise when the open breaker lets one trial call through (monotonic ms). */
  openUntil: number;
  probing: boolean;
  lastError: string | undefined;
}

/**
 * A circuit breaker per Cluster node, by address (`host:port`): a node that fails 3 calls in a row is skipped for
 * 1 s, then one call tries it. A skipped call rejects at once with a skipped {@link nodeFault}, which the store guard
 * neither counts against the whole store nor reports again: one dead primary costs the keys it holds, not every slot.
 *
 * @example
 * ```ts
 * const health = new NodeHealth();
 * const release = health.admit('10.0.0.1:6379'); // throws a node fault while that node is skipped
 * try { await send(); health.succeeded('10.0.0.1:6379'); } catch (error) { health.failed('10.0.0.1:6379', error); throw error; } finally { release(); }
 * ```
 */
export class NodeHealth {
  private readonly nodes = new Map<string, Health>();

  private of(address: string): Health {
    let health = this.nodes.get(address);
    if (health === undefined) {
      health = { failures: 0, openUntil: 0, probing: false, lastError: undefined };
      this.nodes.set(address, health);
    }
    return health;
  }

  /**
   * Lets a call to `address` through, or throws a node fault while the node is skipped. Returns what to call once the
   * call is over (it ends a half-open node's trial).
   */
  admit(address: string): () => void {
    const health = this.nodes.get(address);
    if (health === undefined || health.openUntil === 0) return noop;
    if (health.probing || performance.now() < health.openUntil) {
      throw nodeFault(
        `Redis Cluster node ${address} is skipped after ${health.failures} failed calls (${health.lastError ?? 'no answer'})`,
        undefined,
        true,
      );
    }
    health.probing = true;
    return () => {
      health.probing = false;
    };
  }

  succeeded(address: string): void {
    const health = this.nodes.get(address);
    if (health === undefined) return;
    health.failures = 0;
    health.openUntil = 0;
    health.lastError = undefined;
  }

  failed(address: string, error: unknown): void {
    const health = this.of(address);
    health.failures++;
    health.lastError = error instanceof Error ? error.message : String(error);
    if (health.failures >= THRESHOLD) health.openUntil = performance.now() + COOLDOWN_MS;
  }

  /** Forgets nodes that left the Cluster's slot map. */
  retain(addresses: ReadonlySet<string>): void {
    for (const address of this.nodes.keys()) if (!addresses.has(address)) this.nodes.delete(address);
  }

  /** Every node seen, with its state now. */
  states(addresses: Iterable<string>): NodeHealthState[] {
    const now = performance.now();
    return Array.from(addresses, (address) => {
      const health = this.nodes.get(address);
      const breaker = health === undefined || health.openUntil === 0 ? 'closed' : now >= health.openUntil ? 'half-open' : 'open';
      return {
        node: address,
        breaker,
        failures: health?.failures ?? 0,
        ...(health?.lastError === undefined ? {} : { lastError: health.lastError }),
      };
    });
  }
}

const noop = (): void => {};
