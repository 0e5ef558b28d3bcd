import { type RedisServer, startRedis } from './redis.js';
import { eventually } from './redis-store.js';

/** The account the app's store logs in with, so that a fault can take its rights away and leave the test's own connection alone. */
export const APP_USER = 'app';
const APP_PASSWORD = 'app-secret';

/** Creates the app's Redis account with every right. */
export async function createAppUser(server: RedisServer): Promise<string> {
  await server.command('ACL', 'SETUSER', APP_USER, 'on', `>${APP_PASSWORD}`, '~*', '&*', '+@all');
  return `redis://${APP_USER}:${APP_PASSWORD}@127.0.0.1:${server.port}`;
}

/** A way for Redis to fail, and the way back. */
export interface Fault {
  readonly name: string;
  /** For a fault that ends by itself: how long after `inject` returned it surely still holds, in ms. */
  readonly holdsFor?: number;
  inject(server: RedisServer): Promise<void>;
  heal(server: RedisServer): Promise<void>;
}

/**
 * Runs `body` while `fault` holds on `server`, and heals it afterwards whatever `body` did.
 *
 * @example
 * ```ts
 * await during(erroring, server, async () => expect(await caller.notes.list()).toEqual(notes));
 * ```
 */
export async function during(fault: Fault, server: RedisServer, body: () => Promise<void>): Promise<void> {
  await fault.inject(server);
  try {
    await body();
  } finally {
    await fault.heal(server);
  }
}

/** How long `CLIENT PAUSE ... ALL` lasts: Redis 7.0 blocks even `CLIENT UNPAUSE` then, so the pause must end by itself. */
export const PAUSE_ALL_MS = 2_500;

const answers = async (server: RedisServer): Promise<boolean> => {
  const ping = server.command('PING').then(
    () => true,
    () => false,
  );
  const late = new Promise<boolean>((resolve) => setTimeout(resolve, 1_000, false));
  return Promise.race([ping, late]);
};

/** Redis is up and answers every command of the app with an error (its rights were revoked: NOPERM). */
export const erroring: Fault = {
  name: 'answers every command with an error',
  async inject(server) {
    await server.command('ACL', 'SETUSER', APP_USER, '-@all', '+@connection');
  },
  async heal(server) {
    await server.command('ACL', 'SETUSER', APP_USER, '+@all');
  },
};

/** Redis holds every command (`CLIENT PAUSE ALL`) until the pause ends. */
export const pausedAll: Fault = {
  name: 'is paused (CLIENT PAUSE ALL)',
  // The pause started before inject returned, so it holds at least this long after.
  holdsFor: PAUSE_ALL_MS,
  async inject(server) {
    await server.command('CLIENT', 'PAUSE', String(PAUSE_ALL_MS), 'ALL');
  },
  async heal(server) {
    await eventually('the pause ends', () => answers(server), PAUSE_ALL_MS + 5_000);
  },
};

/** Redis answers reads but holds writes (`CLIENT PAUSE WRITE`, as during a failover). */
export const pausedWrites: Fault = {
  name: 'holds writes (CLIENT PAUSE WRITE, as in a failover)',
  async inject(server) {
    await server.command('CLIENT', 'PAUSE', '60000', 'WRITE');
  },
  async heal(server) {
    await server.command('CLIENT', 'UNPAUSE');
  },
};

/** The Redis process is frozen (SIGSTOP): connections stay open and nothing answers. */
export const stopped: Fault = {
  name: 'is frozen (SIGSTOP)',
  async inject(server) {
    server.process.kill('SIGSTOP');
  },
  async heal(server) {
    server.process.kill('SIGCONT');
    await eventually('Redis answers again', () => answers(server));
  },
};

/** The Redis process was killed (SIGKILL) and comes back with its AOF data. */
export const killed: Fault = {
  name: 'was killed (SIGKILL) and restarted with its data',
  async inject(server) {
    await server.stop(true);
  },
  async heal(server) {
    await server.restart();
    // ACL users live in the config, not in the AOF: the app's account comes back with the operator.
    await createAppUser(server);
  },
};

/**
 * For the fault suites: a redis-server that keeps its data across a restart (AOF), with the app's account.
 * `url` logs in as that account.
 */
export async function startAppRedis(): Promise<{ server: RedisServer; url: string }> {
  const server = await startRedis({ appendonly: true });
  return { server, url: await createAppUser(server) };
}
