// docs/fast-path.md: the adapter check-list (test/http/adapters/checklist.ts) on each recipe with the fast path in front.
import { createServer, type Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { describe } from 'vitest';
import type * as Express from '../../../docs/snippets/fast-path-express.js';
import type * as Fastify from '../../../docs/snippets/fast-path-fastify.js';
import type * as Hono from '../../../docs/snippets/fast-path-hono.js';
import type * as Next from '../../../docs/snippets/fast-path-next-route.js';
import type * as Standalone from '../../../docs/snippets/fast-path-standalone.js';
import { storeKinds } from '../../support/stores.js';
import { adapterChecks, restChecks, type Served } from '../adapters/checklist.js';
import { loadRecipe, servedOn } from '../adapters/recipes.js';

const kinds = storeKinds();
const [memory] = kinds;
if (memory === undefined) throw new Error('no memory store kind');

describe.each(kinds)('the fast path before the standalone adapter on $name', (kind) => {
  adapterChecks(async () => {
    const { recipe, dispose } = await loadRecipe<typeof Standalone>('fast-path-standalone', kind);
    return servedOn(recipe.server, dispose);
  });
});

describe('the fast path before Express 5', () => {
  const start = async () => {
    const { recipe, dispose } = await loadRecipe<typeof Express>('fast-path-express', memory);
    return servedOn(createServer(recipe.app), dispose, { rest: true });
  };
  adapterChecks(start);
  describe("trpc-to-openapi's REST routes beside it", () => restChecks(start));
});

describe("the fast path in a hook before tRPC's Fastify plugin", () => {
  adapterChecks(async (): Promise<Served> => {
    const { recipe, dispose } = await loadRecipe<typeof Fastify>('fast-path-fastify', memory);
    const url = await recipe.app.listen({ port: 0, host: '127.0.0.1' });
    return {
      trpc: `${url}/trpc`,
      fetch,
      live: 'streams',
      notModified: true,
      async close() {
        recipe.app.server.closeAllConnections();
        await recipe.app.close();
        await dispose();
      },
    };
  });
});

describe('the fetch form on Hono', () => {
  adapterChecks(async () => {
    const { recipe, dispose } = await loadRecipe<typeof Hono>('fast-path-hono', memory);
    return servedOn(createAdaptorServer({ fetch: recipe.app.fetch }) as Server, dispose);
  });
});

describe('the fetch form in a Next.js route handler', () => {
  adapterChecks(async () => {
    const { recipe, dispose } = await loadRecipe<typeof Next>('fast-path-next-route', memory);
    const route = (req: Request) => (req.method === 'GET' ? recipe.GET(req) : recipe.POST(req));
    return servedOn(createAdaptorServer({ fetch: route }) as Server, dispose, { trpcPath: '/api/trpc' });
  });
});
