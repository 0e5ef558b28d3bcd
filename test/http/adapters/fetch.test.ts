// docs/adapters.md "The fetch adapter" and "Hono": tRPC's fetchRequestHandler behind withNotModifiedFetch, as a
// plain Request -> Response function and under a Hono route, each served by @hono/node-server over real HTTP.
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { describe } from 'vitest';
import type * as FetchRecipe from '../../../docs/snippets/adapters-fetch.js';
import type * as HonoRecipe from '../../../docs/snippets/adapters-hono.js';
import { storeKinds } from '../../support/stores.js';
import { adapterChecks, type Served } from './checklist.js';
import { loadRecipe, servedOn } from './recipes.js';

const [memory] = storeKinds();

/** Serves a fetch handler on a free loopback port, as `serve({ fetch })` of @hono/node-server does. */
async function serveFetch(handle: (req: Request) => Response | Promise<Response>, dispose: () => Promise<void>): Promise<Served> {
  return servedOn(createAdaptorServer({ fetch: handle }) as Server, dispose);
}

describe('a plain Request -> Response function', () => {
  adapterChecks(async () => {
    if (memory === undefined) throw new Error('no memory store kind');
    const { recipe, dispose } = await loadRecipe<typeof FetchRecipe>('adapters-fetch', memory);
    return serveFetch(recipe.handle, dispose);
  });
});

describe('Hono on @hono/node-server', () => {
  adapterChecks(async () => {
    if (memory === undefined) throw new Error('no memory store kind');
    const { recipe, dispose } = await loadRecipe<typeof HonoRecipe>('adapters-hono', memory);
    return serveFetch(recipe.app.fetch, dispose);
  });
});
