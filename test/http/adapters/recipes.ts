// Loads the adapter recipes of docs/adapters.md (docs/snippets/adapters-*.ts) as the guide shows them, each on a
// fresh module graph: a fresh caching instance and database per test, on the in-memory store or on Redis.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { vi } from 'vitest';
import type * as App from '../../../docs/snippets/adapters-app.js';
import type { RedisStore } from '../../../src/stores/redis/index.js';
import { listen } from '../../support/apps/harness.js';
import type { StoreKind } from '../../support/stores.js';
import type { Served } from './checklist.js';

/** The recipes' shared app module, as loaded for one test. */
export type RecipeApp = typeof App;

/**
 * Imports a recipe (a path under docs/snippets, without extension) and the app module it serves, both fresh, with
 * `REDIS_URL` set to the file's Redis (flushed) for the Redis kind and unset for memory. `dispose` closes what the
 * app opened (its caching instance and, on Redis, its store).
 *
 * @example
 * ```ts
 * const { recipe, app, dispose } = await loadRecipe<typeof import('../../../docs/snippets/adapters-express.js')>('adapters-express', kind);
 * ```
 */
export async function loadRecipe<T>(name: string, kind: StoreKind): Promise<{ recipe: T; app: RecipeApp; dispose(): Promise<void> }> {
  if (kind.redis === undefined) delete process.env.REDIS_URL;
  else {
    await kind.redis.command('FLUSHALL');
    process.env.REDIS_URL = kind.redis.url;
  }
  vi.resetModules();
  try {
    const recipe = (await import(`../../../docs/snippets/${name}.ts`)) as T;
    const app = (await import('../../../docs/snippets/adapters-app.js')) as RecipeApp;
    // The store connects in the background and bypasses until then; the checks start once it is up.
    if (kind.redis !== undefined) await (app.caching.store as RedisStore).ready();
    return {
      recipe,
      app,
      async dispose() {
        app.caching.close();
        if (kind.redis !== undefined) await (app.caching.store as RedisStore).close();
      },
    };
  } finally {
    delete process.env.REDIS_URL;
  }
}

/** The URL of a listening server's loopback address. */
export function urlOf(address: AddressInfo | string | null): string {
  if (address === null || typeof address === 'string') throw new Error('not listening on a TCP port');
  return `http://127.0.0.1:${address.port}`;
}

/**
 * A recipe's node:http server listening on a free loopback port, as the check-list takes it: tRPC at `trpcPath`, REST
 * at `/api` when `rest`; closing it also disposes of what the recipe opened.
 *
 * @example
 * ```ts
 * const { recipe, dispose } = await loadRecipe<typeof Recipe>('adapters-standalone', kind);
 * return servedOn(recipe.server, dispose);
 * ```
 */
export async function servedOn(
  server: Server,
  dispose: () => Promise<void>,
  options: { readonly rest?: boolean; readonly trpcPath?: string } = {},
): Promise<Served> {
  const { url, close } = await listen(server);
  return {
    trpc: `${url}${options.trpcPath ?? '/trpc'}`,
    ...(options.rest === true ? { rest: `${url}/api` } : {}),
    fetch,
    live: 'streams',
    notModified: true,
    async close() {
      await close();
      await dispose();
    },
  };
}
