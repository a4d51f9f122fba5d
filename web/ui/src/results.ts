// Query results as a graph (uPlot) or a table.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatMetric, QueryData, Series } from './api';
import { h } from './dom';

const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** sampleValue reads a float sample, or a native histogram's count. */
function num(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return parseFloat(v);
}

function points(s: Series): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [t, v] of s.values ?? []) out.push([t, num(v)]);
  for (const [t, hh] of s.histograms ?? []) out.push([t, num(hh.count)]);
  out.sort((a, b) => a[0] - b[0]);
  return out;
}

/** renderGraph draws a range answer; the returned element carries data-series-count. */
export function renderGraph(data: QueryData, stacked: boolean): HTMLElement {
  const box = h('div', { class: 'graph' });
  if (data.resultType !== 'matrix') {
    box.appendChild(h('p', { class: 'muted' }, `A ${data.resultType} result has no graph: see the table.`));
    box.dataset.seriesCount = '0';
    return box;
  }
  box.dataset.seriesCount = String(data.result.length);
  // Thousands of lines are unreadable and slow to draw: the table has them all.
  const maxSeries = 500;
  const series = data.result.slice(0, maxSeries);
  if (data.result.length > maxSeries) {
    box.appendChild(h('div', { class: 'alert alert-info' }, `Showing ${maxSeries} of ${data.result.length} series; the table lists them all.`));
  }
  if (series.length === 0) {
    box.appendChild(h('p', { class: 'muted' }, 'No data points found.'));
    return box;
  }
  const pts = series.map(points);
  const times = Array.from(new Set(pts.flatMap((p) => p.map((x) => x[0])))).sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const cols: Array<Array<number | null>> = pts.map((p) => {
    const col: Array<number | null> = new Array(times.length).fill(null);
    for (const [t, v] of p) col[index.get(t)!] = Number.isFinite(v) ? v : null;
    return col;
  });
  const raw = cols.map((c) => c.slice());
  const last = raw.map((c) => {
    for (let j = c.length - 1; j >= 0; j--) if (c[j] !== null) return c[j];
    return null;
  });
  if (stacked) {
    for (let i = 1; i < cols.length; i++) {
      for (let j = 0; j < times.length; j++) {
        if (cols[i][j] !== null) cols[i][j] = (cols[i][j] as number) + ((cols[i - 1][j] as number | null) ?? 0);
        else cols[i][j] = cols[i - 1][j];
      }
    }
  }
  const opts: uPlot.Options = {
    width: 800,
    height: 320,
    series: [
      {},
      ...series.map((s, i) => ({
        label: formatMetric(s.metric),
        stroke: palette[i % palette.length],
        fill: stacked ? palette[i % palette.length] + '40' : undefined,
        width: 1.5,
        spanGaps: false,
        // The legend shows each series' own value (also when stacked) under
        // the cursor, and its last value when the cursor is elsewhere.
        value: (_u: uPlot, _v: number | null, _si: number, di: number | null) => {
          const v = di === null ? last[i] : raw[i][di];
          return v === null || v === undefined ? '—' : String(+v.toPrecision(6));
        },
      })),
    ],
    axes: [{}, { size: 70 }],
    legend: { live: true },
    cursor: { focus: { prox: 16 } },
    focus: { alpha: 0.3 },
  };
  const plot = new uPlot(opts, [times, ...cols] as uPlot.AlignedData, box);
  // Fit the container's width once it is in the page, and on resizes.
  const fit = () => {
    const w = box.clientWidth;
    if (w > 0 && w !== plot.width) plot.setSize({ width: w, height: 320 });
  };
  new ResizeObserver(fit).observe(box);
  return box;
}

/** renderTable lists an answer's series or its scalar/string. */
export function renderTable(data: QueryData): HTMLElement {
  const table = h('table', { class: 'result-table' });
  if (data.resultType === 'scalar' || data.resultType === 'string') {
    table.appendChild(h('tr', {}, h('td', {}, data.resultType), h('td', { class: 'value' }, String(data.result[1]))));
    table.dataset.seriesCount = '1';
    return table;
  }
  const series = data.result as Series[];
  table.dataset.seriesCount = String(series.length);
  if (series.length === 0) {
    return h('p', { class: 'muted', 'data-series-count': 0 }, 'Empty query result.');
  }
  for (const s of series) {
    let value: string;
    if (s.value) value = s.value[1];
    else if (s.histogram) value = `histogram count=${s.histogram[1].count} sum=${s.histogram[1].sum}`;
    else {
      const p = s.values ?? [];
      value = p.map(([t, v]) => `${v} @${t}`).join('\n');
    }
    table.appendChild(h('tr', {}, h('td', { class: 'series' }, formatMetric(s.metric)), h('td', { class: 'value' }, value)));
  }
  return table;
}
