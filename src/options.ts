import { CachingConfigError } from './errors.js';

// Checks shared by every option resolver (createCaching's in caching-options.ts, meta, lock, stores), so that a bad
// value is refused with the same wording wherever it is given.

/** Checks a duration option: a finite number of ms in range. */
export function checkDuration(option: string, value: unknown, { min, max }: { min: number; max?: number }): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new CachingConfigError(option, `expected a number of milliseconds, got ${describe(value)}`);
  }
  if (!Number.isFinite(value) || value < min) {
    throw new CachingConfigError(option, `expected a finite number of milliseconds >= ${min}, got ${value}`);
  }
  if (max !== undefined && value > max) {
    throw new CachingConfigError(option, `must not exceed ${max} ms (versionTtl): a version must outlive every entry that depends on it`);
  }
  return value;
}

/** Checks a count option: a positive integer. */
export function positiveInteger(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new CachingConfigError(option, `expected a positive integer, got ${describe(value)}`);
  }
  return value;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return typeof value === 'object' ? (Array.isArray(value) ? 'an array' : 'an object') : `a ${typeof value}`;
}
