// docs/adapters.md "Standalone (node:http)", served as the guide shows it, on memory and on Redis.
import { describe } from 'vitest';
import type * as Recipe from '../../../docs/snippets/adapters-standalone.js';
import { storeKinds } from '../../support/stores.js';
import { adapterChecks } from './checklist.js';
import { loadRecipe, servedOn } from './recipes.js';

describe.each(storeKinds())("tRPC's standalone adapter on $name", (kind) => {
  adapterChecks(async () => {
    const { recipe, dispose } = await loadRecipe<typeof Recipe>('adapters-standalone', kind);
    return servedOn(recipe.server, dispose);
  });
});
