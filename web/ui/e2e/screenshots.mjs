// Saves a PNG of every page of weft's UI into $OUT (docs/ui), for the README
// and docs. scripts/ui-screenshots.sh starts weft and loads data first.
//   WEFT_URL     the weft to photograph
//   WEFT_TENANT  the tenant whose data to show
//   OUT          the directory of the PNGs
//   CHROMIUM     the browser binary (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.WEFT_URL;
const tenant = process.env.WEFT_TENANT ?? 'tenant-0';
const out = process.env.OUT ?? 'docs/ui';
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'], headless: true });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
page.setDefaultTimeout(15000);
await page.goto(base + '/');
await page.evaluate((t) => localStorage.setItem('weft.tenant', t), tenant);

const api = (path, init = {}) => fetch(base + path, { ...init, headers: { 'X-Scope-OrgID': tenant, 'Content-Type': 'application/json', ...(init.headers ?? {}) } });
const failed = [];

async function shot(name, path, ready, fullPage = false) {
  try {
    await page.goto(base + path);
    await ready();
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(out, name + '.png'), fullPage });
    console.log(`saved ${name}.png`);
  } catch (e) {
    failed.push(name);
    console.log(`cannot photograph ${name}: ${e.message.split('\n')[0]}`);
  }
}

const cpu = 'sum by (mode) (rate(node_cpu_seconds_total[5m]))';
await shot('browser', '/graph?range=30m&expr=' + encodeURIComponent(cpu), () => page.locator('.graph canvas').waitFor());
await shot('explain', '/explain?expr=' + encodeURIComponent(`topk(3, ${cpu}) / on(mode) group_left sum by (mode) (rate(node_cpu_seconds_total[5m]))`), async () => {
  await page.locator('.node').first().waitFor();
  for (const n of await page.locator('.node').all()) await n.click();
  await page.locator('.node-stats').last().waitFor();
  await page.waitForTimeout(500);
}, true);
await shot('explorer', '/explorer', () => page.locator('#explorer table').waitFor());
await shot('cardinality', '/cardinality', async () => {
  await page.locator('#cardinality #top-metrics table').waitFor();
});

// A notebook, through the notebooks API.
const res = await api('/api/v1/notebooks', { method: 'POST', body: JSON.stringify({
  title: 'Node CPU',
  time: { from: 'now-30m', to: 'now', step: '' },
  variables: [{ name: 'mode', label: 'mode', value: 'user' }],
  cells: [
    { kind: 'markdown', text: '# Node CPU\n\nWhere the hosts spend their CPU, by **mode**. Pick a mode above; the second cell follows it.' },
    { kind: 'promql', expr: cpu, view: 'graph', title: 'CPU by mode' },
    { kind: 'promql', expr: 'topk(5, sum by (instance) (rate(node_cpu_seconds_total{mode="$mode"}[5m])))', view: 'table', title: 'Top hosts in $mode' },
  ],
}) });
if (res.ok) {
  const nb = await res.json();
  await shot('notebooks', '/notebooks', () => page.locator('#notebook-list table').waitFor());
  await shot('notebook', `/notebooks/${nb.id}`, async () => {
    await page.locator('.cell .graph canvas').first().waitFor();
    await page.locator('.cell table.result-table').first().waitFor();
  }, true);
} else {
  failed.push('notebooks', 'notebook');
  console.log(`cannot create a notebook (${res.status}): no notebook screenshots`);
}
await browser.close();
if (failed.length) console.log(`not saved: ${failed.join(', ')}`);
