import { defineConfig } from 'tsup';

// One entry per subpath export: the root stays small, and `trpc-caching/http`, `trpc-caching/openapi`,
// `trpc-caching/otel` and `trpc-caching/redis` (which imports the optional peer @keyv/redis) load only when asked for
// (like `@trpc/server/http`). `trpc-caching/client` runs in browsers: it imports no Node module.
const entry = {
  index: 'src/index.ts',
  http: 'src/http/index.ts',
  openapi: 'src/openapi/index.ts',
  otel: 'src/otel/index.ts',
  redis: 'src/stores/redis/index.ts',
  client: 'src/client/index.ts',
  postgres: 'src/postgres/index.ts',
};

// superjson 2 ships ESM only: the CommonJS build carries its own copy so that `require('trpc-caching')` works on every
// Node 20, not only where require(esm) does. Both builds split what entries share into chunks, so that within one
// module system every entry uses one copy of each module: a store made by `trpc-caching/redis` and a context made by
// `trpc-caching/http` meet the root entry's engine and adapter through shared module state. Only an app that mixes
// `import` and `require` of this package gets two copies; the few values handed between entries carry their marks under
// registered symbols for that case (engine/calls.ts, stores/capabilities.ts, observability/observers.ts).
// @keyv/redis (and the @redis/client it brings) is the app's own optional peer, never bundled: trpc-caching/redis
// must use the copy the app installed (one client library, one version). So are pg and pg-logical-replication, which
// only trpc-caching/postgres imports.
const external = ['@keyv/redis', '@redis/client', 'pg', 'pg-logical-replication'];

export default defineConfig([
  {
    entry,
    external,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
  },
  {
    entry,
    external,
    format: ['cjs'],
    // tsup's CommonJS splitting: entries require shared chunks instead of each inlining its own copy.
    splitting: true,
    dts: true,
    sourcemap: true,
    target: 'node20',
    noExternal: ['superjson', 'copy-anything', 'is-what'],
  },
]);
