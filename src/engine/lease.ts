import { randomUUID } from 'node:crypto';
import type { Keyv } from 'keyv';
import { CachingConfigError } from '../errors.js';
import { checkDuration, describe } from '../options.js';
import { capabilitiesOf, type Leases } from '../stores/capabilities.js';
import { memoryStoreSize } from '../stores/memory.js';
import { monotonicNow } from './clock.js';

/**
 * createCaching's `lock`: stampede protection across processes. `true` turns it on for every cached query
 * with the default timings; an object sets the timings (and, with `enabled: false`, leaves it to each
 * procedure's `meta.cache.lock`).
 *
 * @example
 * ```ts
 * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, store: createRedisStore({ url }), lock: { wait: 2_000 } });
 * ```
 */
export interface LockOptions {
  /**
   * Whether every cached query takes the lease on a miss; `meta.cache.lock` decides per procedure either way.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * How long a lease lasts without renewal, in ms. Its holder renews it while its resolver runs, so this only
   * bounds how long the others wait after a holder died before one of them takes over.
   * @default 3000
   */
  readonly lease?: number;
  /**
   * Longest a miss waits for another process's result before running its own resolver, in ms.
   * @default 5000
   */
  readonly wait?: number;
}

const LOCK_DEFAULTS = { lease: 3_000, wait: 5_000 } as const;

/**
 * Resolves createCaching's `lock`: whether procedures lock by default, and the lease timings. Throws a
 * CachingConfigError for a bad value, and for `lock` on a shared store that offers no leases (any Keyv not
 * made by createRedisStore or createMemoryStore): it would protect one process only, silently.
 */
export function resolveLock(
  value: boolean | LockOptions | null | undefined,
  store: Keyv,
  timeout: number,
): { readonly byDefault: boolean; readonly settings: LeaseSettings } {
  if (value !== undefined && typeof value !== 'boolean' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new CachingConfigError('lock', `expected a boolean or { enabled, lease, wait }, got ${describe(value)}`);
  }
  const given: LockOptions = typeof value === 'object' ? value : {};
  for (const key of Object.keys(given)) {
    if (key !== 'enabled' && key !== 'lease' && key !== 'wait')
      throw new CachingConfigError(`lock.${key}`, 'unknown option; expected enabled, lease or wait');
  }
  if (given.enabled !== undefined && typeof given.enabled !== 'boolean') {
    throw new CachingConfigError('lock.enabled', `expected a boolean, got ${describe(given.enabled)}`);
  }
  const lease = checkDuration('lock.lease', given.lease === undefined ? LOCK_DEFAULTS.lease : given.lease, { min: 1 });
  const wait = checkDuration('lock.wait', given.wait === undefined ? LOCK_DEFAULTS.wait : given.wait, { min: 1 });
  const byDefault = value === true || (typeof value === 'object' && given.enabled !== false);
  if ((value === true || typeof value === 'object') && capabilitiesOf(store).leases === undefined && memoryStoreSize(store) === undefined) {
    throw new CachingConfigError(
      'lock',
      'the store offers no leases, so lock would protect one process only (as identical misses always are): use createRedisStore from trpc-caching/redis',
    );
  }
  return { byDefault, settings: { lease, wait, timeout } };
}

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
