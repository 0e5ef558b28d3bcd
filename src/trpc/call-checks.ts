import type { AnyRouter } from '@trpc/server';
import { loadedProcedureAt, metaOf, proceduresOf } from './internals.js';
import { type Builder, type CachingParts, checkPlacement, checkProcedure, pathIndex } from './validate.js';

/** What this process was told once: habits of the app, said once a process, not once an instance. */
const told = new Set<'unvalidated' | 'unchecked paths'>();

/**
 * What `validateRouter` could not see when it ran, checked at the first call of each served path: procedures of
 * lazy routers load only then, and the router an app serves may be composed from the one it validated
 * (`t.mergeRouters(root)`, `t.router({ api: root })`). How a procedure was built is refused when it is built
 * (see builder.ts); this checks the rest (meta its builder ignores, `meta.cache`/`meta.invalidate`,
 * `invalidate.paths` as the router is served) and says once, loudly, what it cannot check. A path already checked
 * costs one set lookup.
 *
 * @example
 * ```ts
 * const calls = new CallChecks(parts, (message) => console.warn(message));
 * calls.validated(appRouter);
 * await calls.check('post.rename', meta, 'invalidatingMutation'); // rejects at every call while the procedure is wrong
 * ```
 */
export class CallChecks {
  private readonly routers: AnyRouter[] = [];
  // Paths checked, by the meta object of the procedure checked there (tRPC hands a call its procedure's own meta
  // object): another router holding a procedure at the same path is not taken for the one checked.
  private readonly checked = new Map<unknown, Set<string>>();
  /** Said once an instance each: a router it did not see, and one whose procedure names invalidate.paths. */
  private readonly toldUnseen = new Set<'router' | 'paths'>();

  constructor(
    private readonly parts: CachingParts,
    private readonly warn: (message: string) => void,
  ) {}

  /** Remembers a router validateRouter passed, and the paths it checked. */
  validated(router: AnyRouter): void {
    if (!this.routers.includes(router)) this.routers.push(router);
    for (const [path, procedure] of proceduresOf(router)) this.passed(path, metaOf(procedure));
  }

  /**
   * Rejects with a CachingConfigError when the procedure served at `path`, built with `builder`, is configured
   * wrongly. Undefined (nothing to wait for) once the path has passed.
   */
  check(path: string, meta: unknown, builder: Builder): Promise<void> | undefined {
    if (this.checked.get(meta)?.has(path) === true) return undefined;
    return this.firstCall(path, meta, builder).then(() => {
      // Only once it passed: a wrong procedure is refused at every call, not just the first.
      this.passed(path, meta);
    });
  }

  private passed(path: string, meta: unknown): void {
    const paths = this.checked.get(meta) ?? new Set<string>();
    this.checked.set(meta, paths);
    paths.add(path);
  }

  private async firstCall(path: string, meta: unknown, builder: Builder): Promise<void> {
    // What the call itself shows, with or without validateRouter: meta.cache on a mutation, meta.invalidate on a query.
    checkPlacement(path, meta, builder);
    if (this.routers.length === 0) {
      const paths = pathsOf(meta);
      const tell = paths === '' ? 'unvalidated' : 'unchecked paths';
      if (told.has(tell)) return;
      told.add(tell);
      this.warn(
        `trpc-caching: caching.validateRouter(appRouter) was not called before "${path}" was first called${paths}. ` +
          'Without it, invalidate.paths that reach no cached query (a misspelt path invalidates nothing) and meta.cache ' +
          'on procedures not built with cachedQuery go unnoticed. Call it once at startup with the router you serve.',
      );
      return;
    }
    // Lazy routers the validated router holds load here, as the call loaded them in the router that is served.
    for (const router of this.routers) {
      const procedure = await loadedProcedureAt(router, path);
      // Only the very procedure called (its meta object): another router may hold a different one at this path.
      if (procedure !== undefined && metaOf(procedure) === meta) {
        return checkProcedure(path, procedure, this.parts, pathIndex(router, this.parts));
      }
    }
    // Without meta there is nothing more to check: how it was built was checked when it was built.
    if (meta === undefined) return;
    // Served under a prefix (`t.router({ api: root })`): the validated router holds it at the end of the path, with
    // this very meta object. Its invalidate.paths must name the paths as served.
    for (let dot = path.indexOf('.'); dot >= 0; dot = path.indexOf('.', dot + 1)) {
      const inner = path.slice(dot + 1);
      for (const router of this.routers) {
        const procedure = await loadedProcedureAt(router, inner);
        if (procedure === undefined || metaOf(procedure) !== meta) continue;
        return checkProcedure(path, procedure, this.parts, pathIndex(router, this.parts, path.slice(0, dot + 1)));
      }
    }
    const tell = pathsOf(meta) === '' ? 'router' : 'paths';
    if (this.toldUnseen.has(tell)) return;
    this.toldUnseen.add(tell);
    this.warn(
      `trpc-caching: "${path}" is served by a router that caching.validateRouter did not see (one composed from it, ` +
        `or a lazy router it could not load)${pathsOf(meta)}. Call caching.validateRouter with the router you serve.`,
    );
  }
}

/** ", so its invalidate.paths (…) were not checked" for meta that names paths; empty otherwise. */
function pathsOf(meta: unknown): string {
  const invalidate = typeof meta === 'object' && meta !== null ? (meta as { invalidate?: unknown }).invalidate : undefined;
  const paths = typeof invalidate === 'object' && invalidate !== null ? (invalidate as { paths?: unknown }).paths : undefined;
  return Array.isArray(paths) && paths.length > 0 ? `, so its invalidate.paths (${paths.map(String).join(', ')}) were not checked` : '';
}
