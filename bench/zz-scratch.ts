import { makeList } from './fixtures.js';
const j = JSON.stringify(makeList(1));
const hasOwn = Object.prototype.hasOwnProperty;
function cloneIn(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) { const n = v.length; const out = new Array(n); for (let i = 0; i < n; i++) out[i] = cloneIn(v[i]); return out; }
  const out: Record<string, unknown> = {};
  for (const k in v) { if (!hasOwn.call(v, k)) continue; if (k === '__proto__') Object.defineProperty(out, k, { value: cloneIn((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true }); else out[k] = cloneIn((v as Record<string, unknown>)[k]); }
  return out;
}
function cloneKeys(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) { const n = v.length; const out = new Array(n); for (let i = 0; i < n; i++) out[i] = cloneKeys(v[i]); return out; }
  const out: Record<string, unknown> = {};
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) { const k = keys[i] as string; if (k === '__proto__') Object.defineProperty(out, k, { value: cloneKeys((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true }); else out[k] = cloneKeys((v as Record<string, unknown>)[k]); }
  return out;
}
const tpl = JSON.parse(j);
for (const [name, f] of [['JSON.parse', () => JSON.parse(j)], ['cloneIn', () => cloneIn(tpl)], ['cloneKeys', () => cloneKeys(tpl)]] as const) {
  for (let r = 0; r < 3; r++) { const n = 50000; const t = performance.now(); for (let i = 0; i < n; i++) f(); console.log(name, ((performance.now() - t) / n * 1000).toFixed(2)); }
}
