// End-to-end test of weft's web UI in a real browser (Debian's chromium,
// driven by playwright-core). integration/ui_test.go starts weft, pushes the
// series below for tenant team-a, and runs this script with:
//   WEFT_URL            the weft to test (http://127.0.0.1:port)
//   WEFT_E2E_STOP_AFTER "explain" to stop before the cardinality and notebook steps
//   CHROMIUM            the browser binary (default /usr/bin/chromium)
//   WEFT_E2E_ARTIFACTS  a directory for a screenshot when a step fails
//   WEFT_E2E_TOKEN      a bearer token: weft runs with -auth.type=tokens, and
//                       the test logs in with it first
// It prints one line per step and exits 1 at the first failure.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.WEFT_URL;
if (!base) {
  console.error('WEFT_URL is not set');
  process.exit(2);
}
const stopAfter = process.env.WEFT_E2E_STOP_AFTER ?? '';
const token = process.env.WEFT_E2E_TOKEN ?? '';
const metric = 'weft_e2e_requests_total';
// Pushed by the Go test: three series, two jobs.
const wantSeries = 3;
const expr1 = `${metric}{job="$job"}`;
const expr2 = `sum by (job) (rate(${metric}[5m]))`;
const pwn = '<img src=x onerror="window.__pwned=1">\n\n<script>window.__pwned=2</script>';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  headless: true,
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
const page = await context.newPage();
page.setDefaultTimeout(15000);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));

let step = '';
function ok(msg) {
  console.log(`ok   ${step}${msg ? ': ' + msg : ''}`);
}
function check(cond, msg) {
  if (!cond) throw new Error(msg);
}
async function setTenant(input, t) {
  await input.fill(t);
  await input.press('Enter');
}
async function editorText(locator) {
  return (await locator.locator('.cm-content').innerText()).replace(/\u00a0/g, ' ').trim();
}

try {
  step = 'open the expression browser';
  await page.goto(base + '/');
  await page.locator('#expr-editor .cm-editor').waitFor();
  check(await page.locator('#nav a[href="/services"]').count() === 1, 'no link to /services in the navigation');
  ok();

  if (token) {
    step = 'log in with a bearer token';
    const before = await page.evaluate(async () => (await fetch('/prometheus/api/v1/labels')).status);
    check(before === 401, `the API answered ${before} before the login, want 401`);
    const form = page.locator('#nav form.login');
    await form.locator('select').selectOption('bearer');
    await form.locator('input[name="secret"]').fill(token);
    await form.locator('button[type="submit"]').click();
    await page.locator('#nav .logout').waitFor();
    await page.locator('#expr-editor .cm-editor').waitFor();
    check(await page.evaluate(() => JSON.parse(sessionStorage.getItem('weft.credential') ?? 'null')?.token) === token, 'the token is not in sessionStorage');
    ok();
  }

  step = 'set tenant team-a beside the editor';
  await setTenant(page.locator('.query-row input.tenant'), 'team-a');
  check(await page.evaluate(() => localStorage.getItem('weft.tenant')) === 'team-a', 'tenant not remembered');
  ok();

  step = 'autocomplete a partial metric name';
  await page.locator('#expr-editor .cm-content').click();
  await page.keyboard.type('weft_e2e_req', { delay: 40 });
  const option = page.locator('.cm-tooltip-autocomplete li', { hasText: metric }).first();
  await option.waitFor();
  await option.click();
  const typed = await editorText(page.locator('#expr-editor'));
  check(typed === metric, `editor holds ${JSON.stringify(typed)} after picking the completion, want ${metric}`);
  ok(typed);

  step = 'run the query and see the graph';
  await page.locator('#execute').click();
  const graph = page.locator('#results .graph[data-series-count]');
  await graph.waitFor();
  const n = Number(await graph.getAttribute('data-series-count'));
  check(n === wantSeries, `graph has ${n} series, want ${wantSeries}`);
  await page.locator('#results .graph canvas').waitFor();
  const legend = await page.locator('#results .u-legend .u-series').count();
  check(legend === wantSeries + 1, `legend has ${legend - 1} series, want ${wantSeries}`);
  ok(`${n} series`);

  step = 'table view';
  await page.locator('#tab-table').click();
  const rows = await page.locator('#results table.result-table tr').count();
  check(rows === wantSeries, `table has ${rows} rows, want ${wantSeries}`);
  await page.locator('#tab-graph').click();
  ok();

  step = 'history';
  check(await page.locator('#history a', { hasText: metric }).count() === 1, 'the query is not in the history');
  ok();

  step = 'errors and annotations';
  await page.locator('#expr-editor .cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText('sum(');
  await page.locator('#execute').click();
  await page.locator('#annotations .alert-error').waitFor();
  await page.locator('#expr-editor .cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(`histogram_quantile(0.9, ${metric})`);
  await page.locator('#execute').click();
  const warning = await page.locator('#annotations .alert-warning, #annotations .alert-info').first().innerText();
  ok(warning.split('\n')[0]);

  step = 'run an aggregation with Shift+Enter';
  await page.locator('#expr-editor .cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(expr2);
  await page.keyboard.press('Shift+Enter');
  await page.locator('#results .graph[data-series-count="2"]').waitFor();
  ok('2 series');

  step = 'metrics explorer';
  await page.locator('#nav a[href="/explorer"]').click();
  await page.locator('#explorer-filter').fill('e2e_req');
  const row = page.locator(`#explorer tr[data-metric="${metric}"]`);
  await row.waitFor();
  const cells = await row.locator('td').allInnerTexts();
  check(cells[1] === 'counter', `explorer row ${JSON.stringify(cells)}, want type counter`);
  await row.locator('a').click();
  await page.locator('#results .graph[data-series-count="3"]').waitFor();
  ok(cells.join(' | '));

  step = 'back to the aggregation';
  await page.goBack();
  await page.goBack();
  await page.locator('#results .graph[data-series-count="2"]').waitFor();
  ok();

  step = 'open the explain tree';
  await page.locator('#explain').click();
  await page.waitForURL(/\/explain\?expr=/);
  const top = page.locator('#explain-tree .node').first();
  await top.waitFor();
  const topExpr = await top.getAttribute('data-expr');
  check(topExpr === expr2, `the tree's root is ${JSON.stringify(topExpr)}, want ${JSON.stringify(expr2)}`);
  const rateNode = page.locator(`#explain-tree .node[data-expr="rate(${metric}[5m])"]`);
  await rateNode.click();
  await page.locator(`#explain-tree .node[data-expr="rate(${metric}[5m])"][data-series-count="${wantSeries}"]`).waitFor();
  const stats = await page.locator('#explain-tree .node-stats').first().innerText();
  check(/\d+ series, .*ms/.test(stats), `node stats ${JSON.stringify(stats)}`);
  await top.click();
  await page.locator('#explain-tree .node[data-series-count="2"]').first().waitFor();
  ok(stats);
  step = 'the explain tree writes back the PromQL it parsed';
  const tricky = [
    'sum without (instance) (rate(x{a="b",c=~"d.*"}[5m] offset 1m))',
    'a / on(job) group_left(instance) b',
    'a * ignoring(x, y) group_right b',
    'x unless ignoring(a) y',
    'rate(x[5m:1m] @ end())',
    'max_over_time(x[1h:] offset -5m)',
    'x @ 1700000000.5',
    '-x > bool 2',
    'topk(3, x) or vector(1)',
    'histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))',
    'label_replace(x, "dst", "$1", "src", "(.*)")',
    '{__name__=~"weft_.*", job!="a"}',
    '(a + b) * c',
    'count_values("v\\"q", x)',
    'quantile(0.5, x) ^ 2 % 3',
    '1 + 2 * 3 ^ 2',
    'sum by (job) (x) == on() group_left vector(0)',
    'avg(x) by (job)',
    'time() - timestamp(x)',
  ];
  const mismatched = [];
  for (const e of tricky) {
    await page.goto(base + '/explain?expr=' + encodeURIComponent(e));
    const root = page.locator('#explain-tree .node').first();
    await root.waitFor();
    const back = await root.getAttribute('data-expr');
    const same = await page.evaluate(async ([a, b]) => {
      const headers = { 'X-Scope-OrgID': localStorage.getItem('weft.tenant') };
      const cred = JSON.parse(sessionStorage.getItem('weft.credential') ?? 'null');
      if (cred?.kind === 'bearer') headers.Authorization = 'Bearer ' + cred.token;
      const parse = async (q) => (await (await fetch('/prometheus/api/v1/parse_query?query=' + encodeURIComponent(q), { headers })).json());
      const [pa, pb] = await Promise.all([parse(a), parse(b)]);
      return pa.status === 'success' && JSON.stringify(pa.data) === JSON.stringify(pb.data);
    }, [e, back]);
    if (!same) mismatched.push(`${e}  ->  ${back}`);
  }
  check(mismatched.length === 0, 'written back differently:\n' + mismatched.join('\n'));
  ok(`${tricky.length} expressions`);
  await page.goto(base + '/explain?expr=' + encodeURIComponent(expr2));
  await page.locator('#explain-tree .node').first().waitFor();

  if (stopAfter === 'explain') {
    console.log('stopping after the explain step (WEFT_E2E_STOP_AFTER=explain)');
    throw 'stop';
  }

  step = 'cardinality';
  await page.locator('#nav a[href="/cardinality"]').click();
  const topMetric = page.locator('#top-metrics a', { hasText: metric });
  await topMetric.waitFor();
  await page.locator('#label-names table').waitFor();
  await topMetric.click();
  await page.locator('#results .graph[data-series-count="3"]').waitFor();
  ok();

  step = 'create a notebook';
  await page.locator('#nav a[href="/notebooks"]').click();
  await page.locator('#new-notebook-title').fill('E2E notebook');
  await page.locator('#new-notebook').click();
  await page.waitForURL(/\/notebooks\/[^/]+$/);
  const nbURL = page.url().split('?')[0];
  await page.locator('#notebook-title').waitFor();
  ok(nbURL);

  step = 'markdown cell with a script and an event handler';
  await page.locator('.cell-markdown .cell-edit').first().click();
  await page.locator('.cell-markdown textarea').first().fill(`# E2E notes\n\nSome *notes*.\n\n${pwn}\n`);
  await page.locator('.cell-markdown .cell-edit').first().click();
  await page.locator('.cell-markdown .markdown h1', { hasText: 'E2E notes' }).waitFor();
  ok();

  step = 'a variable offered from label values';
  await page.locator('#var-name').fill('job');
  await page.locator('#var-label').fill('job');
  await page.locator('#var-add').click();
  const jobSelect = page.locator('select.var-value[data-var="job"]');
  await page.waitForFunction(() => document.querySelectorAll('select.var-value[data-var="job"] option').length === 2);
  check((await jobSelect.locator('option').allInnerTexts()).join(',') === 'api,db', 'job is not offered api and db');
  await jobSelect.selectOption('api');
  ok();

  step = 'two PromQL cells';
  await page.locator('#add-promql').click();
  await page.locator('.cell-promql .cm-content').nth(0).click();
  await page.keyboard.insertText(expr1);
  await page.locator('.cell-promql .cell-run').nth(0).click();
  await page.locator('.cell-promql').nth(0).locator('.graph[data-series-count="2"]').waitFor();
  await jobSelect.selectOption('db');
  await page.locator('.cell-promql').nth(0).locator('.graph[data-series-count="1"]').waitFor();
  await jobSelect.selectOption('api');
  await page.locator('.cell-promql').nth(0).locator('.graph[data-series-count="2"]').waitFor();
  await page.locator('#add-promql').click();
  await page.locator('.cell-promql .cm-content').nth(1).click();
  await page.keyboard.insertText(expr2);
  await page.locator('.cell-promql .cell-view').nth(1).selectOption('table');
  await page.locator('.cell-promql').nth(1).locator('table.result-table[data-series-count="2"]').waitFor();
  ok();

  step = 'save';
  await page.locator('#save').click();
  await page.locator('#saved').waitFor();
  ok(await page.locator('#saved').innerText());

  step = 'reload and find the notebook intact';
  await page.reload();
  await page.locator('#notebook-title').waitFor();
  check(await page.locator('#notebook-title').inputValue() === 'E2E notebook', 'title changed');
  check(await page.locator('.cell').count() === 3, `${await page.locator('.cell').count()} cells after reload, want 3`);
  await page.locator('.cell').nth(0).locator('.markdown h1', { hasText: 'E2E notes' }).waitFor();
  const e1 = await editorText(page.locator('.cell').nth(1));
  const e2 = await editorText(page.locator('.cell').nth(2));
  check(e1 === expr1, `cell 2 holds ${JSON.stringify(e1)}`);
  check(e2 === expr2, `cell 3 holds ${JSON.stringify(e2)}`);
  check(await page.locator('.cell').nth(2).locator('.cell-view').inputValue() === 'table', 'cell 3 is not a table any more');
  await page.locator('.cell').nth(1).locator('.graph[data-series-count="2"]').waitFor();
  check(await page.locator('select.var-value[data-var="job"]').inputValue() === 'api', 'the variable lost its value');
  ok();

  step = 'a PromQL cell as a recording rule';
  await page.locator('.cell').nth(1).locator('.cell-rule-open').click();
  await page.locator('.cell').nth(1).locator('.rule-name').fill('job:weft_e2e_requests:rate5m');
  await page.locator('.cell').nth(1).locator('.rule-get').click();
  const rule = await page.locator('.cell').nth(1).locator('.rule-yaml').innerText();
  check(rule.includes('record: job:weft_e2e_requests:rate5m') && rule.includes(metric), `rule YAML ${JSON.stringify(rule)}`);
  ok();

  step = 'share link';
  await page.locator('#nb-from').fill('now-2h');
  await page.locator('#nb-from').press('Tab');
  await page.locator('#share').click();
  const shared = await page.locator('#share-url').inputValue();
  check(shared === `${nbURL}?from=now-2h&to=now`, `share link ${shared}`);
  await page.goto(shared);
  check(await page.locator('#nb-from').inputValue() === 'now-2h', 'the share link lost its time range');
  ok(shared);

  step = 'markdown is sanitised';
  const pwned = await page.evaluate(() => window.__pwned);
  check(pwned === undefined, `window.__pwned is ${pwned}: a cell's script ran`);
  check(await page.locator('.markdown script').count() === 0, 'a <script> is in the rendered markdown');
  check(await page.locator('.markdown [onerror]').count() === 0, 'an onerror attribute is in the rendered markdown');
  ok();

  step = 'another tenant gets "not found"';
  await setTenant(page.locator('.nav-tenant input.tenant'), 'team-b');
  await page.locator('#not-found').waitFor();
  await page.goto(nbURL);
  await page.locator('#not-found').waitFor();
  check((await page.locator('#not-found').innerText()).includes('not found'), 'no "not found" message');
  ok();

  step = 'export to Grafana JSON as team-a';
  await setTenant(page.locator('.nav-tenant input.tenant'), 'team-a');
  await page.locator('#notebook-title').waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export-grafana').click()]);
  const dash = JSON.parse(readFileSync(await download.path(), 'utf8'));
  const panels = dash.panels ?? [];
  check(panels.length === 3, `${panels.length} panels, want 3`);
  check(panels[0].type === 'text', `panel 1 is ${panels[0].type}, want text`);
  check(String(panels[0].options?.content ?? '').includes('E2E notes'), 'the text panel lacks the markdown');
  check(panels[1].type === 'timeseries' && panels[1].targets?.[0]?.expr === expr1, `panel 2: ${JSON.stringify(panels[1])}`);
  check((dash.templating?.list ?? []).some((v) => v.name === 'job'), `no variable job in ${JSON.stringify(dash.templating)}`);
  check(panels[2].type === 'table' && panels[2].targets?.[0]?.expr === expr2, `panel 3: ${JSON.stringify(panels[2])}`);
  ok(`${panels.length} panels`);

  step = 'a stale save is refused';
  const other = await context.newPage();
  await other.goto(nbURL);
  await other.locator('#notebook-title').fill('E2E notebook, edited elsewhere');
  await other.locator('#save').click();
  await other.locator('#saved').waitFor();
  await other.close();
  await page.locator('#notebook-title').fill('E2E notebook, edited here');
  await page.locator('#save').click();
  const conflict = await page.locator('#notebook-status .alert-error').innerText();
  check(conflict.includes('changed elsewhere'), `the stale save says ${JSON.stringify(conflict)}`);
  await page.reload();
  await page.locator('#notebook-title').waitFor();
  check(await page.locator('#notebook-title').inputValue() === 'E2E notebook, edited elsewhere', 'the other save is not there');
  ok();

  step = 'versions: restore the first one';
  await page.locator('#show-versions').click();
  await page.locator('#versions button', { hasText: 'Restore' }).last().click();
  await page.waitForFunction(() => document.querySelectorAll('.cell').length === 1);
  await page.reload();
  await page.locator('#notebook-title').waitFor();
  check(await page.locator('.cell').count() === 1, `${await page.locator('.cell').count()} cells after restoring version 1, want 1`);
  ok();

  step = 'no script error on any page';
  check(pageErrors.length === 0, pageErrors.join('\n'));
  ok();
} catch (e) {
  if (e !== 'stop') {
    console.log(`FAIL ${step}: ${e instanceof Error ? e.message : e}`);
    if (pageErrors.length) console.log('page errors:\n' + pageErrors.join('\n'));
    if (process.env.WEFT_E2E_ARTIFACTS) {
      const p = join(process.env.WEFT_E2E_ARTIFACTS, 'failure.png');
      await page.screenshot({ path: p, fullPage: true }).catch(() => {});
      console.log(`screenshot: ${p}`);
    }
    await browser.close();
    process.exit(1);
  }
}
await browser.close();
console.log('PASS');
