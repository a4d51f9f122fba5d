// The metrics explorer: the tenant's metric names with their type, help and unit.
import { alertBox, h, link, onLeave, replace } from './dom';
import { onTenant, promAPI, settings } from './api';
import { tenantField } from './tenant';

interface Meta {
  type: string;
  help: string;
  unit: string;
}

/** renderExplorer is the page at /explorer. */
export function renderExplorer(main: HTMLElement, params: URLSearchParams): void {
  const filter = h('input', { id: 'explorer-filter', placeholder: 'Filter metric names and help', size: 40, value: params.get('q') ?? '' });
  const box = h('div', { id: 'explorer' }, h('p', { class: 'muted' }, 'Loading…'));
  let rows: Array<{ name: string; meta: Meta | null }> = [];

  function draw(): void {
    const words = filter.value.toLowerCase().split(/\s+/).filter((w) => w !== '');
    const shown = rows.filter((r) => words.every((w) => r.name.toLowerCase().includes(w) || (r.meta?.help ?? '').toLowerCase().includes(w)));
    replace(box,
      h('p', { class: 'muted' }, `${shown.length} of ${rows.length} metrics`),
      h('table', { class: 'list' },
        h('tr', {}, h('th', {}, 'Metric'), h('th', {}, 'Type'), h('th', {}, 'Unit'), h('th', {}, 'Help')),
        shown.slice(0, 2000).map((r) => h('tr', { 'data-metric': r.name },
          h('td', {}, link('/graph?expr=' + encodeURIComponent(r.name), r.name)),
          h('td', {}, r.meta?.type ?? ''), h('td', {}, r.meta?.unit ?? ''), h('td', {}, r.meta?.help ?? '')))));
  }

  async function load(): Promise<void> {
    try {
      const [names, meta] = await Promise.all([
        promAPI<string[]>('label/__name__/values', {}, 'GET'),
        promAPI<Record<string, Meta[]>>('metadata', {}, 'GET').catch(() => ({ data: {} as Record<string, Meta[]> })),
      ]);
      const all = new Set([...names.data, ...Object.keys(meta.data)]);
      // Metadata is per family: a histogram's _bucket, _sum and _count share it.
      const family = (name: string) => meta.data[name]?.[0] ?? meta.data[name.replace(/_(bucket|sum|count|total|created)$/, '')]?.[0] ?? null;
      rows = [...all].sort().map((name) => ({ name, meta: family(name) }));
      draw();
    } catch (e) {
      replace(box, alertBox('error', (e as Error).message));
    }
  }
  filter.addEventListener('input', draw);
  replace(main, h('h1', {}, 'Metrics explorer'), h('div', { class: 'query-row' }, settings.multitenancy ? tenantField() : null, filter), box);
  onLeave(onTenant(() => load()));
  load();
}
