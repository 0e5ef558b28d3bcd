import { defineConfig } from 'tsup';

// superjson 2 ships ESM only: the CommonJS build carries its own copy so that
// `require('trpc-caching')` works on every Node 20, not only where require(esm) does.
export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
  },
  {
    entry: ['src/index.ts'],
    format: ['cjs'],
    dts: true,
    sourcemap: true,
    target: 'node20',
    noExternal: ['superjson', 'copy-anything', 'is-what'],
  },
]);
