/**
 * A horizontal bar chart of the ratios, one panel per group, as a plain SVG
 * string: no dependency, and the same input always draws the same picture.
 */
import type { Bar, BarGroup, Results } from './report.js';

const WIDTH = 820;
const LABEL = 300;
const BAR_AREA = WIDTH - LABEL - 90;
const BAR = 18;
const GAP = 6;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The chart of every group of both sections that has results. */
export function chart(results: Results): string {
  const groups: Array<{ group: BarGroup; bars: Bar[] }> = [];
  for (const section of [results.inProcess, results.http]) {
    if (!section) continue;
    for (const [id, group] of Object.entries(section.groups)) {
      groups.push({ group, bars: section.bars.filter((bar) => bar.group === id) });
    }
  }
  const parts: string[] = [];
  let y = 30;
  parts.push(`<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">trpc-caching benchmarks</text>`);
  for (const { group, bars } of groups) {
    y += 16;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${escapeXml(group.title)}</text>`);
    y += 10;
    const max = Math.max(...bars.map((bar) => bar.ratio), group.target?.ratio ?? 0) * 1.05;
    const scale = (value: number) => (value / max) * BAR_AREA;
    const rows = bars.length * (BAR + GAP);
    if (group.target) {
      // Drawn first, so that bars and figures stay readable on top of it.
      const x = (LABEL + scale(group.target.ratio)).toFixed(1);
      parts.push(
        `<line x1="${x}" y1="${y - 4}" x2="${x}" y2="${y + rows - GAP + 4}" stroke="#dc2626" stroke-dasharray="4 3"/>`,
        `<text x="${x}" y="${y + rows + 10}" text-anchor="middle" font-size="11" fill="#dc2626">${escapeXml(group.target.label)}</text>`,
      );
    }
    for (const bar of bars) {
      const width = Math.max(1, scale(bar.ratio));
      parts.push(
        `<text x="${LABEL - 8}" y="${y + BAR - 5}" text-anchor="end" font-size="12">${escapeXml(bar.label)}</text>`,
        `<rect x="${LABEL}" y="${y}" width="${width.toFixed(1)}" height="${BAR}" fill="${bar.ours ? '#2563eb' : '#9ca3af'}"/>`,
        `<text x="${(LABEL + width + 6).toFixed(1)}" y="${y + BAR - 5}" font-size="12">${bar.ratio.toFixed(2)}x</text>`,
      );
      y += BAR + GAP;
    }
    if (group.target) y += 14;
    y += 8;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
