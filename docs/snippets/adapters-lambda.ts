// docs/adapters.md, "AWS Lambda": API Gateway (REST API v1, HTTP API v2) and function URLs.
import { awsLambdaRequestHandler, awsLambdaStreamingRequestHandler } from '@trpc/server/adapters/aws-lambda';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { cacheResponseMeta, withCacheHeaders, withNotModifiedLambda } from 'trpc-caching/http';
import { appRouter, userFrom } from './adapters-app.js';

const createContext = withCacheHeaders(({ event }: { event: APIGatewayProxyEvent | APIGatewayProxyEventV2 }) => ({
  user: userFrom(event.headers.authorization ?? event.headers.Authorization),
}));
const responseMeta = cacheResponseMeta({ sync: true });

// HTTP API (v2) and function URLs. Set REDIS_URL: each container has its own memory.
export const handler = withNotModifiedLambda(awsLambdaRequestHandler({ router: appRouter, createContext, responseMeta }));
// REST API (v1): the same, typed for its events.
export const restApiHandler = withNotModifiedLambda(
  awsLambdaRequestHandler<typeof appRouter, APIGatewayProxyEvent>({ router: appRouter, createContext, responseMeta }),
);
// The live stream, from a function with response streaming (a function URL with InvokeMode RESPONSE_STREAM).
// The buffered handlers above refuse it at once: they send nothing until the response ends, and a stream never does.
export const streamHandler = awslambda.streamifyResponse(
  awsLambdaStreamingRequestHandler<typeof appRouter, APIGatewayProxyEventV2>({ router: appRouter, createContext, responseMeta }),
);
