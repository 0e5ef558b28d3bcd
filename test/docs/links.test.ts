// Links between README and the guides: every relative link reaches a file, and every #anchor a heading of it
// (as GitHub names headings), so that moving a section between guides cannot leave a link dead.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { codeBlocks, markdownFiles } from './markdown.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
/** Guides other changes write; the feature map links to them before they land. */
const coming = new Set(['docs/adapters.md', 'docs/postgres.md']);

/** A file's text without its code blocks, where a `#` line is no heading and `](` no link. */
function withoutBlocks(file: string): string {
  let text = read(file);
  for (const block of codeBlocks(file, text)) text = text.replace(block.code, '');
  return text;
}

/** Text outside code blocks and inline code, where links are links. */
function prose(file: string): string {
  return withoutBlocks(file).replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading = ''] of withoutBlocks(file).matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}

describe('links in README and the guides', () => {
  it('reach an existing file, and a heading of it when they name one', () => {
    const dead: string[] = [];
    let checked = 0;
    for (const file of markdownFiles()) {
      for (const [, target = ''] of prose(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [path = '', anchor] = target.split('#');
        const resolved =
          path === ''
            ? file
            : normalize(join(dirname(file), path))
                .split('\\')
                .join('/');
        checked++;
        if (coming.has(resolved)) continue;
        if (!existsSync(join(root, resolved))) dead.push(`${file}: ${target} (no ${resolved})`);
        else if (anchor !== undefined && !anchors(resolved).has(anchor)) dead.push(`${file}: ${target} (no heading #${anchor})`);
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(dead).toEqual([]);
  });
});
