// The fast path's promise, byte for byte: random requests sent to the app behind `fastPath` and to the same app on
// tRPC's standalone adapter alone, each over its own store holding the same history, answer alike.
import fc from 'fast-check';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeKinds } from '../../support/stores.js';
import { type Exchange, exchange, serveFastApp } from './app.js';

interface Call {
  readonly path: 'echo' | 'pub' | 'boom' | 'plain' | 'missing' | 'rest';
  readonly input: unknown;
}

interface Step {
  readonly kind: 'get' | 'stream' | 'post' | 'rest';
  readonly calls: readonly Call[];
  readonly batch: boolean;
  readonly user: string | null;
  readonly etag: 'none' | 'current' | 'stale';
}

const scalar = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.integer(),
  fc.double({ noDefaultInfinity: false }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ min: new Date(0), max: new Date(4_000_000_000_000), noInvalidDate: true }),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
);
const input: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: scalar },
  fc.dictionary(fc.constantFrom('a', 'b', 'c'), scalar, { maxKeys: 3 }),
  fc.array(scalar, { maxLength: 3 }),
  fc.array(fc.tuple(fc.constantFrom('x', 'y'), scalar), { maxLength: 2 }).map((pairs) => new Map(pairs)),
  fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }).map((items) => new Set(items)),
);
// Few distinct inputs and paths, so that a run repeats calls and reaches hits, and batches repeat paths.
const call: fc.Arbitrary<Call> = fc.record({
  path: fc.constantFrom('echo', 'echo', 'echo', 'pub', 'pub', 'boom', 'plain', 'missing', 'rest'),
  input: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(undefined, 'hi', 'odd', 7, new Date(0)) }, input),
});
const step: fc.Arbitrary<Step> = fc
  .record({
    kind: fc.constantFrom('get', 'get', 'get', 'get', 'get', 'get', 'stream', 'post', 'rest', 'rest'),
    calls: fc.array(call, { minLength: 1, maxLength: 3 }),
    batch: fc.boolean(),
    user: fc.constantFrom('alice', 'alice', 'bob', 'revoked', null),
    etag: fc.constantFrom('none', 'current', 'current', 'stale'),
  })
  .map((s) => ({ ...s, batch: s.batch || s.calls.length > 1 || s.kind === 'stream' }));

/** The request a step makes, with the ETag a client would send (the last one its URL got from the control). */
function requestOf(s: Step, etags: Map<string, string>) {
  const headers: Record<string, string> = {};
  if (s.user !== null) headers.authorization = `Bearer ${s.user}`;
  if (s.kind === 'post') {
    return { path: '/trpc/bump', key: '', init: { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '' } };
  }
  if (s.kind === 'rest') {
    // trpc-to-openapi's REST route of `rest`, which the fast path hands on.
    const q = s.calls[0]?.input;
    const path = `/api/echo${typeof q === 'string' ? `?q=${encodeURIComponent(q)}` : ''}`;
    const key = `${s.user} ${path}`;
    const known = etags.get(key);
    if (s.etag === 'stale') headers['if-none-match'] = '"0123456789abcdef0123456789abcdef"';
    if (s.etag === 'current' && known !== undefined) headers['if-none-match'] = known;
    return { path, key, init: { headers } };
  }
  const paths = s.calls.map((c) => c.path).join(',');
  const inputs = s.batch
    ? Object.fromEntries(s.calls.map((c, i) => [i, c.input === undefined ? undefined : superjson.serialize(c.input)]))
    : s.calls[0]?.input === undefined
      ? undefined
      : superjson.serialize(s.calls[0].input);
  const query = [s.batch ? 'batch=1' : '', inputs === undefined ? '' : `input=${encodeURIComponent(JSON.stringify(inputs))}`]
    .filter(Boolean)
    .join('&');
  const path = `/trpc/${paths}${query ? `?${query}` : ''}`;
  const key = `${s.user} ${path}`;
  if (s.kind === 'stream') headers['trpc-accept'] = 'application/jsonl';
  const known = etags.get(key);
  if (s.etag === 'stale') headers['if-none-match'] = '"0123456789abcdef0123456789abcdef"';
  if (s.etag === 'current' && known !== undefined) headers['if-none-match'] = known;
  return { path, key, init: { headers } };
}

function etagOf(response: Exchange): string | undefined {
  const line = response.headers.find((header) => header.toLowerCase().startsWith('etag: '));
  return line?.slice('etag: '.length);
}

describe.each(storeKinds())('the fast path on $name', (kind) => {
  let fast: Awaited<ReturnType<typeof serveFastApp>>;
  let control: Awaited<ReturnType<typeof serveFastApp>>;

  beforeAll(async () => {
    const store = await kind.fresh();
    fast = await serveFastApp(store, 'fast', true);
    control = await serveFastApp(store, 'control', false);
  });
  afterAll(async () => {
    await Promise.all([fast?.listening.close(), control?.listening.close()]);
    fast?.caching.close();
    control?.caching.close();
  });

  it('answers every request exactly as tRPC alone does: status, every header and the body', async () => {
    const etags = new Map<string, string>();
    let served = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 5 }), async (steps) => {
        // Each step twice in a row: the second is a hit wherever the first filled (or a 304 with the ETag it got).
        for (const s of steps.flatMap((one) => [one, { ...one, etag: one.etag === 'none' ? ('none' as const) : ('current' as const) }])) {
          const { path, key, init } = requestOf(s, etags);
          const regularBefore = fast.counters.regular;
          const got = await exchange(fast.listening.url + path, init);
          const want = await exchange(control.listening.url + path, init);
          if (fast.counters.regular === regularBefore) served++;
          const tag = etagOf(want);
          if (tag !== undefined) etags.set(key, tag);
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            console.error(
              'fast path and tRPC differ on',
              JSON.stringify(s, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)),
              path,
              init,
            );
          }
          expect(got).toEqual(want);
        }
      }),
      { numRuns: kind.name === 'memory' ? 50 : 30 },
    );
    // The property means little unless the fast path answered some requests by itself (how many depends on the random
    // requests: fast-path.test.ts asserts which requests it answers).
    expect(served).toBeGreaterThan(0);
  }, 60_000);
});
