/**
 * Output of the benchmarks: tables on stdout, and docs/benchmarks.md with
 * docs/benchmarks.svg regenerated from the latest results of every script.
 * The results travel inside the page, as JSON in a trailing comment, so that
 * `bench`, `bench:http` and `compare.ts` can run apart and each updates only
 * its own part.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { chart } from './chart.js';
import { renderMarkdown } from './markdown.js';

/** A table as printed and as written to the Markdown page. */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  readonly note?: string;
}

/** One bar of the chart: a ratio against the baseline of its group. */
export interface Bar {
  readonly group: string;
  readonly label: string;
  readonly ratio: number;
  /** Marks the row that is the library itself. */
  readonly ours?: boolean;
}

/** A chart group: its title and the target line, if any. */
export interface BarGroup {
  readonly title: string;
  readonly target?: { readonly ratio: number; readonly label: string };
}

/** What one script measured. */
export interface Section {
  readonly tables: readonly Table[];
  readonly bars: readonly Bar[];
  readonly groups: Readonly<Record<string, BarGroup>>;
  /** Figures quoted in the text of the page. */
  readonly headline: Readonly<Record<string, string>>;
  /** The targets of the benchmark issue, as measured. */
  readonly targets: ReadonlyArray<{ readonly goal: string; readonly measured: string; readonly met: boolean }>;
  readonly ranAt: string;
  /** Load average (1 min) of the machine when the run started and ended: other work on it skews every figure. */
  readonly load: readonly [number, number];
}

export type InProcessResults = Omit<Section, 'ranAt' | 'load'>;

export interface Machine {
  readonly cpus: number;
  readonly cpu: string;
  readonly node: string;
  readonly redis: string;
  readonly os: string;
}

export interface Results {
  readonly machine?: Machine;
  readonly inProcess?: Section;
  readonly http?: Section;
  /** Before/after of the hot path (bench/compare.ts). */
  readonly compare?: Section;
}

const MARKDOWN = new URL('../docs/benchmarks.md', import.meta.url);
const SVG = new URL('../docs/benchmarks.svg', import.meta.url);
const RESULTS_COMMENT = /^<!-- bench-results (.*) -->$/m;

/** Microseconds, to 3 significant digits. */
export function micros(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function ratio(value: number): string {
  return `${value.toFixed(2)}x`;
}

export function printTable(table: Table): void {
  const widths = table.columns.map((column, i) => Math.max(column.length, ...table.rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  console.log(table.title);
  console.log(line(table.columns));
  for (const row of table.rows) console.log(line(row));
  if (table.note) console.log(table.note);
  console.log('');
}

/** What a script that adds to bench/run.ts's results measures: tables, targets and headline figures. */
export type ExtraRows = Pick<InProcessResults, 'tables' | 'targets' | 'headline'>;

/** `results` with the tables, targets and headline figures of `more` after its own. */
export function withRows(results: InProcessResults, more: ExtraRows): InProcessResults {
  return {
    ...results,
    tables: [...results.tables, ...more.tables],
    targets: [...results.targets, ...more.targets],
    headline: { ...results.headline, ...more.headline },
  };
}

/**
 * For a script that bench/run.ts also imports: when node was started with this script (`url` is its
 * `import.meta.url`), runs `produce`, prints its tables and targets, and exits; otherwise does nothing.
 */
export async function runAlone(url: string, produce: () => Promise<ExtraRows>): Promise<void> {
  if (process.argv[1] !== fileURLToPath(url)) return;
  const results = await produce();
  for (const table of results.tables) printTable(table);
  for (const target of results.targets) console.log(`${target.met ? 'met' : 'NOT MET'}: ${target.goal}: ${target.measured}`);
  process.exit(0);
}

function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  let redis = 'unknown';
  try {
    redis = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? redis;
  } catch {
    // No redis-server: the HTTP benchmark alone can still run.
  }
  const os = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSafe('/etc/os-release'))?.[1] ?? process.platform;
  return { cpus: availableParallelism(), cpu, node: process.version, redis, os };
}

function readFileSafe(url: string | URL): string {
  try {
    return readFileSync(url, 'utf8');
  } catch {
    return '';
  }
}

/** Merges a script's results into bench/results.json and regenerates the page and the chart. */
export async function saveResults(
  update: { inProcess?: InProcessResults; http?: InProcessResults; compare?: InProcessResults },
  loadAtStart: number,
): Promise<void> {
  const previous = RESULTS_COMMENT.exec(readFileSafe(MARKDOWN))?.[1];
  const parsed: Results = previous ? (JSON.parse(previous) as Results) : {};
  // Results of an older version of the scripts lack fields the page needs: they count as not run.
  const current = (section: Section | undefined) => (Array.isArray(section?.load) && Array.isArray(section?.targets) ? section : undefined);
  const old: Results = { inProcess: current(parsed.inProcess), http: current(parsed.http), compare: current(parsed.compare) };
  const stamp = { ranAt: new Date().toISOString(), load: [loadAtStart, loadavg()[0] ?? 0] as const };
  const results: Results = {
    machine: machine(),
    inProcess: update.inProcess ? { ...update.inProcess, ...stamp } : old.inProcess,
    http: update.http ? { ...update.http, ...stamp } : old.http,
    compare: update.compare ? { ...update.compare, ...stamp } : old.compare,
  };
  writeFileSync(SVG, chart(results));
  // `-->` can only occur inside a JSON string, where \u003e reads back as the same text.
  const data = JSON.stringify(results).replace(/-->/g, '--\\u003e');
  writeFileSync(MARKDOWN, `${renderMarkdown(results)}\n<!-- bench-results ${data} -->\n`);
  console.log('wrote docs/benchmarks.md and docs/benchmarks.svg');
}
