// The example's live page in headless Chromium: alice and bob side by side, each with a TanStack Query cache. An
// edit in alice's pane reaches bob's pane over the live stream, and only the queries the mutation moved are
// fetched again (counted from the browser's own network requests); nothing polls.
import type { Browser, Request } from 'playwright-core';
import { parseSyncHeader, SYNC_HEADER } from 'trpc-caching/client';
import { afterEach, describe, expect, it } from 'vitest';
import { launchChromium } from '../../test/support/browser.js';
import { type RunningApp, start } from '../src/server.js';

const TOKEN_USERS: Record<string, string> = { 'Bearer alice-token': 'alice', 'Bearer bob-token': 'bob' };

/** `user path` for each call of a tRPC request (a batch names several paths), the live streams left out. */
function callsOf(request: Request): string[] {
  const url = new URL(request.url());
  if (!url.pathname.startsWith('/trpc/')) return [];
  const user = TOKEN_USERS[request.headers().authorization ?? ''] ?? 'anon';
  return url.pathname
    .slice('/trpc/'.length)
    .split(',')
    .filter((path) => path !== 'invalidations')
    .map((path) => `${user} ${path}`);
}

const tally = (calls: readonly string[]) => {
  const counts: Record<string, number> = {};
  for (const call of calls) counts[call] = (counts[call] ?? 0) + 1;
  return counts;
};

let app: RunningApp | undefined;
let browser: Browser | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await app?.close();
  app = undefined;
});

describe('the live page of the example app', () => {
  it("shows alice's edit of the shared note in bob's pane, refetching only the queries her mutation moved", async () => {
    app = await start({ port: 0, dbDelayMs: 0 });
    browser = await launchChromium();
    const page = await browser.newPage();
    const origin = new URL(app.url).origin;
    const foreign: string[] = [];
    const calls: string[] = [];
    const streams: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.origin !== origin && !request.url().startsWith('data:')) foreign.push(request.url());
      if (url.pathname === '/trpc/invalidations') streams.push(request.url());
      calls.push(...callsOf(request));
    });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    expect((await page.goto(`${app.url}/app`))?.status()).toBe(200);
    const alice = page.locator('[data-pane="alice"]');
    const bob = page.locator('[data-pane="bob"]');
    for (const pane of [alice, bob]) {
      await pane.locator('[data-query="notes.byId"] .title', { hasText: "alice's note 1" }).waitFor({ timeout: 20_000 });
      await pane.locator('[data-query="feed.list"] li').first().waitFor({ timeout: 10_000 });
      await page.locator(`[data-pane="${await pane.getAttribute('data-pane')}"][data-live="ready"]`).waitFor({ timeout: 10_000 });
    }
    // Every query of both panes, once.
    expect(tally(calls)).toEqual({
      'alice users.me': 1,
      'alice notes.byId': 1,
      'alice notes.list': 1,
      'alice feed.list': 1,
      'bob users.me': 1,
      'bob notes.byId': 1,
      'bob notes.list': 1,
      'bob feed.list': 1,
    });
    expect(streams).toHaveLength(2);
    // Each badge shows the X-Cache of its query's last response.
    for (const status of await page.locator('[data-status]').allTextContents()) expect(['HIT', 'MISS']).toContain(status);

    calls.length = 0;
    const title = 'Edited in alice’s pane';
    await alice.getByLabel('New title (alice)').fill(title);
    const savedAt = Date.now();
    await alice.getByRole('button', { name: 'Save' }).click();
    await bob.locator('[data-query="notes.byId"] .title', { hasText: title }).waitFor({ timeout: 10_000 });
    const shownAfterMs = Date.now() - savedAt;
    await alice.locator('[data-query="notes.byId"] .title', { hasText: title }).waitFor({ timeout: 10_000 });
    // The note is at the top of both lists (most recently updated first).
    await bob.locator('[data-query="notes.list"] li', { hasText: title }).waitFor({ timeout: 10_000 });
    // Quiet for a while: nothing polls, and no refetch comes late.
    await page.waitForTimeout(1_500);

    // Alice's mutation moved both participants' scopes and the note's tag: each pane refetched its per-user
    // queries once; the public feed (the note is not published) was fetched by nobody.
    expect(tally(calls)).toEqual({
      'alice notes.update': 1,
      'alice users.me': 1,
      'alice notes.byId': 1,
      'alice notes.list': 1,
      'bob users.me': 1,
      'bob notes.byId': 1,
      'bob notes.list': 1,
    });
    expect(await bob.locator('[data-status="notes.byId"]').textContent()).toBe('MISS');
    expect(await bob.locator('.log').textContent()).toContain('live');
    expect(streams).toHaveLength(2);
    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    console.log(`[browser] bob's pane showed alice's edit ${shownAfterMs} ms after she clicked Save`);
  });

  it('tells REST callers in X-Cache-Sync what a note depends on and what an edit moved, for the caller alone', async () => {
    app = await start({ port: 0, dbDelayMs: 0 });
    const as = (token: string, init: RequestInit = {}) => ({
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    // Each entry names its call's input digest (8 hex digits), so a client can pair it without positions.
    const digest = expect.stringMatching(/^[0-9a-f]{8}$/);
    const read = await fetch(`${app.url}/api/notes/1`, as('alice-token'));
    expect(parseSyncHeader(read.headers.get(SYNC_HEADER))).toEqual([{ path: 'notes.byId', in: digest, scope: 'user', tags: ['note:1'] }]);
    const feed = await fetch(`${app.url}/api/feed`);
    expect(parseSyncHeader(feed.headers.get(SYNC_HEADER))).toEqual([{ path: 'feed.list', in: digest, scope: 'public', tags: ['feed'] }]);
    // Bob edits alice's note: both scopes move; bob is told of his own as `self`, and nothing of alice.
    const edit = await fetch(`${app.url}/api/notes/1`, as('bob-token', { method: 'PATCH', body: JSON.stringify({ title: 'over REST' }) }));
    expect(edit.status).toBe(200);
    const header = edit.headers.get(SYNC_HEADER) ?? '';
    expect(parseSyncHeader(header)).toEqual([
      { path: 'notes.update', in: digest, moved: { id: expect.any(String), self: true, tags: ['note:1'] } },
    ]);
    expect(header).not.toContain('alice');
  });
});
