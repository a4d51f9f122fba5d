// Durations, times and variables: the UI's text helpers, free of the DOM so
// that test/unit.test.ts runs them in Node.

/** formatDuration writes milliseconds as a Prometheus duration (1h30m). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let neg = '';
  if (ms < 0) {
    neg = '-';
    ms = -ms;
  }
  const units: Array<[string, number]> = [
    ['y', 365 * 24 * 3600e3],
    ['w', 7 * 24 * 3600e3],
    ['d', 24 * 3600e3],
    ['h', 3600e3],
    ['m', 60e3],
    ['s', 1e3],
    ['ms', 1],
  ];
  let out = '';
  for (const [u, n] of units) {
    if (ms >= n) {
      const c = Math.floor(ms / n);
      out += `${c}${u}`;
      ms -= c * n;
    }
  }
  return neg + out;
}

/** parseDuration reads a Prometheus duration (5m, 1h30m, 90s) into milliseconds, or null. */
export function parseDuration(s: string): number | null {
  s = s.trim();
  if (s === '') return null;
  if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s) * 1000;
  const re = /(\d+)(ms|y|w|d|h|m|s)/g;
  const mult: Record<string, number> = { y: 365 * 24 * 3600e3, w: 7 * 24 * 3600e3, d: 24 * 3600e3, h: 3600e3, m: 60e3, s: 1e3, ms: 1 };
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    if (m.index !== consumed) return null;
    total += parseInt(m[1], 10) * mult[m[2]];
    consumed += m[0].length;
  }
  return consumed === s.length ? total : null;
}

/** autoStep picks a step that gives about 250 points over rangeMs, in whole seconds. */
export function autoStep(rangeMs: number): number {
  return Math.max(1, Math.ceil(rangeMs / 1000 / 250));
}

/** parseTime reads now, now-1h, RFC3339 or unix seconds into milliseconds. */
export function parseTime(s: string, now: number): number | null {
  s = s.trim();
  if (s === '' || s === 'now') return now;
  const rel = /^now\s*([+-])\s*(.+)$/.exec(s);
  if (rel) {
    const d = parseDuration(rel[2]);
    if (d === null) return null;
    return rel[1] === '-' ? now - d : now + d;
  }
  if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
}

/** substitute replaces $name and ${name} with the variables' values. */
export function substitute(expr: string, vars: Array<{ name: string; value: string }>): string {
  let out = expr;
  for (const v of vars) {
    if (!v.name) continue;
    const esc = v.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out.replace(new RegExp(`\\$\\{${esc}\\}|\\$${esc}(?![a-zA-Z0-9_])`, 'g'), () => v.value);
  }
  return out;
}
