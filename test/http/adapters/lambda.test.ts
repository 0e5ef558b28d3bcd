// docs/adapters.md "AWS Lambda": the buffered handler (API Gateway v1 and v2 events, called directly) with
// withNotModifiedLambda, whose live stream is refused at once, and the streaming handler, which delivers it.
import type { Writable } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type * as Recipe from '../../../docs/snippets/adapters-lambda.js';
import { storeKinds } from '../../support/stores.js';
import { adapterChecks, type Served } from './checklist.js';
import { bufferedFetch, installLambdaRuntime, streamingFetch, v1Event, v2Event } from './lambda-events.js';
import { loadRecipe } from './recipes.js';

installLambdaRuntime();
const kinds = storeKinds();
const [memory] = kinds;
const TRPC = 'https://api.example.com/trpc';

async function start(kind = memory, pick: (recipe: typeof Recipe) => Omit<Served, 'trpc' | 'close'>): Promise<Served> {
  if (kind === undefined) throw new Error('no store kind');
  const { recipe, dispose } = await loadRecipe<typeof Recipe>('adapters-lambda', kind);
  return { trpc: TRPC, ...pick(recipe), close: dispose };
}

describe.each(kinds)('the buffered handler, HTTP API (v2) events, on $name', (kind) => {
  adapterChecks(() => start(kind, (recipe) => ({ fetch: bufferedFetch(recipe.handler, v2Event), live: 'refused', notModified: true })));
});

describe('the buffered handler, REST API (v1) events with Title-Case headers', () => {
  adapterChecks(() =>
    start(memory, (recipe) => ({ fetch: bufferedFetch(recipe.restApiHandler, v1Event), live: 'refused', notModified: true })),
  );
});

describe('the streaming handler (awsLambdaStreamingRequestHandler), HTTP API (v2) events', () => {
  adapterChecks(() =>
    start(memory, (recipe) => ({
      fetch: streamingFetch(
        recipe.streamHandler as (event: APIGatewayProxyEventV2, stream: Writable, context: Context) => unknown,
        v2Event,
      ),
      live: 'streams',
      // 304s come from the buffered handler, which serves the queries in the guide.
      notModified: false,
    })),
  );
});

describe('the live stream on the buffered handler', () => {
  it('answers at once with an SSE error naming the alternatives instead of holding the invocation', async () => {
    if (memory === undefined) throw new Error('no memory store kind');
    const { recipe, dispose } = await loadRecipe<typeof Recipe>('adapters-lambda', memory);
    try {
      const request = new Request(`${TRPC}/invalidations`, { headers: { authorization: 'Bearer alice', accept: 'text/event-stream' } });
      const [v2, v1] = await Promise.all([
        recipe.handler(await v2Event(request.clone()), {} as Context),
        recipe.restApiHandler((await v1Event(request)) as APIGatewayProxyEvent, {} as Context),
      ]);
      for (const result of [v2, v1]) {
        expect(result.statusCode).toBe(200);
        expect(result.headers?.['content-type']).toBe('text/event-stream');
        expect(result.body).toMatch(/event: serialized-error/);
        expect(result.body).toMatch(/"code":"METHOD_NOT_SUPPORTED"/);
        expect(result.body).toMatch(/the subscription \\"invalidations\\" cannot stream from awsLambdaRequestHandler/);
        expect(result.body).toMatch(/a long-lived server, or from awsLambdaStreamingRequestHandler/);
      }
    } finally {
      await dispose();
    }
  });
});
