package querysharding

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Engine returns a promql.QueryEngine that runs each query in shards
// through s, its sub-queries on downstream over the query's own queryable,
// which must select the shard of a __query_shard__ matcher (weft's querier
// does; Queryable makes a Prometheus TSDB's storage do it). A query that
// does not shard runs on downstream whole. In one process it spreads the
// shards of a query over the cores; Prometheus' scripts run through it.
func (s *Sharder) Engine(downstream promql.QueryEngine, shards int) promql.QueryEngine {
	return &engine{s: s, downstream: downstream, shards: shards}
}

type engine struct {
	s          *Sharder
	downstream promql.QueryEngine
	shards     int
}

func (e *engine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	whole, err := e.downstream.NewInstantQuery(ctx, q, opts, qs, ts)
	if err != nil {
		return nil, err
	}
	return &query{Query: whole, e: e, q: q, opts: opts, qs: qs, start: ts, end: ts}, nil
}

func (e *engine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	whole, err := e.downstream.NewRangeQuery(ctx, q, opts, qs, start, end, step)
	if err != nil {
		return nil, err
	}
	return &query{Query: whole, e: e, q: q, opts: opts, qs: qs, start: start, end: end, step: step}, nil
}

// query runs sharded when it shards, else as the whole query it embeds
// (which was created first, so that a query that does not parse fails
// where Prometheus' fails: at creation).
type query struct {
	promql.Query
	e          *engine
	q          storage.Queryable
	opts       promql.QueryOpts
	qs         string
	start, end time.Time
	step       time.Duration
}

func (q *query) Exec(ctx context.Context) *promql.Result {
	v, annos, sharded, err := q.e.s.Exec(ctx, q.qs, q.start, q.end, q.step, q.e.shards, q.run)
	if !sharded {
		return q.Query.Exec(ctx)
	}
	return &promql.Result{Value: v, Warnings: annos, Err: err}
}

// run evaluates a sub-query downstream. The query is not closed: its
// value lives on in the outer evaluation.
func (q *query) run(ctx context.Context, sub string) (parser.Value, annotations.Annotations, error) {
	var (
		qry promql.Query
		err error
	)
	if q.step == 0 {
		qry, err = q.e.downstream.NewInstantQuery(ctx, q.q, q.opts, sub, q.start)
	} else {
		qry, err = q.e.downstream.NewRangeQuery(ctx, q.q, q.opts, sub, q.start, q.end, q.step)
	}
	if err != nil {
		return nil, nil, err
	}
	res := qry.Exec(ctx)
	return res.Value, res.Warnings, res.Err
}
