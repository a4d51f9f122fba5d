// PromQL from the syntax tree that /api/v1/parse_query answers (Prometheus'
// web/api/v1 translateAST), so that each node of the explain tree can run
// its own sub-expression.
import { formatDuration } from './text';

/** Node is one node of parse_query's tree. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Node = any;

const identifier = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function labelName(l: string): string {
  return identifier.test(l) ? l : JSON.stringify(l);
}

function labelList(ls: string[]): string {
  return `(${ls.map(labelName).join(', ')})`;
}

function matchers(ms: Array<{ name: string; value: string; type: string }>, name: string): string {
  return ms
    .filter((m) => !(name !== '' && m.name === '__name__' && m.type === '=' && m.value === name))
    .map((m) => `${labelName(m.name)}${m.type}${JSON.stringify(m.value)}`)
    .join(', ');
}

function selector(n: Node): string {
  const name: string = n.name ?? '';
  const ms = matchers(n.matchers ?? [], name);
  if (name !== '' && !metricName.test(name)) {
    // A UTF-8 metric name goes inside the braces: {"my.metric", a="b"}.
    return `{${[JSON.stringify(name), ms].filter((x) => x !== '').join(', ')}}`;
  }
  if (ms === '') return name === '' ? '{}' : name;
  return `${name}{${ms}}`;
}

function modifiers(n: Node): string {
  let out = '';
  if (n.timestamp !== null && n.timestamp !== undefined) out += ` @ ${(n.timestamp / 1000).toFixed(3).replace(/\.?0+$/, '')}`;
  else if (n.startOrEnd) out += ` @ ${String(n.startOrEnd).toLowerCase()}()`;
  if (n.offsetExpr) out += ` offset ${duration(n.offsetExpr)}`;
  else if (n.offset) out += ` offset ${formatDuration(n.offset)}`;
  if (n.anchored) out += ' anchored';
  if (n.smoothed) out += ' smoothed';
  return out;
}

/** duration writes a duration expression (5m, or (1h + 5m) in newer PromQL). */
function duration(n: Node): string {
  if (n === null || n === undefined) return '';
  if (n.type === 'numberLiteral') {
    const v = parseFloat(n.val);
    return n.duration ? formatDuration(Math.round(v * 1000)) : n.val;
  }
  if (n.type === 'durationExpr') {
    let s: string;
    const op = String(n.op).toLowerCase().replace(/\(\)$/, '');
    if ((op === 'step' || op === 'range') && !n.lhs && !n.rhs) s = `${op}()`;
    else if (!n.lhs) s = `${n.op}${duration(n.rhs)}`;
    else s = `${duration(n.lhs)} ${n.op} ${duration(n.rhs)}`;
    return n.wrapped ? `(${s})` : s;
  }
  return toPromQL(n);
}

/** toPromQL writes the expression a parse_query node stands for. */
export function toPromQL(n: Node): string {
  if (n === null || n === undefined) return '';
  switch (n.type) {
    case 'aggregation': {
      let s = n.op as string;
      const grouping: string[] = n.grouping ?? [];
      if (n.without || grouping.length > 0) s += ` ${n.without ? 'without' : 'by'} ${labelList(grouping)} `;
      const args = n.param !== null && n.param !== undefined ? [toPromQL(n.param), toPromQL(n.expr)] : [toPromQL(n.expr)];
      return `${s}(${args.join(', ')})`;
    }
    case 'binaryExpr': {
      let op = n.op as string;
      if (n.bool) op += ' bool';
      const m = n.matching;
      const setOp = ['and', 'or', 'unless'].includes(n.op);
      if (m) {
        if (m.on) op += ` on${labelList(m.labels ?? [])}`;
        else if ((m.labels ?? []).length > 0) op += ` ignoring${labelList(m.labels)}`;
        if (!setOp && m.card === 'many-to-one') op += ` group_left${(m.include ?? []).length ? labelList(m.include) : ''}`;
        if (!setOp && m.card === 'one-to-many') op += ` group_right${(m.include ?? []).length ? labelList(m.include) : ''}`;
        const fv = m.fillValues ?? {};
        if (fv.lhs !== null && fv.lhs !== undefined && fv.rhs !== null && fv.rhs !== undefined && fv.lhs === fv.rhs) op += ` fill(${fv.lhs})`;
        else {
          if (fv.lhs !== null && fv.lhs !== undefined) op += ` fill_left(${fv.lhs})`;
          if (fv.rhs !== null && fv.rhs !== undefined) op += ` fill_right(${fv.rhs})`;
        }
      }
      return `${toPromQL(n.lhs)} ${op} ${toPromQL(n.rhs)}`;
    }
    case 'call':
      return `${n.func.name}(${(n.args ?? []).map(toPromQL).join(', ')})`;
    case 'matrixSelector':
      return `${selector(n)}[${n.rangeExpr ? duration(n.rangeExpr) : formatDuration(n.range)}]${modifiers(n)}`;
    case 'subquery': {
      const range = n.rangeExpr ? duration(n.rangeExpr) : formatDuration(n.range);
      const step = n.stepExpr ? duration(n.stepExpr) : n.step ? formatDuration(n.step) : '';
      return `${toPromQL(n.expr)}[${range}:${step}]${modifiers(n)}`;
    }
    case 'durationExpr':
      return duration(n);
    case 'numberLiteral':
      return n.duration ? duration(n) : n.val;
    case 'parenExpr':
      return `(${toPromQL(n.expr)})`;
    case 'stringLiteral':
      return JSON.stringify(n.val);
    case 'unaryExpr':
      return `${n.op}${toPromQL(n.expr)}`;
    case 'vectorSelector':
      return selector(n) + modifiers(n);
  }
  throw new Error(`unknown node type ${n.type}`);
}

/** children lists a node's sub-expressions, in the order PromQL writes them. */
export function children(n: Node): Node[] {
  switch (n?.type) {
    case 'aggregation':
      return n.param ? [n.param, n.expr] : [n.expr];
    case 'binaryExpr':
      return [n.lhs, n.rhs];
    case 'call':
      return n.args ?? [];
    case 'subquery':
    case 'parenExpr':
    case 'unaryExpr':
      return [n.expr];
  }
  return [];
}

/** describe says in a few words what kind of node n is. */
export function describe(n: Node): string {
  switch (n?.type) {
    case 'aggregation': {
      const g: string[] = n.grouping ?? [];
      return `aggregation ${n.op}${n.without ? ' without ' : g.length ? ' by ' : ''}${g.join(', ')}`;
    }
    case 'binaryExpr':
      return `binary ${n.op}${n.matching?.card && n.matching.card !== 'one-to-one' ? ' ' + n.matching.card : ''}`;
    case 'call':
      return `function ${n.func.name}`;
    case 'matrixSelector':
      return 'range selector';
    case 'vectorSelector':
      return 'instant selector';
    case 'subquery':
      return 'subquery';
    case 'numberLiteral':
      return 'number';
    case 'stringLiteral':
      return 'string';
    case 'parenExpr':
      return 'parentheses';
    case 'unaryExpr':
      return `unary ${n.op}`;
  }
  return n?.type ?? '';
}
