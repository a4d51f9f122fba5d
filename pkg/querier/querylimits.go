package querier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/wire"
)

// trackedQuery runs a query under its tenant's per-query limits: the
// series and chunk bytes it may fetch (counted in a wire.FetchStats in its
// context) and its timeout. It then records what the query fetched in the
// per-tenant counters and, when slow, in the query log.
type trackedQuery struct {
	promql.Query
	obs        *queryObserver
	tenant     string
	lim        *limits.Limits
	maxTimeout time.Duration // -querier.timeout
	built      time.Time     // when the query was built, which its timeout counts from
	qs         string
	start, end time.Time
	step       time.Duration // 0 for an instant query
}

// errTenantTimeout is the cause of the deadline trackedQuery sets.
var errTenantTimeout = errors.New("the query ran past its timeout")

func (q *trackedQuery) Exec(ctx context.Context) *promql.Result {
	fetch := wire.NewFetchStats(int64(q.lim.MaxFetchedSeriesPerQuery), int64(q.lim.MaxFetchedChunkBytesPerQuery))
	ctx = wire.WithFetchStats(ctx, fetch)
	timeout := q.timeout()
	// The deadline counts from before the engine built the query, as the
	// engine's own (-querier.timeout) does, so that it fires first and is
	// told apart from the client's.
	deadline := q.built.Add(timeout)
	ctx, cancel := context.WithDeadlineCause(ctx, deadline, errTenantTimeout)
	defer cancel()

	began := time.Now()
	res := q.Query.Exec(ctx)
	took := time.Since(began)
	if res.Err != nil {
		var engineTimeout promql.ErrQueryTimeout
		switch {
		case fetch.Err() != nil:
			// A store fails the read that passed a limit, and whoever
			// reads it (the TSDB, the replica fan-out) may wrap or
			// replace that error: the query answers with the limit.
			res.Err = fetch.Err()
		case errors.Is(context.Cause(ctx), errTenantTimeout) || !time.Now().Before(deadline):
			// A deadline that passed during a read may come out of a
			// store as any error (the replica fan-out's is a storage
			// error, 500): it is a timeout (503), as the engine's own is.
			// The clock tells, since a remote store's timer can fire
			// before ours under load.
			res.Err = &queryTimeoutError{timeout: timeout, tenantLimit: q.lim.QueryTimeout > 0 && time.Duration(q.lim.QueryTimeout) < q.maxTimeout}
		case deadlinePassed(ctx) && !errors.As(res.Err, &engineTimeout):
			// The client's deadline (the timeout parameter), by the
			// clock too: a remote store's timer can fire before ours.
			res.Err = &queryTimeoutError{cause: res.Err}
		}
	}
	q.obs.observe(q, fetch, res.Err, took)
	return res
}

// deadlinePassed tells whether ctx's deadline has passed, whether or not
// its timer has fired yet.
func deadlinePassed(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// timeout is the tenant's query timeout, at most -querier.timeout.
func (q *trackedQuery) timeout() time.Duration {
	if t := time.Duration(q.lim.QueryTimeout); t > 0 && t < q.maxTimeout {
		return t
	}
	return q.maxTimeout
}

// samples returns the samples the query's evaluation read, as stats=all
// reports them (totalQueryableSamples).
func (q *trackedQuery) samples() int64 {
	if s := q.Stats(); s != nil && s.Samples != nil {
		return s.Samples.TotalSamples
	}
	return 0
}

// queryTimeoutError is a query that ran past its timeout. It is a
// promql.ErrQueryTimeout too, which the query API answers 503 (timeout),
// as Prometheus does.
type queryTimeoutError struct {
	timeout     time.Duration
	tenantLimit bool  // the tenant's query_timeout, not -querier.timeout
	cause       error // set when the deadline was the client's (the timeout parameter)
}

func (e *queryTimeoutError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("the query timed out: %v", e.cause)
	}
	d := model.Duration(e.timeout)
	if e.tenantLimit {
		return fmt.Sprintf("the query timed out after %s, the tenant's limit: narrow it, or raise query_timeout / -querier.query-timeout (up to -querier.timeout) (err-weft-query-timeout)", d)
	}
	return fmt.Sprintf("the query timed out after %s: narrow it, or raise -querier.timeout (err-weft-query-timeout)", d)
}

// Unwrap returns the engine's timeout error.
func (e *queryTimeoutError) Unwrap() error { return promql.ErrQueryTimeout("query execution") }

// checkQueryLength refuses a query whose range, or any range selector or
// subquery of it, spans more than the tenant's max_query_length: a range
// query's own range (end - start), and, for instant and range queries, the
// longest window that one evaluation step reads (a range selector's range
// plus the ranges of the subqueries around it). Offsets move a window
// without widening it, and a plain selector's lookback is not counted.
func checkQueryLength(lim *limits.Limits, qry promql.Query, start, end time.Time) error {
	l := time.Duration(lim.MaxQueryLength)
	if l <= 0 {
		return nil
	}
	if d := end.Sub(start); d > l {
		return fmt.Errorf("the query time range of %s exceeds the limit of %s (raise max_query_length / -querier.max-query-length) (err-weft-max-query-length)", d, l)
	}
	stmt, ok := qry.Statement().(*parser.EvalStmt)
	if !ok {
		return nil
	}
	var (
		longest time.Duration
		where   parser.Node
	)
	parser.Inspect(stmt.Expr, func(node parser.Node, path []parser.Node) error {
		var d time.Duration
		switch n := node.(type) {
		case *parser.MatrixSelector:
			d = n.Range
		case *parser.VectorSelector:
		default:
			return nil
		}
		for _, p := range path {
			if sq, ok := p.(*parser.SubqueryExpr); ok {
				d += sq.Range
			}
		}
		if d > longest {
			longest, where = d, node
		}
		return nil
	})
	if longest > l {
		return fmt.Errorf("%s of the query reads %s at once, over the limit of %s (raise max_query_length / -querier.max-query-length) (err-weft-max-query-length)", outermost(stmt.Expr, where), model.Duration(longest), model.Duration(l))
	}
	return nil
}

// outermost returns the text of the widest part of expr that reads the
// window of selector: its outermost subquery, or the selector.
func outermost(expr parser.Expr, selector parser.Node) string {
	out := selector.String()
	parser.Inspect(expr, func(node parser.Node, path []parser.Node) error {
		if node != selector {
			return nil
		}
		for _, p := range path {
			if sq, ok := p.(*parser.SubqueryExpr); ok {
				out = sq.String()
				break
			}
		}
		return errors.New("found") // stop
	})
	return out
}

// countingSeriesSet counts the series a select yields in the query's
// fetch stats and stops at the limit.
type countingSeriesSet struct {
	storage.SeriesSet
	fetch *wire.FetchStats
	err   error
}

func (s *countingSeriesSet) Next() bool {
	if s.err != nil || !s.SeriesSet.Next() {
		return false
	}
	if err := s.fetch.AddSeries(1); err != nil {
		s.err = err
		return false
	}
	return true
}

// Err answers the limit error in place of what a store made of it.
func (s *countingSeriesSet) Err() error {
	if s.err != nil {
		return s.err
	}
	err := s.SeriesSet.Err()
	if err != nil {
		if lim := s.fetch.Err(); lim != nil {
			return lim
		}
	}
	return asStorageError(err)
}
