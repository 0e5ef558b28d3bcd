import { randomUUID } from 'node:crypto';
import { monotonicNow } from './clock.js';
import type { Leases } from './store.js';

/** How misses share a lease across processes (createCaching's `lock`), resolved. */
export interface LeaseSettings {
  /** How long a lease lasts when its holder stops renewing it (it died), in ms. */
  readonly lease: number;
  /** Longest a miss waits for another process's lease before it runs its resolver anyway, in ms. */
  readonly wait: number;
  /** Longest one lease command may take (the store `timeout`), in ms. */
  readonly timeout: number;
}

/**
 * A miss's turn: `lead` runs the resolver (holding the lease, or without one when none could be had) and
 * calls `release` once its entry is stored; `take` found the entry another process filled meanwhile.
 */
export type Turn<T> = { readonly kind: 'lead'; release(): void } | { readonly kind: 'take'; readonly found: T };

/** What a look at the store found: the entry (a hit), nothing yet, or a reason to stop waiting (the store failed). */
export type Probe<T> = { readonly kind: 'hit'; readonly found: T } | { readonly kind: 'miss' } | { readonly kind: 'give-up' };

/** First pause between two looks while another process holds the lease; it doubles up to {@link LONGEST_PAUSE_MS}. */
const FIRST_PAUSE_MS = 10;
/** Longest pause between two looks: what a waiter may add to the holder's resolver time. */
const LONGEST_PAUSE_MS = 100;

const ALONE: Turn<never> = { kind: 'lead', release() {} };

/**
 * Waits for a miss's turn to run its resolver, so that N processes missing the same entry at once run it once:
 *
 * - `SET lease token NX PX lease`: the first to take it leads, and renews it every third of `lease` while its
 *   resolver runs; one that dies stops renewing and its lease expires `lease` ms later.
 * - The others look at the store (the engine's own read, so a waiter takes only what a read would call a hit:
 *   an entry whose versions are all current) after a pause that grows from 10 to 100 ms, and try the lease
 *   again: a holder that stored nothing (its resolver failed) has released it.
 * - A lease taken after waiting may come after the holder stored the entry: the leader looks once more first.
 * - Never an error and never unbounded: a lease command that fails or is slower than `timeout`, a look that
 *   the store cannot answer, or `wait` ms without a turn, and the miss runs its resolver without a lease.
 */
export async function takeTurn<T>(leases: Leases, key: string, settings: LeaseSettings, probe: () => Promise<Probe<T>>): Promise<Turn<T>> {
  const token = randomUUID();
  const deadline = monotonicNow() + settings.wait;
  let pause = FIRST_PAUSE_MS;
  for (;;) {
    const left = deadline - monotonicNow();
    if (left <= 0) return ALONE;
    const acquiring = leases.acquire(key, token, settings.lease);
    const taken = await bounded(acquiring, Math.min(settings.timeout, left));
    if (taken === undefined) {
      // Given up on, the SET NX may still land: then nobody holds that lease, so free it rather than make others wait.
      void acquiring.then((late) => (late ? leases.release(key, token) : undefined)).catch(() => {});
      return ALONE;
    }
    if (taken) {
      const look = await probe();
      if (look.kind === 'hit') {
        void leases.release(key, token).catch(() => {});
        return { kind: 'take', found: look.found };
      }
      return { kind: 'lead', release: renewing(leases, key, token, settings.lease) };
    }
    await sleep(Math.min(pause, Math.max(0, deadline - monotonicNow())));
    pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
    const look = await probe();
    if (look.kind === 'hit') return { kind: 'take', found: look.found };
    if (look.kind === 'give-up') return ALONE;
  }
}

/** Renews the lease every third of its lifetime until the returned function releases it. */
function renewing(leases: Leases, key: string, token: string, lease: number): () => void {
  let held = true;
  const timer = setInterval(
    () => {
      leases.extend(key, token, lease).then(
        (still) => {
          // Lost (it expired during a stall and another process took it): renewing would not get it back.
          if (!still) clearInterval(timer);
        },
        () => {},
      );
    },
    Math.max(1, lease / 3),
  );
  timer.unref();
  return () => {
    if (!held) return;
    held = false;
    clearInterval(timer);
    void leases.release(key, token).catch(() => {});
  };
}

/** The promise's value, or undefined when it rejects or takes longer than `ms`. */
async function bounded<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(resolve, ms, undefined);
      }),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
