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

// superjson 2 ships ESM only: the CommonJS build carries its own copy so that
// `require('trpc-caching')` works on every Node 20, not only where require(esm) does.
// The ESM build shares modules between entries in chunks; the CommonJS build does not split, so each
// entry has its own copy of what it uses: whatever entries share at run time (the cache log slot on a
// tRPC context) must be reachable from every copy, hence `Symbol.for` there, never a module-private key.
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
    dts: true,
    sourcemap: true,
    target: 'node20',
    noExternal: ['superjson', 'copy-anything', 'is-what'],
  },
]);
