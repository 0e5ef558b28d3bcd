import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, stopProcess, waitForServer } from './redis.js';

/** The VCL the example app runs behind: caches public answers, purges by xkey. */
export const EXAMPLE_VCL = fileURLToPath(new URL('../../example-app/edge/varnish.vcl', import.meta.url));

export interface VarnishServer {
  /** Where clients read through Varnish, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts `varnishd` in the foreground on a free loopback port, in front of `backendPort`, with the example VCL (or
 * `vcl`, whose `__BACKEND_HOST__`/`__BACKEND_PORT__` are filled in), its working directory a fresh temp dir, 32 MB of
 * malloc storage and no management port. Resolves once it answers HTTP.
 */
export async function startVarnish(backendPort: number, options: { vcl?: string; port?: number } = {}): Promise<VarnishServer> {
  const dir = await mkdtemp(join(tmpdir(), 'trpc-caching-varnish-'));
  // Run as root, varnishd's worker drops to its own user (vcache), which must reach the working directory.
  await chmod(dir, 0o755);
  const template = await readFile(options.vcl ?? EXAMPLE_VCL, 'utf8');
  const vclFile = join(dir, 'edge.vcl');
  await writeFile(vclFile, template.replaceAll('__BACKEND_HOST__', '127.0.0.1').replaceAll('__BACKEND_PORT__', String(backendPort)));
  const port = options.port ?? (await freePort());
  const child: ChildProcess = spawn(
    'varnishd',
    ['-F', '-a', `127.0.0.1:${port}`, '-T', 'none', '-f', vclFile, '-n', join(dir, 'n'), '-s', 'malloc,32m', '-p', 'default_grace=0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let said = '';
  const hear = (chunk: Buffer) => {
    said = (said + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', hear);
  child.stderr?.on('data', hear);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForServer('varnishd', child, async () => {
      const response = await fetch(`${url}/__ready`, { method: 'PURGE', headers: { 'xkey-purge': 'none' } });
      if (!response.ok) throw new Error(`varnishd answered ${response.status}`);
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${String(error)}; varnishd said: ${said}`);
  }
  return {
    url,
    port,
    async stop() {
      await stopProcess(child, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
