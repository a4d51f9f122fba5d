// The expression browser: editor, time controls, graph and table.
import { alertBox, h, onLeave, replace, router } from './dom';
import { autoStep, formatDuration, parseDuration } from './text';
import { getTenant, onTenant, promAPI, QueryData, settings } from './api';
import { newEditor, setDoc } from './editor';
import { renderGraph, renderTable } from './results';
import { tenantField } from './tenant';

const historyKey = 'weft.history';
const ranges = ['5m', '15m', '30m', '1h', '3h', '6h', '12h', '1d', '2d', '1w'];

function loadHistory(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(historyKey) ?? '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function remember(expr: string): void {
  const list = [expr, ...loadHistory().filter((e) => e !== expr)].slice(0, 50);
  localStorage.setItem(historyKey, JSON.stringify(list));
}

/** toLocalInput writes a time for a datetime-local input. */
function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 19);
}

/** renderBrowser is the page at / and /graph. */
export function renderBrowser(main: HTMLElement, params: URLSearchParams): void {
  const state = {
    expr: params.get('expr') ?? '',
    mode: (params.get('mode') === 'instant' ? 'instant' : 'range') as 'instant' | 'range',
    tab: 'graph' as 'graph' | 'table',
    range: params.get('range') ?? '1h',
    end: params.get('end') ?? '',
    step: params.get('step') ?? '',
    stacked: false,
  };
  if (state.mode === 'instant') state.tab = 'table';

  const editorBox = h('div', { class: 'editor', id: 'expr-editor' });
  const results = h('div', { class: 'results', id: 'results' });
  const annotations = h('div', { class: 'annotations', id: 'annotations' });
  const stats = h('span', { class: 'muted', id: 'query-stats' });
  const historyList = h('ul', { class: 'history', id: 'history' });

  const rangeInput = h('input', { id: 'range', list: 'ranges', value: state.range, size: 6, title: 'Range of the graph (5m, 1h, 1d)' });
  const endInput = h('input', { id: 'end', type: 'datetime-local', step: 1, value: state.end ? toLocalInput(Date.parse(state.end)) : '', title: 'End time (empty: now)' });
  const stepInput = h('input', { id: 'step', value: state.step, size: 6, placeholder: 'auto', title: 'Resolution step (empty: about 250 points)' });
  const stackedBox = h('input', { type: 'checkbox', id: 'stacked' });
  const instantBtn = h('button', { class: 'toggle', id: 'mode-instant' }, 'Instant');
  const rangeBtn = h('button', { class: 'toggle', id: 'mode-range' }, 'Range');
  const graphTab = h('button', { class: 'tab', id: 'tab-graph' }, 'Graph');
  const tableTab = h('button', { class: 'tab', id: 'tab-table' }, 'Table');
  const rangeControls = h('span', { class: 'range-controls' }, 'Range ', rangeInput, ' End ', endInput, ' Step ', stepInput, h('label', {}, stackedBox, ' stacked'));
  let last: QueryData | null = null;

  const view = newEditor(editorBox, {
    doc: state.expr,
    onExecute: () => execute(),
    onChange: (d) => (state.expr = d),
  });

  function drawHistory(): void {
    replace(historyList, loadHistory().slice(0, 15).map((e) =>
      h('li', {}, h('a', { href: '#', onclick: (ev: Event) => { ev.preventDefault(); setDoc(view, e); state.expr = e; execute(); } }, e))));
  }

  function drawModes(): void {
    instantBtn.classList.toggle('active', state.mode === 'instant');
    rangeBtn.classList.toggle('active', state.mode === 'range');
    graphTab.classList.toggle('active', state.tab === 'graph');
    tableTab.classList.toggle('active', state.tab === 'table');
    graphTab.hidden = state.mode === 'instant';
    rangeInput.disabled = stepInput.disabled = state.mode === 'instant';
  }

  function show(): void {
    if (!last) return;
    replace(results, state.tab === 'graph' && state.mode === 'range' ? renderGraph(last, state.stacked) : renderTable(last));
  }

  function endMs(): number {
    return endInput.value ? new Date(endInput.value).getTime() : Date.now();
  }

  async function execute(): Promise<void> {
    const expr = view.state.doc.toString().trim();
    state.expr = expr;
    replace(annotations);
    if (expr === '') return;
    remember(expr);
    drawHistory();
    const url = new URL(location.href);
    url.searchParams.set('expr', expr);
    url.searchParams.set('mode', state.mode);
    history.replaceState(null, '', url);
    const end = endMs() / 1000;
    replace(results, h('p', { class: 'muted' }, 'Loading…'));
    const started = performance.now();
    try {
      let res;
      if (state.mode === 'range') {
        const rangeMs = parseDuration(rangeInput.value);
        if (rangeMs === null || rangeMs <= 0) throw new Error(`invalid range ${JSON.stringify(rangeInput.value)}: use 5m, 1h, 1d`);
        const stepMs = parseDuration(stepInput.value);
        const step = stepMs !== null && stepMs > 0 ? stepMs / 1000 : autoStep(rangeMs);
        res = await promAPI<QueryData>('query_range', { query: expr, start: String(end - rangeMs / 1000), end: String(end), step: String(step) });
        stats.textContent = `step ${formatDuration(step * 1000)}, `;
      } else {
        res = await promAPI<QueryData>('query', { query: expr, time: String(end) });
        stats.textContent = '';
      }
      const took = performance.now() - started;
      const n = res.data.resultType === 'vector' || res.data.resultType === 'matrix' ? res.data.result.length : 1;
      stats.textContent += `${n} series, ${took.toFixed(0)} ms`;
      for (const w of res.warnings) annotations.appendChild(alertBox('warning', w));
      for (const i of res.infos) annotations.appendChild(alertBox('info', i));
      last = res.data;
      show();
    } catch (e) {
      last = null;
      stats.textContent = '';
      replace(results);
      annotations.appendChild(alertBox('error', (e as Error).message));
    }
  }

  instantBtn.onclick = () => { state.mode = 'instant'; state.tab = 'table'; drawModes(); execute(); };
  rangeBtn.onclick = () => { state.mode = 'range'; state.tab = 'graph'; drawModes(); execute(); };
  graphTab.onclick = () => { state.tab = 'graph'; drawModes(); show(); };
  tableTab.onclick = () => { state.tab = 'table'; drawModes(); show(); };
  stackedBox.onchange = () => { state.stacked = stackedBox.checked; show(); };
  rangeInput.onchange = () => execute();
  endInput.onchange = () => execute();
  stepInput.onchange = () => execute();

  const executeBtn = h('button', { class: 'primary', id: 'execute', onclick: () => execute() }, 'Execute');
  const explainBtn = h('button', { id: 'explain', title: 'Show the syntax tree, with each sub-expression\'s cost', onclick: () => {
    const expr = view.state.doc.toString().trim();
    router.navigate('/explain' + (expr ? '?expr=' + encodeURIComponent(expr) : ''));
  } }, 'Explain');

  replace(main,
    h('div', { class: 'query-row' },
      settings.multitenancy ? tenantField() : null,
      editorBox,
      executeBtn,
      explainBtn),
    h('datalist', { id: 'ranges' }, ranges.map((r) => h('option', { value: r }))),
    h('div', { class: 'controls' }, instantBtn, rangeBtn, ' ', rangeControls, ' ', stats),
    annotations,
    h('div', { class: 'tabs' }, graphTab, tableTab),
    results,
    h('details', { class: 'history-box', open: true }, h('summary', {}, 'History'), historyList));
  drawModes();
  drawHistory();
  view.focus();
  onLeave(onTenant(() => { if (state.expr) execute(); }));
  onLeave(() => view.destroy());
  if (state.expr) execute();
  if (!settings.multitenancy || getTenant()) return;
  annotations.appendChild(alertBox('info', 'Multi-tenancy is on: type your tenant (X-Scope-OrgID) beside the editor.'));
}
