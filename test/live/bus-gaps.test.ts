// Two live hubs (two processes' worth) on one real Redis channel: a move whose publish Redis refuses for a moment is
// sent again, and one lost for good is not silent: the next move of the same hub makes every page of the other reset.
import { createClient } from '@redis/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../src/client/index.js';
import type { PubSub } from '../../src/engine/store.js';
import { type LiveConnection, LiveHub } from '../../src/live/hub.js';
import { redisPubSub } from '../../src/stores/redis/pubsub.js';
import { fileRedis } from '../support/redis-file.js';
import { until } from '../support/until.js';

const redis = fileRedis();
const open: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

/** Redis's pub/sub, with the publishes of a move tagged with a key of `refuse` refused that many attempts. */
async function bus(refuse: Map<string, number> = new Map()): Promise<PubSub> {
  const client = createClient({ url: redis.url });
  await client.connect();
  open.push(() => client.destroy());
  const real = redisPubSub(client as unknown as Parameters<typeof redisPubSub>[0]);
  return {
    subscribe: real.subscribe.bind(real),
    async publish(channel, message) {
      for (const [tag, left] of refuse) {
        if (left > 0 && message.includes(`"${tag}"`)) {
          refuse.set(tag, left - 1);
          throw new Error('refused (a failover under way)');
        }
      }
      await real.publish(channel, message);
    },
  };
}

async function hubOn(pubsub: PubSub): Promise<LiveHub> {
  const hub = new LiveHub({ bufferSize: 64, historySize: 64, report: () => {} }, { pubsub, channel: 'test:moves' });
  open.push(() => hub.close());
  return hub;
}

/** Every event a connection gets, as it gets them. */
function collect(connection: LiveConnection): LiveEvent[] {
  const events: LiveEvent[] = [];
  void (async () => {
    for (let delivery = await connection.next(); delivery !== undefined; delivery = await connection.next()) events.push(delivery.event);
  })();
  return events;
}

const move = (tag: string) => ({ id: tag, all: false, scopes: [], paths: [], tags: [tag] });
const tagsOf = (events: LiveEvent[]) =>
  events.flatMap((event) => (event.type === 'moved' ? (event.moved.tags ?? []) : [`<${event.type}>`]));

/**
 * The other hub's page, once it hears hub `sender` (a hub subscribes in the background: what is published before it
 * listens is not heard, and a first message from a hub is no gap, so warm-up moves are sent until one arrives).
 */
async function pageOf(receiver: LiveHub, sender: LiveHub): Promise<LiveEvent[]> {
  const events = collect(receiver.connect('anon'));
  await until(() => events.length > 0);
  for (let i = 0; !tagsOf(events).some((tag) => tag.startsWith('warm-')); i++) {
    sender.publish(move(`warm-${i}`));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return events;
}

describe('moves between processes over Redis pub/sub', () => {
  it('sends a move again when the bus refuses it for a moment: the other page gets the move itself, no reset', async () => {
    const sender = await hubOn(await bus(new Map([['refused-twice', 2]])));
    const receiver = await hubOn(await bus());
    const events = await pageOf(receiver, sender);
    sender.publish(move('refused-twice'));
    sender.publish(move('after'));
    await until(() => tagsOf(events).includes('refused-twice') && tagsOf(events).includes('after'));
    expect(tagsOf(events)).not.toContain('<reset>');
  });

  it('tells the other page to reset at the next move of the same process when one was lost for good', async () => {
    const sender = await hubOn(await bus(new Map([['lost', 100]])));
    const receiver = await hubOn(await bus());
    const events = await pageOf(receiver, sender);
    sender.publish(move('lost'));
    sender.publish(move('next'));
    await until(() => tagsOf(events).includes('next'));
    const after = tagsOf(events).filter((tag) => tag === '<reset>' || tag === 'lost' || tag === 'next');
    // The lost move never arrives; the reset before the next one covers it.
    expect(after).toEqual(['<reset>', 'next']);
  });

  it('resets nobody while no move is lost, whatever the number of processes', async () => {
    const [a, b, c] = [await hubOn(await bus()), await hubOn(await bus()), await hubOn(await bus())];
    const events = await pageOf(c, a);
    for (let i = 0; i < 20; i++) (i % 2 === 0 ? a : b).publish(move(`m${i}`));
    await until(() => tagsOf(events).includes('m18') && tagsOf(events).includes('m19'));
    expect(tagsOf(events).filter((tag) => tag === '<reset>')).toEqual([]);
  });
});
