import { inspectSlot, type SlotState } from './slot.js';
import type { PostgresConnection } from './types.js';

/** What {@link watchSlot} reports: the slot's state, and how long no listener has followed it as far as it saw. */
export interface SlotReport extends SlotState {
  readonly slot: string;
  /** Since when (ms) the watch has seen the slot without a listener; 0 while one follows it. */
  readonly inactiveMs: number;
  /** Why this is reported: no listener for longer than `maxInactiveMs`, or more WAL held than `maxLagBytes`, or PostgreSQL about to lose it. */
  readonly problem: 'inactive' | 'lagging' | 'unreserved' | 'lost';
}

/** Options of {@link watchSlot}. */
export interface WatchSlotOptions {
  readonly connection: PostgresConnection;
  /** @default 'trpc_caching' */
  readonly slot?: string;
  /**
   * How often to look, in ms.
   * @default 60_000
   */
  readonly interval?: number;
  /**
   * How long the slot may go without a listener before it is reported, in ms.
   * @default 600_000
   */
  readonly maxInactiveMs?: number;
  /**
   * WAL the slot may hold before it is reported, in bytes.
   * @default 1_073_741_824 (1 GiB)
   */
  readonly maxLagBytes?: number;
  /** Hears each problem, once a look. */
  readonly onReport: (report: SlotReport) => void;
}

/**
 * Watches a listener's slot from another process (any app server, a cron job): reports a listener gone longer than
 * `maxInactiveMs`, a slot holding more than `maxLagBytes` of WAL, and PostgreSQL marking it `unreserved` or `lost`.
 * What to do then (restart the listener, or `dropSlot` and accept a resync) is the operator's call: docs/postgres.md.
 *
 * @example
 * ```ts
 * const watch = watchSlot({ connection: process.env.DATABASE_URL, onReport: (report) => log.error(report, 'cache listener slot') });
 * ```
 */
export function watchSlot(options: WatchSlotOptions): { check(): Promise<SlotReport | undefined>; stop(): void } {
  const slot = options.slot ?? 'trpc_caching';
  const maxInactiveMs = options.maxInactiveMs ?? 600_000;
  const maxLagBytes = options.maxLagBytes ?? 1024 * 1024 * 1024;
  let inactiveSince: number | undefined;
  const check = async (): Promise<SlotReport | undefined> => {
    const state = await inspectSlot(options.connection, slot);
    if (!state.exists) return undefined;
    const now = Date.now();
    inactiveSince = state.active ? undefined : (inactiveSince ?? now);
    const inactiveMs = inactiveSince === undefined ? 0 : now - inactiveSince;
    const problem =
      state.walStatus === 'lost' || state.walStatus === 'unreserved'
        ? state.walStatus
        : state.lagBytes > maxLagBytes
          ? 'lagging'
          : inactiveMs > maxInactiveMs
            ? 'inactive'
            : undefined;
    if (problem === undefined) return undefined;
    const report: SlotReport = { ...state, slot, inactiveMs, problem };
    try {
      options.onReport(report);
    } catch {
      // A throwing hook must not stop the watch.
    }
    return report;
  };
  const timer = setInterval(() => void check().catch(() => {}), options.interval ?? 60_000);
  timer.unref();
  void check().catch(() => {});
  return { check, stop: () => clearInterval(timer) };
}
