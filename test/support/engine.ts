import type { Keyv } from 'keyv';
import { onTestFinished } from 'vitest';
import { CacheEngine, type Computed, type EngineOptions, type QueryPlan } from '../../src/engine/engine.js';
import type { CachingError } from '../../src/errors.js';
import { capabilitiesOf } from '../../src/stores/capabilities.js';
import { GuardedStore } from '../../src/stores/guard.js';

/** Engine options, plus the store guard's bounds that createCaching would take from CachingOptions. */
export type TestEngineOptions = Partial<EngineOptions> & { timeout?: number; breakerThreshold?: number };

/**
 * An engine on a store, as createCaching builds one, with test-sized bounds; every fault it reports lands in
 * `errors`. Closed when the test ends (after its afterEach hooks). Call inside a test.
 *
 * @example
 * ```ts
 * const { engine, errors } = testEngine(await kind.fresh(), { timeout: 100 });
 * ```
 */
export function testEngine(keyv: Keyv, options: TestEngineOptions = {}): { engine: CacheEngine; errors: CachingError[] } {
  const errors: CachingError[] = [];
  const report = (error: CachingError) => errors.push(error);
  const { timeout = 2_000, breakerThreshold = 5, ...rest } = options;
  const engine = new CacheEngine({
    prefix: 'engine',
    store: new GuardedStore(keyv, { timeout, breakerThreshold, breakerCooldown: 5_000, report }),
    capabilities: capabilitiesOf(keyv),
    versionTtl: 60_000,
    invalidationTimeout: 1_000,
    maxPendingInvalidations: 1_000,
    retryDelay: 60_000,
    retryMax: 60_000,
    maxEntryBytes: 1024 * 1024,
    inputLimits: { maxInputBytes: 64 * 1024, maxInputDepth: 32 },
    report,
    ...rest,
  });
  onTestFinished(() => engine.close());
  return { engine, errors };
}

/**
 * Reads through the engine the way the tRPC middleware does: a hit, a stale value (refreshed in the background),
 * a bypass answered by `compute`, or the fill of a miss with `compute`. `onRead` runs once the read has answered.
 *
 * @example
 * ```ts
 * expect(await query(engine, plan, async () => ok('v1'))).toEqual({ how: 'computed', value: 'v1' });
 * ```
 */
export async function query<T>(
  engine: CacheEngine,
  plan: QueryPlan,
  compute: () => Promise<Computed<T>>,
  signal?: AbortSignal,
  onRead?: () => void,
) {
  const read = await engine.read(plan);
  onRead?.();
  if (read.kind === 'hit') return { how: 'hit' as const, value: read.value };
  if (read.kind === 'stale') {
    engine.refresh(plan, read, compute);
    return { how: 'stale' as const, value: read.value };
  }
  if (read.kind === 'bypass') return { how: 'bypass' as const, value: (await compute()).data };
  const outcome = await engine.fill(plan, read, compute, signal);
  return outcome.kind === 'shared' ? { how: 'shared' as const, value: outcome.value } : { how: 'computed' as const, value: outcome.result };
}

/** A resolver's success, as the middleware hands it to the engine. */
export const ok = <T>(data: T): Computed<T> => ({ result: data, ok: true, data });

/** A resolver's failure whose result is `message`: never cached, and reported when a background refresh meets it. */
export const failed = (message: string): Computed<string> => ({ result: message, ok: false, data: undefined, error: new Error(message) });
