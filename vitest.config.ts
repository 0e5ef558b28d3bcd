import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Exact matches: a plain 'trpc-caching' key would also catch 'trpc-caching/http' as a prefix.
    alias: [
      { find: /^trpc-caching$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^trpc-caching\/http$/, replacement: fileURLToPath(new URL('./src/http/index.ts', import.meta.url)) },
      { find: /^trpc-caching\/openapi$/, replacement: fileURLToPath(new URL('./src/openapi/index.ts', import.meta.url)) },
      { find: /^trpc-caching\/redis$/, replacement: fileURLToPath(new URL('./src/stores/redis/index.ts', import.meta.url)) },
      { find: /^trpc-caching\/otel$/, replacement: fileURLToPath(new URL('./src/otel/index.ts', import.meta.url)) },
      { find: /^trpc-caching\/postgres$/, replacement: fileURLToPath(new URL('./src/postgres/index.ts', import.meta.url)) },
      { find: /^trpc-caching\/client$/, replacement: fileURLToPath(new URL('./src/client/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'example-app/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
