import type { Results } from './report.js';
export function renderMarkdown(results: Results): string {
  return JSON.stringify(results);
}
