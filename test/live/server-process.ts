// A second process for test/live/stream.test.ts: the client test app on the Redis at REDIS_URL, served on a free
// loopback port, its URL sent to the parent. It exits when the parent disconnects.
import KeyvRedis from '@keyv/redis';
import { createRawStringStore } from '../../src/stores/raw-string.js';
import { clientApp, serve } from '../client/app.js';

const adapter = new KeyvRedis(process.env.REDIS_URL);
const app = clientApp(createRawStringStore(adapter));
const server = await serve(app);
process.send?.({ url: server.url });
process.on('disconnect', () => {
  void server.close().then(async () => {
    app.caching.close();
    await adapter.disconnect().catch(() => {});
    process.exit(0);
  });
});
