import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('README', () => {
  it('shows the quickstart exactly as docs/quickstart.ts, which the typecheck and a test cover', () => {
    const code = read('docs/quickstart.ts').split('\n').slice(1).join('\n').trimEnd();
    expect(read('README.md')).toContain(`\`\`\`ts\n${code}\n\`\`\``);
  });

  it('shows the OpenAPI example exactly as test/openapi/readme-server.ts, which the typecheck and a test cover', () => {
    const code = read('test/openapi/readme-server.ts').split('\n').slice(1).join('\n').trimEnd();
    expect(read('README.md')).toContain(`\`\`\`ts\n${code}\n\`\`\``);
  });

  it('shows the Redis example exactly as docs/redis.ts, which the typecheck covers', () => {
    const code = read('docs/redis.ts').split('\n').slice(1).join('\n').trimEnd();
    expect(read('README.md')).toContain(`\`\`\`ts\n${code}\n\`\`\``);
  });

  it('states the two fresh-machine commands that package.json and .ci/run implement', () => {
    const readme = read('README.md');
    const scripts = JSON.parse(read('package.json')).scripts as Record<string, string>;
    expect(readme).toContain('`npm ci && npm run example`');
    expect(readme).toContain('`npm run setup && npm test`');
    expect(scripts.example).toBeDefined();
    expect(scripts.setup).toBeDefined();
    expect(read('.ci/run')).toMatch(/npm run setup[\s\S]*npm test/);
  });
});
