/**
 * The builders `cachedQuery(base)` and `invalidatingMutation(base)` return: tRPC's own builder for `base.use(cache)`,
 * with the three methods that would add a middleware after the cache refused. A middleware after the cache runs
 * only on a miss, so a user it sets or a check it makes is skipped on a hit: one user gets another's data. Refusing
 * it here, where the procedure is built, holds however the router is later composed (merged, nested, lazy, called
 * through a sub-router's `createCaller`), with or without `validateRouter`.
 */
import { CachingConfigError } from '../errors.js';
import { type AnyProcedureBuilder, isProcedure, isProcedureBuilder, type MiddlewareResult, middlewaresOf } from './internals.js';
import { configFailure } from './query.js';
import { type Builder, buildProblem, registerBorrowed } from './validate.js';

/** The methods of a tRPC builder that add middlewares after the ones it has. */
type Appender = 'use' | 'concat' | 'unstable_concat';

/** What TypeScript shows when `.use()` is called on a caching builder. */
type AddToBase = 'trpc-caching: a middleware after the cache runs only on a miss; add it to the base: cachedQuery(t.procedure.use(...))';

/**
 * A caching builder's type: the base builder's own type (its `.input()`, `.output()`, `.meta()`, `.query()`, and the
 * context its middlewares set), with `.use()`, `.concat()` and `.unstable_concat()` refused at compile time. Each
 * also throws a CachingConfigError when called anyway.
 *
 * @example
 * ```ts
 * const cachedQuery: CachingBuilder<typeof authed> = caching.cachedQuery(authed);
 * cachedQuery.input(z.object({ id: z.number() })).query(({ input, ctx }) => load(ctx.user.id, input.id));
 * ```
 */
export type CachingBuilder<TBuilder> = Omit<TBuilder, Appender> & {
  /** Refused: a middleware after the cache would run only on a miss. Add it to the base procedure. */
  use(middleware: AddToBase): never;
  /** Refused: it would add middlewares after the cache. Concatenate into the base procedure instead. */
  concat(builder: AddToBase): never;
  /** Refused: it would add middlewares after the cache. Concatenate into the base procedure instead. */
  unstable_concat(builder: AddToBase): never;
};

function refusal(builder: Builder, method: Appender): CachingConfigError {
  return new CachingConfigError(
    `${builder}(base).${method}()`,
    `would add a middleware after the cache, which runs only on a miss: any ctx it sets (such as the user) is not seen ` +
      `when the cache picks the entry, and a check it makes is skipped on a hit, so one user could get another's data. ` +
      `Add it to the base procedure instead: ${builder}(t.procedure.${method}(...))`,
  );
}

/** A finished procedure, refused (thrown) when built wrongly, for instance `cachedQuery(base).mutation(...)`. */
function checked<T>(builder: Builder, method: string, procedure: T): T {
  const found = buildProblem(procedure as object);
  if (found?.problem !== undefined)
    throw new CachingConfigError(`${builder}(base)...${method}()`, `builds a procedure that ${found.problem}`);
  return procedure;
}

/**
 * The middleware that stands for the cache in a caching builder's `_def` when another builder's `.concat()` takes it:
 * what is added after it there is not checked, so it refuses every call (and `validateRouter` refuses the procedure).
 */
function standIn(builder: Builder): (opts: { path: string }) => Promise<MiddlewareResult<object>> {
  const refuse = async ({ path }: { path: string }): Promise<MiddlewareResult<object>> => {
    throw configFailure(
      new CachingConfigError(
        `procedure "${path}"`,
        `takes a ${builder} builder through .concat(), after which middlewares cannot be checked; ` +
          `concatenate into the base instead: ${builder}(t.procedure.concat(...))`,
      ),
    );
  };
  registerBorrowed(refuse, builder);
  return refuse;
}

const standIns: Record<Builder, ReturnType<typeof standIn>> = {
  cachedQuery: standIn('cachedQuery'),
  invalidatingMutation: standIn('invalidatingMutation'),
};

function seal(plain: AnyProcedureBuilder, builder: Builder, cache: unknown): AnyProcedureBuilder {
  const sealed: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(plain)) {
    if (name === '_def') continue;
    if (name === 'use' || name === 'concat' || name === 'unstable_concat') {
      sealed[name] = () => {
        throw refusal(builder, name);
      };
    } else if (typeof value === 'function') {
      // Every other method (input, output, meta, query, ... and any a later tRPC adds): a builder it returns stays
      // sealed, a procedure it returns is checked.
      sealed[name] = (...args: unknown[]) => {
        const out: unknown = value(...args);
        if (isProcedureBuilder(out)) return seal(out, builder, cache);
        return isProcedure(out) ? checked(builder, name, out) : out;
      };
    } else {
      sealed[name] = value;
    }
  }
  // tRPC's methods read their own closure, never `this._def`; `_def` is read from outside by another builder's
  // `.concat()`, which would append middlewares unchecked: it gets the definition with the cache replaced by a stand-in.
  let lent: unknown;
  Object.defineProperty(sealed, '_def', {
    enumerable: true,
    get() {
      lent ??= { ...plain._def, middlewares: middlewaresOf(plain).map((m) => (m === cache ? standIns[builder] : m)) };
      return lent;
    },
  });
  return sealed as unknown as AnyProcedureBuilder;
}

/**
 * `base.use(cache)`, sealed: a real tRPC builder whose `.use()`, `.concat()` and `.unstable_concat()` throw, whose
 * other methods return sealed builders, and whose `.query()`/`.mutation()`/`.subscription()` throw for a procedure of
 * the wrong kind.
 *
 * @example
 * ```ts
 * cachedQuery: (base) => cachingBuilder(base, 'cachedQuery', queryMiddleware),
 * ```
 */
export function cachingBuilder<TBuilder extends AnyProcedureBuilder>(
  base: TBuilder,
  builder: Builder,
  cache: unknown,
): CachingBuilder<TBuilder> {
  const plain = base.use(cache as Parameters<typeof base.use>[0]) as AnyProcedureBuilder;
  return seal(plain, builder, cache) as unknown as CachingBuilder<TBuilder>;
}
