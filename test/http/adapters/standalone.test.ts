// docs/adapters.md "Standalone (node:http)", served as the guide shows it, on memory and on Redis.
import { describe } from 'vitest';
import type * as Recipe from '../../../docs/snippets/adapters-standalone.js';
import { listen } from '../../support/apps/harness.js';
import { storeKinds } from '../../support/stores.js';
import { adapterChecks } from './checklist.js';
import { loadRecipe } from './recipes.js';

describe.each(storeKinds())("tRPC's standalone adapter on $name", (kind) => {
  adapterChecks(async () => {
    const { recipe, dispose } = await loadRecipe<typeof Recipe>('adapters-standalone', kind);
    const { url, close } = await listen(recipe.server);
    return {
      trpc: `${url}/trpc`,
      fetch,
      live: 'streams',
      notModified: true,
      async close() {
        await close();
        await dispose();
      },
    };
  });
});
