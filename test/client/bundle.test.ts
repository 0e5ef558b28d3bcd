// trpc-caching/client runs in browsers: it bundles for one without a Node module in it.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('trpc-caching/client', () => {
  it('bundles for the browser with no Node module in it', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../../src/client/index.ts', import.meta.url))],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((input) => input.startsWith('node:') || /(^|\/)src\/(engine|stores|trpc|http|live)\//.test(input))).toEqual([]);
    expect(inputs.some((input) => input.endsWith('src/client/link.ts'))).toBe(true);
  });
});
