// The example of docs/client.md is test/client/readme-client.ts, which the typecheck covers.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('docs/client.md', () => {
  it('shows the client example exactly as test/client/readme-client.ts, which the typecheck covers', () => {
    const code = read('test/client/readme-client.ts').split('\n').slice(1).join('\n').trimEnd();
    expect(read('docs/client.md')).toContain(`# Client caches`);
    expect(read('docs/client.md')).toContain(`\`\`\`ts\n${code}\n\`\`\``);
  });
});
