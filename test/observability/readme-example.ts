// Shown in docs/observability.md; test/observability/readme.test.ts runs it.
import { subscribe } from 'node:diagnostics_channel';
import { type CacheReadMessage, cachingChannels, createCaching } from 'trpc-caching';
import { instrumentCaching } from 'trpc-caching/otel';

type Ctx = { user: { id: string } | null };
export const caching = createCaching<Ctx>({ user: (ctx) => ctx.user?.id });

// A snapshot: counts since startup, breaker and pending invalidations now.
const { hits, misses, coalesced, breaker, storeLatency } = caching.stats();
console.log(`hit ratio ${hits / Math.max(1, hits + misses + coalesced)}, breaker ${breaker}, read p99 ${storeLatency.read.p99} ms`);

// Diagnostics channels: no dependency, and nothing is published while nobody listens.
subscribe(cachingChannels.bypass, (message) => {
  const { path, reason } = message as CacheReadMessage;
  console.warn(`cache bypassed on ${path}: ${reason}`);
});

// OpenTelemetry: metrics and span events through the global providers the SDK registered.
instrumentCaching(caching);
