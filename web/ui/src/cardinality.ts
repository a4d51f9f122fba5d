// The cardinality page: the tenant's top metrics and labels by series count.
import { alertBox, h, link, onLeave, replace } from './dom';
import { getJSON, onTenant, promAPI, settings } from './api';
import { tenantField } from './tenant';

interface Stat {
  name: string;
  value: number;
}

interface TSDBStatus {
  headStats: { numSeries: number; numLabelPairs: number; chunkCount: number; minTime: number; maxTime: number };
  seriesCountByMetricName: Stat[];
  labelValueCountByLabelName: Stat[];
  memoryInBytesByLabelName: Stat[];
  seriesCountByLabelValuePair: Stat[];
}

interface LabelNames {
  label_values_count_total: number;
  label_names_count: number;
  cardinality: Array<{ label_name: string; label_values_count: number }>;
}

function browse(expr: string, text: string): HTMLAnchorElement {
  return link('/graph?expr=' + encodeURIComponent(expr), text);
}

function table(title: string, head: string[], rows: Array<Array<Node | string>>, id: string): HTMLElement {
  return h('section', { id },
    h('h2', {}, title),
    rows.length === 0 ? h('p', { class: 'muted' }, 'None.') :
      h('table', { class: 'list' }, h('tr', {}, head.map((x) => h('th', {}, x))), rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

function selectorFor(pair: string): string {
  const i = pair.indexOf('=');
  return i < 0 ? pair : `{${pair.slice(0, i)}=${JSON.stringify(pair.slice(i + 1))}}`;
}

/** renderCardinality is the page at /cardinality. */
export function renderCardinality(main: HTMLElement, params: URLSearchParams): void {
  const limit = params.get('limit') ?? '20';
  const box = h('div', { id: 'cardinality' }, h('p', { class: 'muted' }, 'Loading…'));
  async function load(): Promise<void> {
    const parts: HTMLElement[] = [];
    try {
      const st = (await promAPI<TSDBStatus>('status/tsdb', { limit }, 'GET')).data;
      const hs = st.headStats;
      parts.push(h('p', { id: 'head-stats' }, `${hs.numSeries} series, ${hs.numLabelPairs} label pairs, ${hs.chunkCount} chunks in the ingesters' heads.`));
      parts.push(table('Top metrics by series', ['Metric', 'Series'], (st.seriesCountByMetricName ?? []).map((s) => [browse(s.name, s.name), String(s.value)]), 'top-metrics'));
      parts.push(table('Top label pairs by series', ['Label pair', 'Series'], (st.seriesCountByLabelValuePair ?? []).map((s) => [browse(selectorFor(s.name), s.name), String(s.value)]), 'top-pairs'));
      parts.push(table('Labels with most values', ['Label', 'Values'], (st.labelValueCountByLabelName ?? []).map((s) => [browse(`count by (${s.name}) ({${s.name}!=""})`, s.name), String(s.value)]), 'top-labels'));
    } catch (e) {
      parts.push(alertBox('error', `status/tsdb: ${(e as Error).message}`));
    }
    try {
      const ln = await getJSON<LabelNames>(`/prometheus/api/v1/cardinality/label_names?limit=${encodeURIComponent(limit)}`);
      parts.push(table(`Label names (${ln.label_names_count} names, ${ln.label_values_count_total} values)`, ['Label', 'Values'],
        (ln.cardinality ?? []).map((c) => [browse(`count by (${c.label_name}) ({${c.label_name}!=""})`, c.label_name), String(c.label_values_count)]), 'label-names'));
    } catch (e) {
      parts.push(alertBox('error', `cardinality/label_names: ${(e as Error).message}`));
    }
    replace(box, parts);
  }
  replace(main, h('h1', {}, 'Cardinality'), settings.multitenancy ? h('div', { class: 'query-row' }, tenantField()) : null, box);
  onLeave(onTenant(() => load()));
  load();
}
