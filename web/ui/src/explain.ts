// The explain tree: the query's syntax tree, each node of which runs its own
// sub-expression and shows its series count and evaluation time, as PromLens does.
import { alertBox, h, link, onLeave, replace } from './dom';
import { onTenant, promAPI, QueryData, settings } from './api';
import { newEditor } from './editor';
import { children, describe, Node, toPromQL } from './promql';
import { tenantField } from './tenant';

/** renderExplain is the page at /explain?expr=... */
export function renderExplain(main: HTMLElement, params: URLSearchParams): void {
  let expr = params.get('expr') ?? '';
  const tree = h('div', { class: 'explain-tree', id: 'explain-tree' });
  const editorBox = h('div', { class: 'editor' });
  const view = newEditor(editorBox, { doc: expr, onExecute: () => explain() });

  async function runNode(n: Node, out: HTMLElement, row: HTMLElement): Promise<void> {
    const sub = toPromQL(n);
    replace(out, h('span', { class: 'muted' }, 'running…'));
    const started = performance.now();
    try {
      const res = await promAPI<QueryData>('query', { query: sub, time: String(Date.now() / 1000), stats: 'all' });
      const took = performance.now() - started;
      const d = res.data;
      const count = d.resultType === 'vector' || d.resultType === 'matrix' ? d.result.length : 1;
      const evalTime = d.stats?.timings?.evalTotalTime;
      const samples = d.stats?.samples?.totalQueryableSamples;
      row.dataset.seriesCount = String(count);
      replace(out,
        h('span', { class: 'node-stats' },
          `${count} ${d.resultType === 'scalar' || d.resultType === 'string' ? d.resultType : 'series'}`,
          evalTime !== undefined ? `, evaluated in ${(evalTime * 1000).toFixed(1)} ms` : '',
          `, answered in ${took.toFixed(0)} ms`,
          samples !== undefined ? `, ${samples} samples` : ''),
        ' ', link('/graph?expr=' + encodeURIComponent(sub), 'open in browser'),
        res.warnings.map((w) => alertBox('warning', w)));
    } catch (e) {
      replace(out, alertBox('error', (e as Error).message));
    }
  }

  function node(n: Node): HTMLElement {
    const out = h('div', { class: 'node-result' });
    const text = toPromQL(n);
    const row = h('div', { class: 'node', tabindex: 0, title: 'Click to run this sub-expression', 'data-expr': text });
    row.append(h('code', {}, text), ' ', h('span', { class: 'node-kind' }, describe(n)));
    row.addEventListener('click', () => runNode(n, out, row));
    row.addEventListener('keydown', (e) => { if (e.key === 'Enter') runNode(n, out, row); });
    const kids = children(n);
    return h('li', {}, row, out, kids.length ? h('ul', {}, kids.map(node)) : null);
  }

  async function explain(): Promise<void> {
    expr = view.state.doc.toString().trim();
    const url = new URL(location.href);
    url.searchParams.set('expr', expr);
    history.replaceState(null, '', url);
    if (expr === '') {
      replace(tree, h('p', { class: 'muted' }, 'Type an expression and press Shift+Enter.'));
      return;
    }
    try {
      const res = await promAPI<Node>('parse_query', { query: expr });
      replace(tree, h('p', { class: 'muted' }, 'Click a node to run its sub-expression (instant query at now).'), h('ul', { class: 'tree' }, node(res.data)));
    } catch (e) {
      replace(tree, alertBox('error', (e as Error).message));
    }
  }

  replace(main,
    h('h1', {}, 'Explain'),
    h('div', { class: 'query-row' }, settings.multitenancy ? tenantField() : null, editorBox,
      h('button', { class: 'primary', id: 'explain-run', onclick: () => explain() }, 'Explain')),
    tree);
  onLeave(onTenant(() => explain()));
  onLeave(() => view.destroy());
  explain();
}
