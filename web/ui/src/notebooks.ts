// Notebooks: markdown and PromQL cells sharing one time range and variables,
// stored per tenant through /api/v1/notebooks.
import { marked } from 'marked';
import DOMPurify from 'dompurify';
import type { EditorView } from '@codemirror/view';
import { alertBox, h, link, onLeave, replace, router } from './dom';
import { autoStep, parseDuration, parseTime, substitute } from './text';
import { APIError, apiFetch, errorFrom, getJSON, onTenant, promAPI, QueryData, sendJSON } from './api';
import { newEditor } from './editor';
import { renderGraph, renderTable } from './results';

/** Cell is a notebook cell, as the API stores it. */
export interface Cell {
  kind: 'markdown' | 'promql';
  text?: string;
  expr?: string;
  view?: 'graph' | 'table';
  title?: string;
}

/** Variable is a notebook variable, $name in exprs. */
export interface Variable {
  name: string;
  label: string;
  match?: string;
  value: string;
}

/** Notebook is the API's notebook JSON. */
export interface Notebook {
  id?: string;
  version?: number;
  title: string;
  time?: { from: string; to: string; step?: string };
  variables?: Variable[];
  cells: Cell[];
  created?: string;
  updated?: string;
}

interface Summary {
  id: string;
  title: string;
  version: number;
  updated: string;
  cells: number;
}

const base = '/api/v1/notebooks';

/** renderMarkdown turns markdown into sanitised HTML: no script or event handler of a cell ever runs. */
export function renderMarkdown(text: string): HTMLElement {
  const div = h('div', { class: 'markdown' });
  const html = marked.parse(text, { async: false }) as string;
  div.innerHTML = DOMPurify.sanitize(html);
  return div;
}

/** renderNotebookList is the page at /notebooks. */
export function renderNotebookList(main: HTMLElement): void {
  const list = h('div', { id: 'notebook-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const title = h('input', { id: 'new-notebook-title', placeholder: 'Title of a new notebook', size: 40 });
  const msg = h('div');
  async function create(): Promise<void> {
    const t = title.value.trim() || 'Untitled notebook';
    try {
      const nb = await sendJSON<Notebook>('POST', base, {
        title: t,
        time: { from: 'now-1h', to: 'now', step: '' },
        cells: [{ kind: 'markdown', text: `# ${t}\n\nNotes go here.` }],
      });
      router.navigate(`/notebooks/${encodeURIComponent(nb.id!)}`);
    } catch (e) {
      replace(msg, alertBox('error', (e as Error).message));
    }
  }
  async function load(): Promise<void> {
    try {
      const items = await getJSON<Summary[]>(base);
      if (!items || items.length === 0) {
        replace(list, h('p', { class: 'muted' }, 'No notebooks yet.'));
        return;
      }
      replace(list, h('table', { class: 'list' },
        h('tr', {}, h('th', {}, 'Title'), h('th', {}, 'Cells'), h('th', {}, 'Version'), h('th', {}, 'Updated')),
        items.map((n) => h('tr', {},
          h('td', {}, link(`/notebooks/${encodeURIComponent(n.id)}`, n.title)),
          h('td', {}, String(n.cells)), h('td', {}, String(n.version)), h('td', {}, n.updated ?? '')))));
    } catch (e) {
      replace(list, alertBox('error', (e as Error).message));
    }
  }
  replace(main, h('h1', {}, 'Notebooks'),
    h('div', { class: 'query-row' }, title, h('button', { class: 'primary', id: 'new-notebook', onclick: () => create() }, 'New notebook')),
    msg, list);
  onLeave(onTenant(() => load()));
  load();
}

/** renderNotebook is the page at /notebooks/{id}. */
export function renderNotebook(main: HTMLElement, id: string, params: URLSearchParams): void {
  let shown: NotebookView | null = null;
  const load = () => {
    shown?.destroy();
    shown = null;
    replace(main, h('p', { class: 'muted' }, 'Loading…'));
    getJSON<Notebook>(`${base}/${encodeURIComponent(id)}`).then(
      (nb) => {
        shown = new NotebookView(main, nb, params);
        shown.draw();
      },
      (e) => {
        if (e instanceof APIError && e.status === 404) {
          replace(main, h('div', { class: 'not-found', id: 'not-found' },
            h('h1', {}, 'Notebook not found'),
            h('p', {}, `There is no notebook ${id} for this tenant.`), link('/notebooks', 'All notebooks')));
        } else {
          replace(main, alertBox('error', (e as Error).message));
        }
      });
  };
  onLeave(onTenant(load));
  onLeave(() => shown?.destroy());
  load();
}

class NotebookView {
  private nb: Notebook;
  private editing = new Set<number>();
  private editors: EditorView[] = [];
  private status = h('div', { class: 'status', id: 'notebook-status' });
  private cellsBox = h('div', { class: 'cells', id: 'cells' });
  private varsBox = h('div', { class: 'variables', id: 'variables' });
  private versionsBox = h('div', { class: 'versions', id: 'versions' });
  private dirty = false;

  constructor(private main: HTMLElement, nb: Notebook, params: URLSearchParams) {
    this.nb = this.normalise(nb, params);
  }

  /** normalise fills the optional parts of nb; a share link's time range wins over the stored one. */
  private normalise(nb: Notebook, params: URLSearchParams): Notebook {
    nb.cells = nb.cells ?? [];
    nb.variables = nb.variables ?? [];
    nb.time = { from: nb.time?.from || 'now-1h', to: nb.time?.to || 'now', step: nb.time?.step ?? '' };
    if (params.get('from')) nb.time.from = params.get('from')!;
    if (params.get('to')) nb.time.to = params.get('to')!;
    this.editing.clear();
    nb.cells.forEach((c, i) => { if (c.kind === 'markdown' && !c.text) this.editing.add(i); });
    this.dirty = false;
    return nb;
  }

  /** destroy releases the cells' editors. */
  destroy(): void {
    for (const e of this.editors) e.destroy();
    this.editors = [];
  }

  private url(path = ''): string {
    return `${base}/${encodeURIComponent(this.nb.id!)}${path}`;
  }

  private changed(): void {
    this.dirty = true;
    replace(this.status, h('span', { class: 'muted' }, 'Unsaved changes.'));
  }

  draw(): void {
    const nb = this.nb;
    const title = h('input', { class: 'nb-title', id: 'notebook-title', value: nb.title, 'aria-label': 'title' });
    title.addEventListener('input', () => { nb.title = title.value; this.changed(); });
    const from = h('input', { id: 'nb-from', value: nb.time!.from, size: 12, title: 'From: now-1h, RFC3339 or unix seconds' });
    const to = h('input', { id: 'nb-to', value: nb.time!.to, size: 12, title: 'To: now, RFC3339 or unix seconds' });
    const step = h('input', { id: 'nb-step', value: nb.time!.step ?? '', size: 5, placeholder: 'auto' });
    const onTime = () => { nb.time = { from: from.value.trim() || 'now-1h', to: to.value.trim() || 'now', step: step.value.trim() }; this.changed(); this.runAll(); };
    from.onchange = onTime;
    to.onchange = onTime;
    step.onchange = onTime;

    replace(this.main,
      h('div', { class: 'nb-header' }, link('/notebooks', '← Notebooks'), title),
      h('div', { class: 'toolbar' },
        h('button', { class: 'primary', id: 'save', onclick: () => this.save() }, 'Save'),
        h('button', { id: 'share', onclick: () => this.share() }, 'Share link'),
        h('button', { id: 'export-grafana', onclick: () => this.exportGrafana() }, 'Export to Grafana'),
        h('button', { id: 'show-versions', onclick: () => this.versions() }, 'Versions'),
        h('button', { id: 'delete-notebook', class: 'danger', onclick: () => this.remove() }, 'Delete'),
        h('span', { class: 'muted' }, ` version ${nb.version}`)),
      this.status,
      this.versionsBox,
      h('div', { class: 'controls' }, 'From ', from, ' To ', to, ' Step ', step,
        h('button', { id: 'run-all', onclick: () => this.runAll() }, 'Run all')),
      this.varsBox,
      this.cellsBox,
      h('div', { class: 'add-cells' },
        h('button', { id: 'add-markdown', onclick: () => this.add({ kind: 'markdown', text: '' }) }, '+ Markdown'),
        h('button', { id: 'add-promql', onclick: () => this.add({ kind: 'promql', expr: '', view: 'graph' }) }, '+ PromQL')));
    this.drawVariables();
    this.drawCells();
  }

  private add(c: Cell): void {
    this.nb.cells.push(c);
    if (c.kind === 'markdown') this.editing.add(this.nb.cells.length - 1);
    this.changed();
    this.drawCells();
  }

  private drawVariables(): void {
    const vars = this.nb.variables!;
    const rows = vars.map((v, i) => {
      const sel = h('select', { class: 'var-value', 'data-var': v.name });
      sel.appendChild(h('option', { value: v.value }, v.value || '(none)'));
      sel.value = v.value;
      this.labelValues(v).then((vals) => {
        replace(sel, [...new Set([v.value, ...vals])].filter((x) => x !== '').map((x) => h('option', { value: x }, x)));
        // A new variable takes the first value offered, as Grafana's do.
        if (v.value === '' && vals.length > 0) {
          v.value = vals[0];
          this.runAll();
        }
        sel.value = v.value;
      }).catch(() => {});
      sel.onchange = () => { v.value = sel.value; this.changed(); this.runAll(); };
      return h('span', { class: 'variable' }, `$${v.name} `, sel,
        h('button', { class: 'small', title: 'Remove variable', onclick: () => { vars.splice(i, 1); this.changed(); this.drawVariables(); } }, '×'));
    });
    const name = h('input', { placeholder: 'name', size: 8, id: 'var-name' });
    const label = h('input', { placeholder: 'label', size: 8, id: 'var-label' });
    const add = h('button', { class: 'small', id: 'var-add', onclick: () => {
      const n = name.value.trim();
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(n)) return;
      vars.push({ name: n, label: label.value.trim() || n, value: '' });
      this.changed();
      this.drawVariables();
    } }, 'Add variable');
    replace(this.varsBox, 'Variables: ', rows, ' ', name, label, add);
  }

  private async labelValues(v: Variable): Promise<string[]> {
    const params: Record<string, string> = {};
    if (v.match) params['match[]'] = v.match;
    const res = await promAPI<string[]>(`label/${encodeURIComponent(v.label || v.name)}/values`, params, 'GET');
    return res.data;
  }

  private drawCells(): void {
    for (const e of this.editors) e.destroy();
    this.editors = [];
    const cells = this.nb.cells;
    replace(this.cellsBox, cells.map((c, i) => {
      const body = h('div', { class: 'cell-body' });
      const out = h('div', { class: 'cell-output' });
      const tools = h('div', { class: 'cell-tools' },
        h('span', { class: 'cell-kind' }, c.kind === 'markdown' ? 'Markdown' : 'PromQL'),
        h('button', { class: 'small', title: 'Move up', disabled: i === 0, onclick: () => this.move(i, -1) }, '↑'),
        h('button', { class: 'small', title: 'Move down', disabled: i === cells.length - 1, onclick: () => this.move(i, 1) }, '↓'),
        h('button', { class: 'small danger', title: 'Delete cell', onclick: () => { cells.splice(i, 1); this.editing.clear(); this.changed(); this.drawCells(); } }, 'Delete'));
      const el = h('div', { class: `cell cell-${c.kind}`, 'data-index': i }, tools, body, out);
      if (c.kind === 'markdown') {
        const editing = this.editing.has(i);
        tools.appendChild(h('button', { class: 'small cell-edit', onclick: () => {
          if (editing) this.editing.delete(i); else this.editing.add(i);
          this.drawCells();
        } }, editing ? 'Done' : 'Edit'));
        if (editing) {
          const ta = h('textarea', { class: 'markdown-source', rows: 6 });
          ta.value = c.text ?? '';
          ta.addEventListener('input', () => { c.text = ta.value; this.changed(); });
          body.appendChild(ta);
        } else {
          body.appendChild(renderMarkdown(c.text ?? ''));
          body.addEventListener('dblclick', () => { this.editing.add(i); this.drawCells(); });
        }
      } else {
        const view = h('select', { class: 'cell-view' }, h('option', { value: 'graph' }, 'Graph'), h('option', { value: 'table' }, 'Table'));
        view.value = c.view ?? 'graph';
        view.onchange = () => { c.view = view.value as 'graph' | 'table'; this.changed(); this.runCell(c, out); };
        const title = h('input', { class: 'cell-title', placeholder: 'title (optional)', value: c.title ?? '', size: 20 });
        title.oninput = () => { c.title = title.value || undefined; this.changed(); };
        const rule = h('div', { class: 'cell-rule' });
        tools.append(view, title,
          h('button', { class: 'small cell-run', onclick: () => this.runCell(c, out) }, 'Run'),
          h('button', { class: 'small cell-rule-open', onclick: () => this.ruleForm(i, rule) }, 'As rule'));
        const box = h('div', { class: 'editor' });
        body.append(box, rule);
        this.editors.push(newEditor(box, {
          doc: c.expr ?? '',
          onChange: (d) => { c.expr = d; this.changed(); },
          onExecute: () => this.runCell(c, out),
        }));
        this.runCell(c, out);
      }
      return el;
    }));
  }

  private move(i: number, d: number): void {
    const cells = this.nb.cells;
    const j = i + d;
    if (j < 0 || j >= cells.length) return;
    [cells[i], cells[j]] = [cells[j], cells[i]];
    const ei = this.editing.has(i), ej = this.editing.has(j);
    this.editing.delete(i); this.editing.delete(j);
    if (ei) this.editing.add(j);
    if (ej) this.editing.add(i);
    this.changed();
    this.drawCells();
  }

  private runAll(): void {
    this.drawCells();
  }

  private async runCell(c: Cell, out: HTMLElement): Promise<void> {
    const expr = substitute((c.expr ?? '').trim(), this.nb.variables!);
    if (expr === '') {
      replace(out);
      return;
    }
    const now = Date.now();
    const from = parseTime(this.nb.time!.from, now);
    const to = parseTime(this.nb.time!.to, now);
    if (from === null || to === null || from >= to) {
      replace(out, alertBox('error', `invalid time range ${this.nb.time!.from} to ${this.nb.time!.to}`));
      return;
    }
    replace(out, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const view = c.view ?? 'graph';
      let res;
      if (view === 'graph') {
        const s = parseDuration(this.nb.time!.step ?? '');
        const step = s !== null && s > 0 ? s / 1000 : autoStep(to - from);
        res = await promAPI<QueryData>('query_range', { query: expr, start: String(from / 1000), end: String(to / 1000), step: String(step) });
      } else {
        res = await promAPI<QueryData>('query', { query: expr, time: String(to / 1000) });
      }
      replace(out,
        res.warnings.map((w) => alertBox('warning', w)),
        res.infos.map((w) => alertBox('info', w)),
        view === 'graph' ? renderGraph(res.data, false) : renderTable(res.data));
    } catch (e) {
      replace(out, alertBox('error', (e as Error).message));
    }
  }

  private async save(): Promise<void> {
    const nb = this.nb;
    const body: Notebook = { title: nb.title, version: nb.version, time: nb.time, variables: nb.variables, cells: nb.cells };
    body.id = nb.id;
    try {
      const stored = await sendJSON<Notebook>('PUT', this.url(), body);
      nb.version = stored.version;
      nb.updated = stored.updated;
      this.dirty = false;
      this.draw();
      replace(this.status, h('span', { class: 'ok', id: 'saved' }, `Saved as version ${stored.version}.`));
    } catch (e) {
      if (e instanceof APIError && e.status === 409) {
        replace(this.status, alertBox('error', 'This notebook was changed elsewhere since you opened it, so it was not saved. Copy your edits, reload the page to see the new version, and apply them again.'));
      } else {
        replace(this.status, alertBox('error', `cannot save the notebook: ${(e as Error).message}`));
      }
    }
  }

  private shareURL(): string {
    const u = new URL(`/notebooks/${encodeURIComponent(this.nb.id!)}`, location.origin);
    u.searchParams.set('from', this.nb.time!.from);
    u.searchParams.set('to', this.nb.time!.to);
    return u.toString();
  }

  private async share(): Promise<void> {
    const u = this.shareURL();
    const input = h('input', { id: 'share-url', value: u, size: 70, readonly: true });
    replace(this.status, 'Share link: ', input);
    input.select();
    try {
      await navigator.clipboard.writeText(u);
      this.status.append(' (copied)');
    } catch {
      // Without clipboard access the selected field is there to copy by hand.
    }
  }

  private async exportGrafana(): Promise<void> {
    try {
      const res = await apiFetch(this.url('/export/grafana'));
      if (!res.ok) throw await errorFrom(res);
      const blob = new Blob([await res.text()], { type: 'application/json' });
      const a = h('a', { href: URL.createObjectURL(blob), download: `${this.nb.title.replace(/[^a-zA-Z0-9_-]+/g, '-') || 'notebook'}.grafana.json` });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e) {
      replace(this.status, alertBox('error', `cannot export the notebook: ${(e as Error).message}`));
    }
  }

  private ruleForm(i: number, box: HTMLElement): void {
    const type = h('select', { class: 'rule-type' }, h('option', { value: 'recording' }, 'recording'), h('option', { value: 'alerting' }, 'alerting'));
    const name = h('input', { class: 'rule-name', placeholder: 'record: job:x:rate5m / alert: HighX', size: 30 });
    const forInput = h('input', { class: 'rule-for', placeholder: 'for (alerting)', size: 8 });
    const out = h('div');
    const get = async () => {
      const q = new URLSearchParams({ type: type.value });
      q.set(type.value === 'recording' ? 'record' : 'alert', name.value.trim());
      if (type.value === 'alerting' && forInput.value.trim()) q.set('for', forInput.value.trim());
      try {
        const res = await apiFetch(this.url(`/cells/${i}/rule?${q}`));
        if (!res.ok) throw await errorFrom(res);
        const yaml = await res.text();
        replace(out, h('pre', { class: 'rule-yaml' }, yaml),
          h('button', { class: 'small', onclick: () => navigator.clipboard.writeText(yaml).catch(() => {}) }, 'Copy'),
          h('span', { class: 'muted' }, ' POST it to /prometheus/config/v1/rules/{namespace}.'));
      } catch (e) {
        replace(out, alertBox('error', (e as Error).message));
      }
    };
    replace(box, type, name, forInput, h('button', { class: 'small rule-get', onclick: get }, 'Get YAML'), out);
  }

  private async versions(): Promise<void> {
    if (this.versionsBox.childElementCount > 0) {
      replace(this.versionsBox);
      return;
    }
    try {
      const vs = await getJSON<Array<{ version: number; title: string; updated: string }>>(this.url('/versions'));
      replace(this.versionsBox, h('table', { class: 'list' },
        h('tr', {}, h('th', {}, 'Version'), h('th', {}, 'Title'), h('th', {}, 'Saved'), h('th', {})),
        vs.map((v) => h('tr', {}, h('td', {}, String(v.version)), h('td', {}, v.title), h('td', {}, v.updated),
          h('td', {}, v.version === this.nb.version ? h('span', { class: 'muted' }, 'current') :
            h('button', { class: 'small', onclick: () => this.restore(v.version) }, 'Restore'))))));
    } catch (e) {
      replace(this.versionsBox, alertBox('error', (e as Error).message));
    }
  }

  private async restore(v: number): Promise<void> {
    if (this.dirty && !confirm('Restoring drops your unsaved changes. Restore?')) return;
    try {
      const stored = await sendJSON<Notebook>('POST', this.url(`/versions/${v}/restore`), { version: this.nb.version });
      this.nb = this.normalise(stored, new URLSearchParams());
      replace(this.versionsBox);
      this.draw();
      replace(this.status, h('span', { class: 'ok' }, `Restored version ${v} as version ${stored.version}.`));
    } catch (e) {
      const msg = e instanceof APIError && e.status === 409 ? 'This notebook was changed elsewhere: reload the page first.' : (e as Error).message;
      replace(this.status, alertBox('error', msg));
    }
  }

  private async remove(): Promise<void> {
    if (!confirm(`Delete the notebook "${this.nb.title}" and its versions?`)) return;
    try {
      await getJSON(this.url(), { method: 'DELETE' });
      router.navigate('/notebooks');
    } catch (e) {
      replace(this.status, alertBox('error', (e as Error).message));
    }
  }
}
