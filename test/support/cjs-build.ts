import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Options } from 'tsup';
import { afterAll, beforeAll } from 'vitest';
import config from '../../tsup.config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The CommonJS build of one test file; see {@link cjsBuild}. */
export interface CjsBuild {
  /** Where the `.cjs` files are; empty before the build. */
  readonly outDir: string;
  /** `require` from the build's directory: a bundle by its path, a peer as the bundles resolve it. */
  readonly load: NodeJS.Require;
}

/**
 * Builds the published CommonJS bundles from tsup.config.ts (without types) before the tests of a file, so that
 * they do not depend on a prior `npm run build`, and removes them after. The build goes under node_modules so that
 * the bundles resolve their peers; `entries` keeps only the entry points named (default: every one).
 *
 * @example
 * ```ts
 * const cjs = cjsBuild('trpc-caching-cjs-');
 * it('loads', () => expect(cjs.load(join(cjs.outDir, 'index.cjs'))).toBeDefined());
 * ```
 */
export function cjsBuild(dirPrefix: string, entries?: readonly string[]): CjsBuild {
  let outDir = '';
  let load: NodeJS.Require | undefined;
  beforeAll(async () => {
    await mkdir(join(root, 'node_modules/.cache'), { recursive: true });
    outDir = await mkdtemp(join(root, 'node_modules/.cache', dirPrefix));
    const cjs = (config as Options[]).find(
      (options) => options.format === 'cjs' || (Array.isArray(options.format) && options.format.includes('cjs')),
    );
    if (cjs === undefined) throw new Error('tsup.config.ts has no CommonJS build');
    const all = cjs.entry as Record<string, string>;
    const entry = entries === undefined ? all : Object.fromEntries(entries.map((name) => [name, all[name] as string]));
    await build({ ...cjs, entry, outDir, dts: false, sourcemap: false, clean: false, silent: true, config: false });
    load = createRequire(join(outDir, 'index.cjs'));
  }, 120_000);
  afterAll(async () => {
    if (outDir !== '') await rm(outDir, { recursive: true, force: true });
  });
  return {
    get outDir() {
      return outDir;
    },
    get load() {
      if (load === undefined) throw new Error('the CommonJS build has not run: call cjsBuild() at the top level of the test file');
      return load;
    },
  };
}
