// README is the front door: what the library is, install, the quickstart, the two commands for a fresh machine,
// a map of the guides, the performance headline and the limitations, in at most 300 lines.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('README', () => {
  it('shows the quickstart exactly as docs/quickstart.ts, which the typecheck and a test cover', () => {
    const code = read('docs/quickstart.ts').split('\n').slice(1).join('\n').trimEnd();
    expect(read('README.md')).toContain(`## Quickstart\n\n\`\`\`ts\n${code}\n\`\`\``);
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

  it('stays a front door of at most 300 lines whose feature map links to every guide', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(300);
    const guides = ['stores', 'instances', 'http', 'client', 'freshness', 'failure-modes', 'observability', 'how-it-works', 'options'];
    for (const guide of [...guides, 'from-adrf-caching', 'benchmarks']) {
      expect(readme).toContain(`](docs/${guide}.md`);
      expect(existsSync(new URL(`../../docs/${guide}.md`, import.meta.url)), guide).toBe(true);
    }
    // Written in their own changes: the map links to them already.
    expect(readme).toContain('](docs/adapters.md)');
    expect(readme).toContain('](docs/postgres.md)');
  });
});
