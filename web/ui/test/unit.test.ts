// Unit tests of the UI's DOM-free helpers, run in Node by test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autoStep, formatDuration, parseDuration, parseTime, substitute } from '../src/text';
import { children, toPromQL } from '../src/promql';

test('durations', () => {
  const f = (ms: number, s: string) => {
    assert.equal(formatDuration(ms), s);
    assert.equal(parseDuration(s), ms);
  };
  f(0, '0s');
  f(300e3, '5m');
  f(5400e3, '1h30m');
  f(86400e3 + 1500, '1d1s500ms');
  f(7 * 86400e3, '1w');
  assert.equal(formatDuration(-60e3), '-1m');
  assert.equal(parseDuration('90'), 90e3);
  assert.equal(parseDuration('5x'), null);
  assert.equal(parseDuration('m5'), null);
  assert.equal(parseDuration(''), null);
  assert.equal(autoStep(3600e3), 15);
  assert.equal(autoStep(1000), 1);
});

test('times', () => {
  const now = 1_700_000_000_000;
  const f = (s: string, want: number | null) => assert.equal(parseTime(s, now), want);
  f('now', now);
  f('', now);
  f('now-1h', now - 3600e3);
  f('now - 30m', now - 1800e3);
  f('now+5m', now + 300e3);
  f('1700000000', now);
  f('2023-11-14T22:13:20Z', now);
  f('now-1q', null);
  f('yesterday', null);
});

test('variables', () => {
  const vars = [{ name: 'job', value: 'api' }, { name: 'jobs', value: 'x|y' }];
  const f = (expr: string, want: string) => assert.equal(substitute(expr, vars), want);
  f('up{job="$job"}', 'up{job="api"}');
  f('up{job=~"$jobs"}', 'up{job=~"x|y"}');
  f('up{job="${job}"} or up{job="$job_x"}', 'up{job="api"} or up{job="$job_x"}');
  f('x', 'x');
  assert.equal(substitute('$a$1', [{ name: 'a', value: '$&' }]), '$&$1');
});

test('PromQL from parse_query trees', () => {
  const sel = (name: string, matchers: Array<[string, string, string]> = [], extra = {}) => ({
    type: 'vectorSelector', name, offset: 0, matchers: [...(name ? [{ name: '__name__', type: '=', value: name }] : []), ...matchers.map(([n, t, v]) => ({ name: n, type: t, value: v }))], timestamp: null, startOrEnd: null, ...extra,
  });
  assert.equal(toPromQL(sel('up')), 'up');
  assert.equal(toPromQL(sel('up', [['job', '=~', 'a"b']])), 'up{job=~"a\\"b"}');
  assert.equal(toPromQL(sel('', [['__name__', '=~', 'x.*']])), '{__name__=~"x.*"}');
  assert.equal(toPromQL(sel('my.metric')), '{"my.metric"}');
  assert.equal(toPromQL(sel('up', [], { offset: 300e3, startOrEnd: 'end' })), 'up @ end() offset 5m');
  const m = { ...sel('x'), type: 'matrixSelector', range: 3600e3 };
  assert.equal(toPromQL(m), 'x[1h]');
  const agg = { type: 'aggregation', op: 'topk', param: { type: 'numberLiteral', val: '3' }, expr: m, grouping: ['a b'], without: true };
  assert.equal(toPromQL(agg), 'topk without ("a b") (3, x[1h])');
  assert.deepEqual(children(agg), [agg.param, m]);
  const bin = { type: 'binaryExpr', op: '/', lhs: sel('a'), rhs: sel('b'), bool: false, matching: { card: 'many-to-one', labels: ['job'], on: true, include: ['instance'], fillValues: { lhs: null, rhs: null } } };
  assert.equal(toPromQL(bin), 'a / on(job) group_left(instance) b');
  const sub = { type: 'subquery', expr: sel('x'), range: 600e3, step: 0, offset: 0, timestamp: 1700000000500, startOrEnd: null };
  assert.equal(toPromQL(sub), 'x[10m:] @ 1700000000.5');
});
