// docs/adapters.md "Express 5": tRPC and trpc-to-openapi's REST routes on one Express app, served as the guide shows it.
import { createServer } from 'node:http';
import { describe } from 'vitest';
import type * as Recipe from '../../../docs/snippets/adapters-express.js';
import { storeKinds } from '../../support/stores.js';
import { adapterChecks, restChecks, type Served } from './checklist.js';
import { loadRecipe, servedOn } from './recipes.js';

const [memory] = storeKinds();

async function start(): Promise<Served> {
  if (memory === undefined) throw new Error('no memory store kind');
  const { recipe, dispose } = await loadRecipe<typeof Recipe>('adapters-express', memory);
  return servedOn(createServer(recipe.app), dispose, { rest: true });
}

describe('tRPC on Express 5', () => adapterChecks(start));
describe("trpc-to-openapi's REST routes on Express 5", () => restChecks(start));
