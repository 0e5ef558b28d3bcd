// docs/adapters.md "Fastify 5": tRPC's plugin and trpc-to-openapi's REST plugin, with the fastifyNotModified hook.
import { describe } from 'vitest';
import type * as Recipe from '../../../docs/snippets/adapters-fastify.js';
import { storeKinds } from '../../support/stores.js';
import { adapterChecks, restChecks, type Served } from './checklist.js';
import { loadRecipe } from './recipes.js';

const [memory] = storeKinds();

async function start(): Promise<Served> {
  if (memory === undefined) throw new Error('no memory store kind');
  const { recipe, dispose } = await loadRecipe<typeof Recipe>('adapters-fastify', memory);
  const url = await recipe.app.listen({ port: 0, host: '127.0.0.1' });
  return {
    trpc: `${url}/trpc`,
    rest: `${url}/api`,
    fetch,
    live: 'streams',
    notModified: true,
    async close() {
      // Open live streams would hold close(): drop them first.
      recipe.app.server.closeAllConnections();
      await recipe.app.close();
      await dispose();
    },
  };
}

describe("tRPC's Fastify plugin", () => adapterChecks(start));
describe("trpc-to-openapi's Fastify REST plugin", () => restChecks(start));
