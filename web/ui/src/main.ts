// weft's web UI: a single-page app routed with history.pushState. The Go
// server answers index.html at every app path (pkg/ui).
import './style.css';
import { h, leaving, link, replace, router } from './dom';
import { settings, Settings } from './api';
import { renderBrowser } from './browser';
import { renderExplain } from './explain';
import { renderNotebook, renderNotebookList } from './notebooks';
import { renderExplorer } from './explorer';
import { renderCardinality } from './cardinality';
import { tenantField } from './tenant';
import { loginControl } from './login';

/** statusPages are weft's server-rendered pages, linked from the Status menu. */
const statusPages: Array<[string, string]> = [
  ['/services', 'Services: roles and their state'],
  ['/config', 'Configuration'],
  ['/runtime_config', 'Runtime config: per-tenant limits'],
  ['/ring', 'Ingester ring'],
  ['/store-gateway/ring', 'Store-gateway ring'],
  ['/compactor/ring', 'Compactor ring'],
  ['/ruler/ring', 'Ruler ring'],
  ['/alertmanager/ring', 'Alertmanager ring'],
  ['/distributor/ring', 'Distributor ring'],
  ['/distributor/ha_tracker', 'HA tracker: elected replicas'],
  ['/memberlist', 'Memberlist'],
  ['/query-scheduler/status', 'Query-scheduler'],
  ['/metrics', 'weft\'s own metrics'],
  ['/ready', 'Readiness'],
  ['/debug/pprof/', 'Go profiles'],
];

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
let navTenant: HTMLElement | null = null;

function route(): void {
  while (leaving.length) leaving.pop()!();
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const params = new URLSearchParams(location.search);
  let page = '';
  if (path === '/' || path === '/graph') {
    page = 'browser';
    renderBrowser(main, params);
  } else if (path === '/explain') {
    page = 'explain';
    renderExplain(main, params);
  } else if (path === '/notebooks') {
    page = 'notebooks';
    renderNotebookList(main);
  } else if (path.startsWith('/notebooks/')) {
    page = 'notebooks';
    renderNotebook(main, decodeURIComponent(path.slice('/notebooks/'.length)), params);
  } else if (path === '/explorer') {
    page = 'explorer';
    renderExplorer(main, params);
  } else if (path === '/cardinality') {
    page = 'cardinality';
    renderCardinality(main, params);
  } else {
    replace(main, h('h1', {}, 'Page not found'), h('p', {}, link('/', 'Go to the expression browser')));
  }
  for (const a of nav.querySelectorAll<HTMLElement>('[data-page]')) a.classList.toggle('active', a.dataset.page === page);
  // The pages with a query box have the tenant field beside it; the others get it in the bar.
  if (navTenant) navTenant.hidden = main.querySelector('.tenant') !== null;
  document.title = `weft · ${page || 'not found'}`;
}

router.navigate = (to: string) => {
  history.pushState(null, '', to);
  route();
  window.scrollTo(0, 0);
};

function drawNav(): void {
  const item = (path: string, page: string, text: string) => {
    const a = link(path, text);
    a.dataset.page = page;
    return a;
  };
  navTenant = settings.multitenancy ? h('span', { class: 'nav-tenant' }, tenantField(false)) : null;
  replace(nav,
    h('a', { class: 'brand', href: '/', 'data-link': true }, 'weft'),
    item('/', 'browser', 'Browser'),
    item('/notebooks', 'notebooks', 'Notebooks'),
    item('/explorer', 'explorer', 'Explorer'),
    item('/cardinality', 'cardinality', 'Cardinality'),
    h('details', { class: 'menu', id: 'status-menu' },
      h('summary', {}, 'Status'),
      h('div', { class: 'menu-items' }, statusPages.map(([p, t]) => h('a', { href: p }, t)))),
    h('span', { class: 'spacer' }),
    navTenant,
    settings.auth === 'tokens' ? loginControl() : null,
    h('span', { class: 'version muted' }, settings.version));
}

document.addEventListener('click', (e) => {
  const a = (e.target as Element | null)?.closest?.('a[data-link]') as HTMLAnchorElement | null;
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  document.getElementById('status-menu')?.removeAttribute('open');
  router.navigate(a.getAttribute('href')!);
});
window.addEventListener('popstate', route);

async function start(): Promise<void> {
  try {
    const res = await fetch('/ui/settings.json');
    if (res.ok) Object.assign(settings, (await res.json()) as Settings);
  } catch {
    // Without settings the UI still works, as for a single tenant.
  }
  drawNav();
  route();
}
start();
