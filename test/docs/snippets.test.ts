// Every code block of README.md and docs/*.md is a whole program the typecheck compiles: a file that
// tsconfig.docs.json includes (`npm run typecheck` runs `tsc -p tsconfig.docs.json`), shown in the Markdown exactly,
// without its first line (a comment saying where it is shown). A block marked `ts fragment` is exempt, and only a
// type signature or a call pattern may be one: it holds no import, so it cannot pass for a program.
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { codeBlocks, isCode, markdownFiles } from './markdown.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(resolve(root, path), 'utf8');

/** The files `tsc -p tsconfig.docs.json` compiles as roots, relative to the root. */
function compiledSnippets(): string[] {
  const config = ts.readConfigFile(resolve(root, 'tsconfig.docs.json'), ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root, undefined, resolve(root, 'tsconfig.docs.json'));
  return parsed.fileNames.map((name) => relative(root, name).split('\\').join('/'));
}

/** A snippet file as the Markdown shows it: without its first line, which must say where it is shown. */
function shownBody(path: string): string {
  const [first = '', ...rest] = read(path).split('\n');
  if (!first.startsWith('//')) throw new Error(`${path}: the first line must be a comment saying where the file is shown`);
  return rest.join('\n').trimEnd();
}

describe('code in README and the guides', () => {
  const snippets = compiledSnippets();
  const bodies = new Map(snippets.map((path) => [shownBody(path), path]));
  const blocks = markdownFiles().flatMap((file) => codeBlocks(file, read(file)));
  const code = blocks.filter((block) => isCode(block));

  it('finds the code blocks of README and of every guide, and the snippet files the docs typecheck compiles', () => {
    expect(markdownFiles()).toEqual(expect.arrayContaining(['README.md', 'docs/how-it-works.md', 'docs/instances.md']));
    expect(snippets).toEqual(expect.arrayContaining(['docs/quickstart.ts', 'docs/instances.ts', 'docs/snippets/split-link.ts']));
    expect(code.length).toBeGreaterThanOrEqual(snippets.length);
  });

  it('shows every code block exactly as a file that tsconfig.docs.json compiles', () => {
    const unmatched = code
      .filter((block) => !block.fragment && !bodies.has(block.code.trimEnd()))
      .map((block) => `${block.file}:${block.line} (${block.code.split('\n')[0]}...)`);
    expect(unmatched, 'blocks that no compiled snippet file holds: copy the block into its file, or the file into the block').toEqual([]);
  });

  it('marks as a fragment only blocks that are not programs (no import)', () => {
    const fragments = code.filter((block) => block.fragment);
    for (const block of fragments) expect(block.code, `${block.file}:${block.line}`).not.toMatch(/^\s*import\s/m);
  });

  it('shows every compiled snippet file somewhere, so that none is left to rot', () => {
    const shown = new Set(code.map((block) => block.code.trimEnd()));
    expect(snippets.filter((path) => !shown.has(shownBody(path)))).toEqual([]);
  });

  it('reads a block inside a list without its indentation, and its fragment mark', () => {
    const [block] = codeBlocks('list.md', '- item\n\n  ```ts fragment\n  type A = 1;\n    type B = 2;\n  ```\n');
    expect(block).toMatchObject({ language: 'ts', fragment: true, code: 'type A = 1;\n  type B = 2;' });
  });
});

describe('the install line', () => {
  it("installs every package the quickstart imports with the README's npm install line", () => {
    const readme = read('README.md');
    const install = /^npm install ([^#\n]+)/m.exec(readme)?.[1]?.trim().split(/\s+/) ?? [];
    const imported = [...shownBody('docs/quickstart.ts').matchAll(/from '([^']+)'/g)].map((match) => {
      const name = match[1] as string;
      return name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : (name.split('/')[0] as string);
    });
    expect(imported).toEqual(expect.arrayContaining(['trpc-caching', '@trpc/server', 'zod']));
    for (const name of new Set(imported)) expect(install).toContain(name);
  });
});
