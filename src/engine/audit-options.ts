import { CachingConfigError, CachingError } from '../errors.js';
import { checkDuration, describe, positiveInteger } from '../options.js';
import type { AuditSettings } from './audit.js';
import type { Divergence } from './events.js';

/**
 * createCaching's `audit`: the consistency auditor. A sampled hit is checked after its caller was answered: the
 * resolver runs again with the same context and input, and a result that differs from the entry served, while no
 * version the entry depends on moved, is a divergence (an invalidation the app forgot). See docs/consistency.md.
 *
 * @example
 * ```ts
 * const production = process.env.NODE_ENV === 'production';
 * createCaching<Ctx>({ user: (ctx) => ctx.user?.id, audit: production ? { sampleRate: 0.001 } : { sampleRate: 1, onDivergence: 'throw' } });
 * ```
 */
export interface AuditOptions {
  /**
   * Share of hits checked, from 0 to 1. Each check runs the resolver once more: its cost is the resolver's own.
   * @default 0.01
   */
  sampleRate?: number;
  /**
   * Checks running at once at most; a sampled hit beyond it is skipped. A check holds its place through `window`.
   * @default 4
   */
  maxConcurrent?: number;
  /**
   * How long after the resolver ran again the entry's versions are read again, in ms. A move seen by then (the
   * invalidation of a mutation that was still returning, in any process) discards the check: make it longer than
   * your slowest mutation takes from its write to its return, plus a near cache's `maxStaleness`.
   * @default 1000
   */
  window?: number;
  /**
   * Sampled hits are skipped while the event loop runs timers later than this, in ms.
   * @default 100
   */
  maxLag?: number;
  /**
   * What a divergence does besides being counted (stats, the `trpc-caching:divergence` channel, OpenTelemetry):
   * `'count'` nothing more; `'log'` a `console.error` naming the procedure and the mutations that ran since the
   * entry was stored; `'throw'` also throws it, as a `CachingError` (operation `audit`), on a turn of its own, so
   * that a test runner fails the run (and a dev server stops); a function is called with the divergence.
   * @default 'count'
   */
  onDivergence?: 'count' | 'log' | 'throw' | ((divergence: Divergence) => void);
}

const DEFAULTS = { sampleRate: 0.01, maxConcurrent: 4, window: 1_000, maxLag: 100 } as const;
const KEYS = ['sampleRate', 'maxConcurrent', 'window', 'maxLag', 'onDivergence'];

/** What a divergence says in development mode: the procedure, the entry, the likely culprits; no user id, input or value. */
export function divergenceMessage(divergence: Divergence): string {
  const { path, scope, tags, ageMs, mutations } = divergence;
  const entry = `a ${scope} entry${tags.length > 0 ? ` tagged ${tags.join(', ')}` : ''}${ageMs === undefined ? '' : ` stored ${Math.round(ageMs)} ms before`}`;
  const culprits =
    mutations.length > 0
      ? `mutations that ran here since it was stored: ${mutations.join(', ')}; does one of them change what "${path}" returns without invalidating it?`
      : 'no mutation ran in this process since it was stored: look for writes elsewhere (another process, a job) that invalidate nothing';
  return `trpc-caching: "${path}" served data its resolver no longer returns (${entry}), and no invalidation reached it; ${culprits}`;
}

/** The `onDivergence` hook of a mode. */
function hookOf(mode: AuditOptions['onDivergence']): AuditSettings['onDivergence'] {
  if (mode === undefined || mode === 'count') return undefined;
  if (typeof mode === 'function') return mode;
  if (mode === 'log') return (divergence) => console.error(divergenceMessage(divergence));
  if (mode === 'throw') {
    return (divergence) => {
      const error = new CachingError('audit', divergenceMessage(divergence), { path: divergence.path });
      console.error(error.message);
      // Thrown on a turn of its own: the check runs after its caller was answered, so nothing else could catch it.
      setImmediate(() => {
        throw error;
      });
    };
  }
  throw new CachingConfigError('audit.onDivergence', `expected 'count', 'log', 'throw' or a function, got ${describe(mode)}`);
}

/** Resolves createCaching's `audit`; undefined when off. Throws a CachingConfigError for a bad value. */
export function resolveAudit(value: boolean | AuditOptions | null | undefined): AuditSettings | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new CachingConfigError(
      'audit',
      `expected a boolean or { sampleRate, maxConcurrent, window, maxLag, onDivergence }, got ${describe(value)}`,
    );
  }
  const given: AuditOptions = value === true ? {} : value;
  for (const key of Object.keys(given)) {
    if (!KEYS.includes(key)) throw new CachingConfigError(`audit.${key}`, `unknown option; expected one of ${KEYS.join(', ')}`);
  }
  const sampleRate = given.sampleRate ?? DEFAULTS.sampleRate;
  if (typeof sampleRate !== 'number' || !(sampleRate >= 0 && sampleRate <= 1)) {
    throw new CachingConfigError('audit.sampleRate', `expected a number from 0 to 1, got ${describe(sampleRate)}`);
  }
  return {
    sampleRate,
    maxConcurrent: positiveInteger('audit.maxConcurrent', given.maxConcurrent ?? DEFAULTS.maxConcurrent),
    window: checkDuration('audit.window', given.window ?? DEFAULTS.window, { min: 0 }),
    maxLag: checkDuration('audit.maxLag', given.maxLag ?? DEFAULTS.maxLag, { min: 1 }),
    onDivergence: hookOf(given.onDivergence),
  };
}
