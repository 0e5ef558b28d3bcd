import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection, also when node was started without
 * `--expose-gc` (as `tsx bench/run.ts` is): the flag is set at run time and
 * `gc` taken from a fresh context, where V8 installs it.
 */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}
