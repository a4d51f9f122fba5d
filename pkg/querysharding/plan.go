package querysharding

import (
	"slices"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/parser/posrange"
)

// Labels of the series the outer expression reads: partialLabel selects a
// partial result (its value is the partial's number), shardLabel tells the
// shards of one partial apart so that their series do not collide.
const (
	partialLabel = "__partial__"
	shardLabel   = "__shard__"
)

// partial is one expression that runs downstream: once per shard when it
// is sharded (its selectors carry ShardLabel), else once.
type partial struct {
	expr    parser.Expr
	sharded bool
}

// plan is the sharded form of a query: partials that run downstream, and
// the outer expression over their results, which reads partial k's series
// with the selector {__partial__="k"}.
type plan struct {
	outer    parser.Expr
	partials []partial
}

// queries returns the sub-queries of partial k: one per shard of n when it
// is sharded, each selector of it with ShardMatcher added, else the partial
// as it is.
func (p *plan) queries(k, n int) []string {
	pt := p.partials[k]
	if !pt.sharded {
		return []string{pt.expr.String()}
	}
	var sels []*parser.VectorSelector
	parser.Inspect(pt.expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			sels = append(sels, vs)
		}
		return nil
	})
	orig := make([][]*labels.Matcher, len(sels))
	for i, vs := range sels {
		orig[i] = vs.LabelMatchers
	}
	defer func() {
		for i, vs := range sels {
			vs.LabelMatchers = orig[i]
		}
	}()
	qs := make([]string, n)
	for i := range n {
		m := ShardMatcher(i, n)
		for j, vs := range sels {
			vs.LabelMatchers = append(orig[j][:len(orig[j]):len(orig[j])], m)
		}
		qs[i] = pt.expr.String()
	}
	return qs
}

// newPlan returns the sharded form of expr, or false when no part of it
// can be sharded. expr is left as it is: the partials and the outer
// expression share its unchanged nodes, and plan.queries modifies and
// restores selectors of partials only.
func newPlan(expr parser.Expr) (*plan, bool) {
	p := &plan{}
	outer, ok := p.rewrite(expr)
	if !ok || !slices.ContainsFunc(p.partials, func(pt partial) bool { return pt.sharded }) {
		return nil, false
	}
	p.outer = outer
	return p, true
}

// rewrite returns the expression that computes e from partials: e itself
// when it reads no series; a sharded aggregation's outer aggregation; else
// e with its children rewritten, or, when a child cannot be (it is a range
// vector that reads series, for example), e as one unsharded partial when
// it is embeddable; else false, and the parent tries.
func (p *plan) rewrite(e parser.Expr) (parser.Expr, bool) {
	if !readsSeries(e) {
		return e, true
	}
	if agg, ok := e.(*parser.AggregateExpr); ok {
		if outer, ok := p.shardAggregation(agg); ok {
			return outer, true
		}
	}
	mark := len(p.partials)
	out, ok := p.rewriteChildren(e)
	if ok && (!embeddable(e) || slices.ContainsFunc(p.partials[mark:], func(pt partial) bool { return pt.sharded })) {
		return out, true
	}
	// Nothing in e shards: it runs downstream whole if it can, rather
	// than its parts, whose results are larger.
	p.partials = p.partials[:mark]
	if embeddable(e) {
		return p.embed(e, false), true
	}
	return nil, false
}

// embeddable says whether e, run as a query of its own, gives the series
// it gives within the query: selectors, and aggregations that drop the
// metric name. Not the functions and operations that drop it: an engine
// that removes it late (delayed name removal) keeps it within the query
// until its end, while a query of their own removes it, and can then find
// two series with the same labels (an error) where the query would have
// aggregated them.
func embeddable(e parser.Expr) bool {
	switch n := unwrapParens(e).(type) {
	case *parser.VectorSelector:
		return true
	case *parser.AggregateExpr:
		switch n.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
			return false // they keep the series' labels
		}
		return n.Without || !slices.Contains(n.Grouping, labels.MetricName)
	}
	return false
}

func (p *plan) rewriteChildren(e parser.Expr) (parser.Expr, bool) {
	var ok bool
	switch n := e.(type) {
	case *parser.AggregateExpr:
		c := *n
		if c.Param != nil {
			if c.Param, ok = p.rewrite(n.Param); !ok {
				return nil, false
			}
		}
		if c.Expr, ok = p.rewrite(n.Expr); !ok {
			return nil, false
		}
		return &c, true
	case *parser.BinaryExpr:
		c := *n
		if c.LHS, ok = p.rewrite(n.LHS); !ok {
			return nil, false
		}
		if c.RHS, ok = p.rewrite(n.RHS); !ok {
			return nil, false
		}
		return &c, true
	case *parser.Call:
		if !outerFunction(n.Func.Name) {
			return nil, false
		}
		c := *n
		c.Args = make(parser.Expressions, len(n.Args))
		for i, a := range n.Args {
			if c.Args[i], ok = p.rewrite(a); !ok {
				return nil, false
			}
		}
		return &c, true
	case *parser.ParenExpr:
		c := *n
		if c.Expr, ok = p.rewrite(n.Expr); !ok {
			return nil, false
		}
		return &c, true
	case *parser.UnaryExpr:
		c := *n
		if c.Expr, ok = p.rewrite(n.Expr); !ok {
			return nil, false
		}
		return &c, true
	}
	// Selectors and subqueries: a vector selector becomes a partial of
	// its own (rewrite embeds it); a range vector cannot be.
	return nil, false
}

// outerFunction says whether a function can be evaluated over a partial's
// result as over its argument itself. Not those that read their argument's
// selector rather than its values: timestamp and start_timestamp read the
// samples' own times, absent and absent_over_time the selector's matchers,
// and info reads series of its own; nor those that read labels.
func outerFunction(name string) bool {
	switch name {
	case "timestamp", "start_timestamp", "absent", "absent_over_time", "info":
		return false
	case "label_replace", "label_join", "sort_by_label", "sort_by_label_desc":
		// They read labels, and an engine that removes the metric name
		// late (EnableDelayedNameRemoval) still has it in their argument,
		// but no longer in a partial's result.
		return false
	}
	return true
}

// embed adds e as a partial and returns the selector of its result.
func (p *plan) embed(e parser.Expr, sharded bool) parser.Expr {
	p.partials = append(p.partials, partial{expr: e, sharded: sharded})
	return p.selector(len(p.partials)-1, e.PositionRange())
}

// shardAggregation returns the outer expression of a sharded aggregation,
// or false when it cannot be sharded exactly: its operation must combine
// per-shard results (sum of sums, sum of counts, min of mins, top k of top
// k's, ...), its parameter must read no series, and its argument must be
// series-local (shardLocal): each series of the argument computed from one
// stored series alone, so that the series of the shards are the series of
// the whole.
func (p *plan) shardAggregation(a *parser.AggregateExpr) (parser.Expr, bool) {
	if a.Param != nil && readsSeries(a.Param) || !shardLocal(a.Expr) {
		return nil, false
	}
	if !a.Without && slices.Contains(a.Grouping, labels.MetricName) {
		// An engine that removes the metric name late (delayed name
		// removal) groups by the names that a function of the argument
		// drops, and drops them after the aggregation; a shard's result
		// has lost them, and the outer aggregation could not group by
		// them. Only the names of a plain selector are kept.
		if _, ok := unwrapParens(a.Expr).(*parser.VectorSelector); !ok {
			return nil, false
		}
	}
	// The outer aggregation groups the partials' series as the original
	// groups the argument's: by the same labels, or without the shard
	// label, since a partial's series already lack the dropped labels.
	aggregate := func(op parser.ItemType, e parser.Expr, grouping ...string) *parser.AggregateExpr {
		o := &parser.AggregateExpr{Op: op, Expr: e, Without: a.Without, PosRange: a.PosRange}
		if a.Without {
			o.Grouping = []string{shardLabel}
		} else {
			o.Grouping = append(slices.Clone(a.Grouping), grouping...)
		}
		return o
	}
	outer := func(op parser.ItemType, k int, grouping ...string) *parser.AggregateExpr {
		return aggregate(op, p.selector(k, a.Expr.PositionRange()), grouping...)
	}
	switch a.Op {
	case parser.SUM, parser.MIN, parser.MAX, parser.GROUP:
		return outer(a.Op, p.add(a)), true
	case parser.COUNT:
		return outer(parser.SUM, p.add(a)), true
	case parser.COUNT_VALUES:
		s, ok := a.Param.(*parser.StringLiteral)
		if !ok {
			return nil, false
		}
		if a.Without {
			return outer(parser.SUM, p.add(a)), true
		}
		return outer(parser.SUM, p.add(a), s.Val), true
	case parser.AVG:
		if slices.Contains(a.Grouping, labels.MetricName) && !a.Without {
			return nil, false // the division drops the name that avg by (__name__) keeps
		}
		// The mean of the shards' means weighted by their share of the
		// series: no sum of all values, which could overflow where avg
		// does not (it switches to an incremental mean).
		count := *a
		count.Op = parser.COUNT
		avg, n := p.add(a), p.add(&count)
		weight := &parser.BinaryExpr{
			Op:             parser.DIV,
			LHS:            p.selector(n, a.Expr.PositionRange()),
			RHS:            outer(parser.SUM, n),
			VectorMatching: &parser.VectorMatching{Card: parser.CardManyToOne, MatchingLabels: []string{shardLabel}},
		}
		return aggregate(parser.SUM, &parser.BinaryExpr{
			Op:             parser.MUL,
			LHS:            p.selector(avg, a.Expr.PositionRange()),
			RHS:            &parser.ParenExpr{Expr: weight, PosRange: a.PosRange},
			VectorMatching: &parser.VectorMatching{Card: parser.CardOneToOne},
		}), true
	case parser.TOPK, parser.BOTTOMK:
		// The top k of the shards' top k, over the series themselves:
		// they keep their labels, so the shard label goes afterwards.
		o := &parser.AggregateExpr{Op: a.Op, Expr: p.selector(p.add(a), a.Expr.PositionRange()), Param: a.Param, Grouping: a.Grouping, Without: a.Without, PosRange: a.PosRange}
		if a.Without {
			o.Grouping = append(slices.Clone(a.Grouping), shardLabel)
		}
		return dropLabel(o, shardLabel, a.PosRange), true
	}
	return nil, false
}

// add adds a as a sharded partial.
func (p *plan) add(a *parser.AggregateExpr) int {
	p.partials = append(p.partials, partial{expr: a, sharded: true})
	return len(p.partials) - 1
}

// selector returns the selector of partial k's result, at pos: the
// outer evaluation's annotations about it are about the expression at pos.
func (p *plan) selector(k int, pos posrange.PositionRange) *parser.VectorSelector {
	return &parser.VectorSelector{
		LabelMatchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, partialLabel, strconv.Itoa(k))},
		PosRange:      pos,
	}
}

// dropLabel returns label_replace(e, name, "", "", ""), which removes the
// label name from each series of e.
func dropLabel(e parser.Expr, name string, pos posrange.PositionRange) parser.Expr {
	str := func(s string) parser.Expr { return &parser.StringLiteral{Val: s, PosRange: pos} }
	return &parser.Call{
		Func:     parser.Functions["label_replace"],
		Args:     parser.Expressions{e, str(name), str(""), str(""), str("")},
		PosRange: pos,
	}
}

// readsSeries says whether e has a selector.
func readsSeries(e parser.Expr) bool {
	found := false
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		switch node.(type) {
		case *parser.VectorSelector, *parser.MatrixSelector:
			found = true
		}
		return nil
	})
	return found
}

// shardLocal says whether each series of e is computed from one stored
// series alone, at the same step: then e over the series of one shard
// gives exactly e's series of that shard, and the shards' series are
// disjoint. Selectors are; functions that map series to series are when
// their other arguments read no series; so are arithmetic and comparisons
// with a scalar that reads no series. Aggregations and operations between
// two vectors are not: they combine series that may lie in different
// shards. label_replace and label_join are, since their output series
// still come from one series each; they may make two series of different
// shards equal, which unsharded is an error ("vector cannot contain
// metrics with the same labelset") and sharded aggregates them.
func shardLocal(e parser.Expr) bool {
	switch n := e.(type) {
	case *parser.VectorSelector:
		return true
	case *parser.MatrixSelector:
		return shardLocal(n.VectorSelector)
	case *parser.SubqueryExpr:
		return shardLocal(n.Expr)
	case *parser.ParenExpr:
		return shardLocal(n.Expr)
	case *parser.UnaryExpr:
		return shardLocal(n.Expr)
	case *parser.StepInvariantExpr:
		return shardLocal(n.Expr)
	case *parser.BinaryExpr:
		l, r := n.LHS.Type() == parser.ValueTypeScalar, n.RHS.Type() == parser.ValueTypeScalar
		switch {
		case l && r:
			return false // a scalar: no series
		case l:
			return !readsSeries(n.LHS) && shardLocal(n.RHS)
		case r:
			return !readsSeries(n.RHS) && shardLocal(n.LHS)
		}
		return false
	case *parser.Call:
		if !seriesFunction(n.Func.Name) {
			return false
		}
		local := 0
		for _, a := range n.Args {
			switch a.Type() {
			case parser.ValueTypeVector, parser.ValueTypeMatrix:
				if !shardLocal(a) {
					return false
				}
				local++
			default:
				if readsSeries(a) {
					return false
				}
			}
		}
		return local == 1
	}
	return false
}

// seriesFunction says whether a function computes each output series from
// one input series. Not: absent and absent_over_time, scalar, vector, info,
// histogram_quantile(s) and histogram_fraction (the buckets of a classic
// histogram are series of their own), the sorts (order is lost between
// shards anyway) and the functions of no series.
func seriesFunction(name string) bool {
	switch name {
	case "abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "changes",
		"clamp", "clamp_max", "clamp_min", "cos", "cosh", "days_in_month", "day_of_month",
		"day_of_week", "day_of_year", "deg", "delta", "deriv", "exp", "floor",
		"histogram_avg", "histogram_count", "histogram_sum", "histogram_stddev", "histogram_stdvar",
		"double_exponential_smoothing", "hour", "idelta", "increase", "irate",
		"label_replace", "label_join", "ln", "log10", "log2", "minute", "month",
		"predict_linear", "rad", "rate", "resets", "round", "sgn", "sin", "sinh", "sqrt",
		"tan", "tanh", "timestamp", "start_timestamp", "year",
		"avg_over_time", "count_over_time", "first_over_time", "last_over_time",
		"mad_over_time", "max_over_time", "min_over_time", "present_over_time",
		"quantile_over_time", "stddev_over_time", "stdvar_over_time", "sum_over_time",
		"ts_of_first_over_time", "ts_of_max_over_time", "ts_of_min_over_time", "ts_of_last_over_time":
		return true
	}
	return false
}

func unwrapParens(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}
