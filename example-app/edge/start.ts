// `npm run example:edge`: the example app behind a real Varnish (vmod xkey), with purges before each mutation returns.
// Starts the app on a free port, then `varnishd` in front of it with example-app/edge/varnish.vcl. Needs Debian's
// `varnish` and `varnish-modules` (npm run setup installs them). EDGE_PORT sets Varnish's port (default 6081).
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from '../src/server.js';

const edgePort = Number(process.env.EDGE_PORT ?? 6081);
const edgeUrl = `http://127.0.0.1:${edgePort}`;
// The app purges Varnish where clients read it; set before the app starts, since createAppCaching reads it.
process.env.EDGE_PURGE_URL = `${edgeUrl}/`;
const app = await start({ port: 0 });
const apiPort = new URL(app.url).port;

const dir = mkdtempSync(join(tmpdir(), 'trpc-caching-example-varnish-'));
// Run as root, varnishd's worker drops to its own user, which must reach the working directory.
chmodSync(dir, 0o755);
const vcl = readFileSync(fileURLToPath(new URL('./varnish.vcl', import.meta.url)), 'utf8')
  .replaceAll('__BACKEND_HOST__', '127.0.0.1')
  .replaceAll('__BACKEND_PORT__', apiPort);
writeFileSync(join(dir, 'edge.vcl'), vcl);
const varnish: ChildProcess = spawn(
  'varnishd',
  ['-F', '-a', `127.0.0.1:${edgePort}`, '-T', 'none', '-f', join(dir, 'edge.vcl'), '-n', join(dir, 'n'), '-s', 'malloc,64m'],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);

const stop = async (code: number) => {
  varnish.kill('SIGTERM');
  await app.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
};
varnish.once('exit', (status) => {
  console.error(`varnishd exited (${status}); is varnish-modules installed? (npm run setup)`);
  void stop(1);
});
console.log(`Notes API behind Varnish: ${edgeUrl} (the API itself: ${app.url})`);
console.log(`  curl -si ${edgeUrl}/trpc/feed.list?input=%7B%22json%22%3A%7B%7D%7D | grep -iE 'x-edge|xkey|cache-control'`);
console.log('  The second read is an edge HIT; a mutation of a note purges the feed before it returns. Ctrl+C stops.');
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));
