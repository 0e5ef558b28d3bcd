import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import KeyvMemcache from '@keyv/memcache';
import { Keyv } from 'keyv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachingConfigError, createRawStringStore } from '../../src/index.js';
import { createContractApp } from '../support/apps/contract.js';
import { freePort } from '../support/redis.js';

/** Debian's memcached on a free loopback port, for this file only (`-u` lets it start when the tests run as root). */
async function startMemcached(): Promise<{ address: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn('memcached', ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '16', '-u', 'nobody'], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`memcached exited with code ${child.exitCode}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error('memcached did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('@keyv/memcache', () => {
  let memcached: Awaited<ReturnType<typeof startMemcached>>;
  const adapters: KeyvMemcache[] = [];
  const adapter = (): KeyvMemcache => {
    const made = new KeyvMemcache(memcached.address);
    adapters.push(made);
    return made;
  };
  beforeAll(async () => {
    memcached = await startMemcached();
  });
  afterAll(async () => {
    for (const made of adapters) made.client.close();
    await memcached?.stop();
  });

  it('caches, serves hits and invalidates through a plain Keyv, with no error and no crash', async () => {
    const app = createContractApp(new Keyv(adapter()));
    const alice = app.caller('alice');
    const first = await alice.value('rich');
    // Reading an existing entry is what crashed the process under the raw-string store.
    expect(await alice.value('rich')).toEqual(first);
    expect(await alice.post.list({ page: 1 })).toEqual({ rev: 0, page: 1 });
    expect(await alice.post.list({ page: 1 })).toEqual({ rev: 0, page: 1 });
    expect(app.runs('value', 'alice', 'rich')).toBe(1);
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(1);
    await alice.post.touch();
    expect(await alice.post.list({ page: 1 })).toEqual({ rev: 1, page: 1 });
    expect(await alice.post.list({ page: 1 })).toEqual({ rev: 1, page: 1 });
    expect(app.runs('post.list', 'alice', { page: 1 })).toBe(2);
    // Another user's entries are untouched by alice's mutation.
    const bob = app.caller('bob');
    await bob.post.list({ page: 1 });
    await bob.post.list({ page: 1 });
    expect(app.runs('post.list', 'bob', { page: 1 })).toBe(1);
    expect(app.errors).toEqual([]);
  });

  it('is refused by createRawStringStore at creation, with an error that says to use a plain Keyv', () => {
    const made = adapter();
    expect(() => createRawStringStore(made)).toThrow(CachingConfigError);
    expect(() => createRawStringStore(made)).toThrow(/@keyv\/memcache parses every value.*new Keyv\(adapter\)/);
  });
});
