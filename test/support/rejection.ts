import { TRPCError } from '@trpc/server';
import { CachingConfigError } from '../../src/errors.js';

/**
 * The TRPCError a call was refused with; throws when it was answered instead, and rethrows anything that is not a
 * TRPCError, so that a test never mistakes a crash for a refusal.
 *
 * @example
 * ```ts
 * expect((await refusal(caller.shop.list())).cause).toBeInstanceOf(CachingConfigError);
 * ```
 */
export async function refusal(call: Promise<unknown>): Promise<TRPCError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof TRPCError) return error;
    throw error;
  }
  throw new Error('expected the call to be refused with a TRPCError, but it was answered');
}

/**
 * The code of the TRPCError a call was refused with (see {@link refusal}).
 *
 * @example
 * ```ts
 * expect(await codeOf(caller.post.update({ id: 2, title: 'x' }))).toBe('FORBIDDEN');
 * ```
 */
export async function codeOf(call: Promise<unknown>): Promise<string> {
  return (await refusal(call)).code;
}

/**
 * The CachingConfigError that `run` throws; throws `accepted` as an error when `run` returns instead, and rethrows
 * anything that is not a CachingConfigError.
 *
 * @example
 * ```ts
 * expect(configRefusal(() => caching.validateRouter(router), 'validateRouter accepted the router').option).toBe('meta.cache');
 * ```
 */
export function configRefusal(run: () => unknown, accepted: string): CachingConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof CachingConfigError) return error;
    throw error;
  }
  throw new Error(accepted);
}
