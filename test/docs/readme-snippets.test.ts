// README snippets that must stay whole programs: each is a file under docs/ (compiled by
// `tsc -p tsconfig.docs.json`), shown in README verbatim; and the install line names what the quickstart imports.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const body = (path: string) => read(path).split('\n').slice(1).join('\n').trimEnd();

describe('README snippets', () => {
  it('shows "Running on several instances" exactly as docs/instances.ts, which the typecheck covers', () => {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('## Running on several instances'));
    expect(section).toContain(`\`\`\`ts\n${body('docs/instances.ts')}\n\`\`\``);
    expect(JSON.parse(read('tsconfig.docs.json')).include).toContain('docs/*.ts');
  });

  it("installs every package the quickstart imports with the README's npm install line", () => {
    const readme = read('README.md');
    const install = /^npm install ([^#\n]+)/m.exec(readme)?.[1]?.trim().split(/\s+/) ?? [];
    const imported = [...body('docs/quickstart.ts').matchAll(/from '([^']+)'/g)].map((match) => {
      const name = match[1] as string;
      return name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : (name.split('/')[0] as string);
    });
    expect(imported).toEqual(expect.arrayContaining(['trpc-caching', '@trpc/server', 'zod']));
    for (const name of new Set(imported)) expect(install).toContain(name);
  });
});
