import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { monotonicNow } from '../../src/engine/clock.js';
import { Deadlines } from '../../src/stores/deadlines.js';

const EXPIRED = Symbol('expired');

describe('the deadlines of store calls', () => {
  it('gives up on every call still pending when its time is up, and returns the ones that settle, whichever settles first', async () => {
    const deadlines = new Deadlines(30);
    const hung = Array.from({ length: 5 }, () => deadlines.race(new Promise<string>(() => {}), monotonicNow(), EXPIRED));
    const quick = deadlines.race(Promise.resolve('value'), monotonicNow(), EXPIRED);
    const failing = deadlines.race(Promise.reject(new Error('store down')), monotonicNow(), EXPIRED);
    expect(await quick).toBe('value');
    await expect(failing).rejects.toThrow('store down');
    // Started later, behind the hung ones: still expired on time, by the same timer.
    const later = deadlines.race(new Promise<string>(() => {}), monotonicNow(), EXPIRED);
    expect(await Promise.all(hung)).toEqual(Array(5).fill(EXPIRED));
    expect(await later).toBe(EXPIRED);
  });

  it('does not keep the process alive once no call is in flight', async () => {
    // A timeout of an hour: the child exits only if the timer left behind by its finished call does not hold it.
    const script = `
      const { Deadlines } = await import(${JSON.stringify(fileURLToPath(new URL('../../src/stores/deadlines.ts', import.meta.url)))});
      const result = await new Deadlines(3_600_000).race(Promise.resolve('done'), performance.now(), 'expired');
      console.log(result);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    // Also when the test times out: the child would otherwise wait for its hour.
    onTestFinished(() => {
      child.kill();
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: 'done' });
  }, 30_000);
});
