import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('docs/observability.md', () => {
  it('shows the example exactly as test/observability/readme-example.ts, which runs', async () => {
    const code = read('test/observability/readme-example.ts').split('\n').slice(1).join('\n').trimEnd();
    expect(read('docs/observability.md')).toContain(`\`\`\`ts\n${code}\n\`\`\``);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const { caching } = await import('./readme-example.js');
      expect(log).toHaveBeenCalledWith('hit ratio 0, breaker closed, read p99 0 ms');
      caching.close();
    } finally {
      log.mockRestore();
    }
  });

  it('names every diagnostics channel and every stats field the code has', async () => {
    const { cachingChannels } = await import('../../src/index.js');
    const { createNotesApp } = await import('./app.js');
    const section = read('docs/observability.md');
    for (const name of Object.values(cachingChannels)) expect(section).toContain(`\`${name}\``);
    const stats = createNotesApp(undefined).caching.stats();
    for (const field of Object.keys(stats)) expect(section).toContain(`\`${field}\``);
  });
});
