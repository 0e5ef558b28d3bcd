// docs/adapters.md: every recipe it shows is a whole file that the typecheck compiles and an adapter test runs.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const body = (path: string) => read(path).split('\n').slice(1).join('\n').trimEnd();
const recipes = readdirSync(new URL('../../docs/snippets/', import.meta.url)).filter((name) => /^adapters-.+\.ts$/.test(name));

describe('the Adapters guide', () => {
  it('shows each recipe exactly as its file under docs/snippets, which the typecheck covers', () => {
    const guide = read('docs/adapters.md');
    const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)\n```/g)].map((match) => match[1]);
    expect(blocks.sort()).toEqual(recipes.map((name) => body(`docs/snippets/${name}`)).sort());
    expect(JSON.parse(read('tsconfig.docs.json')).include).toContain('docs/snippets/*.ts');
  });

  it('has every recipe loaded by a test under test/http/adapters', () => {
    const tests = readdirSync(new URL('../http/adapters/', import.meta.url))
      .filter((name) => name.endsWith('.test.ts'))
      .map((name) => read(`test/http/adapters/${name}`))
      .join('\n');
    for (const name of recipes) {
      const module = name.replace(/\.ts$/, '');
      // The app module is loaded with every recipe (test/http/adapters/recipes.ts).
      if (module !== 'adapters-app') expect(tests).toMatch(new RegExp(`['/]${module}(\\.js)?'`));
    }
  });
});
