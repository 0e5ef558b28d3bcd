// Reading README.md and the guides under docs/ as the docs tests need them: the files, and their fenced blocks.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const docs = fileURLToPath(new URL('../../docs/', import.meta.url));

/** README.md and every Markdown file under docs/, as paths relative to the root. */
export function markdownFiles(): string[] {
  const guides = readdirSync(docs, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name.split('\\').join('/')}`);
  return ['README.md', ...guides.sort()];
}

export interface Block {
  file: string;
  line: number;
  language: string;
  fragment: boolean;
  code: string;
}

/** Fenced blocks of a Markdown text (indented ones too, as inside a list), with their info string. */
export function codeBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const open = /^( *)(`{3,})(.*)$/.exec(lines[index] as string);
    if (!open) continue;
    const [, indent = '', fence = '', info = ''] = open;
    const end = lines.findIndex((line, at) => at > index && line.trimEnd() === `${indent}${fence}`);
    if (end < 0) throw new Error(`${file}:${index + 1}: a code fence that is never closed`);
    const [language = '', ...flags] = info.trim().split(/\s+/);
    const code = lines
      .slice(index + 1, end)
      .map((line) => line.slice(indent.length))
      .join('\n');
    blocks.push({ file, line: index + 1, language, fragment: flags.includes('fragment'), code });
    index = end;
  }
  return blocks;
}

const codeLanguages = new Set(['ts', 'tsx', 'typescript', 'js', 'jsx', 'javascript', 'mjs', 'cjs']);

/** Whether a block is TypeScript or JavaScript, which the snippet test holds to a compiled file. */
export function isCode(block: Block): boolean {
  return codeLanguages.has(block.language);
}
