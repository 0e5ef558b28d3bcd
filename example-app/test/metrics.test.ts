// The example's /metrics page: what Prometheus scrapes after a few requests to the REST API.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { rest } from '../../test/support/clients.js';
import { type RunningApp, start } from '../src/server.js';

let app: RunningApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** One scrape: its content type, and each sample line as `name{labels}` → value. */
async function scrape(url: string): Promise<{ type: string | null; samples: Map<string, number>; text: string }> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return { type: response.headers.get('content-type'), samples, text };
}

describe('the example app /metrics page', () => {
  it('shows hits, misses, bypasses, invalidations and the breaker in Prometheus text format', async () => {
    // A generous store time bound: client and server share this process's event loop on a busy machine.
    app = await start({ port: 0, dbDelayMs: 1, cacheTimeout: 2_000 });
    const { url } = app;
    await rest(url, 'alice-token', '/notes');
    await rest(url, 'alice-token', '/notes');
    await rest(url, 'bob-token', '/notes');
    await rest(url, null, '/feed');
    await rest(url, null, '/feed');
    expect((await rest(url, 'alice-token', '/notes', { method: 'POST', body: { title: 'metrics' } })).status).toBe(200);
    await rest(url, 'alice-token', '/notes');

    const { type, samples, text } = await scrape(url);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('# TYPE trpc_caching_reads_total counter');
    expect(samples.get('trpc_caching_reads_total{status="hit"}')).toBe(2);
    expect(samples.get('trpc_caching_reads_total{status="miss"}')).toBe(4);
    expect(samples.get('trpc_caching_reads_total{status="bypass"}')).toBe(0);
    expect(samples.get('trpc_caching_bypasses_total{reason="breaker-open"}')).toBe(0);
    expect(samples.get('trpc_caching_path_reads_total{path="notes.list",status="hit"}')).toBe(1);
    expect(samples.get('trpc_caching_path_reads_total{path="notes.list",status="miss"}')).toBe(3);
    expect(samples.get('trpc_caching_path_reads_total{path="feed.list",status="hit"}')).toBe(1);
    expect(samples.get('trpc_caching_invalidations_total{written="true"}')).toBe(1);
    expect(samples.get('trpc_caching_pending_invalidations')).toBe(0);
    expect(samples.get('trpc_caching_breaker_state{state="closed"}')).toBe(1);
    expect(samples.get('trpc_caching_breaker_state{state="open"}')).toBe(0);
    const p99 = samples.get('trpc_caching_store_latency_seconds{operation="read",quantile="0.99"}');
    expect(p99).toBeGreaterThan(0);
    expect(p99).toBeLessThan(2);
    // No user id or token in any label.
    expect(text).not.toMatch(/alice|bob|token/);
  });

  it('counts up between scrapes', async () => {
    app = await start({ port: 0, dbDelayMs: 1, cacheTimeout: 2_000 });
    const { url } = app;
    await rest(url, null, '/feed');
    const before = (await scrape(url)).samples.get('trpc_caching_reads_total{status="hit"}');
    await rest(url, null, '/feed');
    await rest(url, null, '/feed');
    const after = (await scrape(url)).samples.get('trpc_caching_reads_total{status="hit"}');
    expect([before, after]).toEqual([0, 2]);
  });

  it("counts the consistency auditor's checks, with no divergence for the example's invalidations", async () => {
    app = await start({ port: 0, dbDelayMs: 1, cacheTimeout: 2_000, auditSampleRate: 1 });
    const { url } = app;
    for (let i = 0; i < 3; i++) await rest(url, 'alice-token', '/notes');
    await rest(url, null, '/feed');
    await rest(url, null, '/feed');
    // Each hit is checked after its answer, a window later: wait for the three checks rather than for a time.
    let samples = (await scrape(url)).samples;
    for (let tries = 0; tries < 200 && (samples.get('trpc_caching_audit_checks_total{outcome="agreed"}') ?? 0) < 3; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      samples = (await scrape(url)).samples;
    }
    expect(samples.get('trpc_caching_audit_checks_total{outcome="agreed"}')).toBe(3);
    expect(samples.get('trpc_caching_audit_checks_total{outcome="diverged"}')).toBe(0);
  });

  it("shows the demo's forgotten invalidation as a divergence on /metrics and in the log, naming the mutation", async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      app = await start({ port: 0, dbDelayMs: 1, cacheTimeout: 2_000, auditSampleRate: 1 });
      const { url } = app;
      expect((await rest(url, null, '/demo/motd')).body).toEqual({ text: 'Welcome' });
      expect((await rest(url, 'alice-token', '/demo/motd', { method: 'PUT', body: { text: 'Changed' } })).status).toBe(200);
      // The bug: the cache still serves the old message.
      expect((await rest(url, null, '/demo/motd')).body).toEqual({ text: 'Welcome' });
      let samples = (await scrape(url)).samples;
      for (let tries = 0; tries < 200 && (samples.get('trpc_caching_audit_checks_total{outcome="diverged"}') ?? 0) < 1; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        samples = (await scrape(url)).samples;
      }
      expect(samples.get('trpc_caching_audit_checks_total{outcome="diverged"}')).toBe(1);
      expect(samples.get('trpc_caching_audit_path_divergences_total{path="demo.motd"}')).toBe(1);
      const lines = logged.mock.calls.map((call) => String(call[0]));
      expect(lines.filter((line) => line.includes('"demo.motd" served data its resolver no longer returns'))).toEqual([
        expect.stringContaining('demo.setMotd'),
      ]);
    } finally {
      logged.mockRestore();
    }
  });
});
