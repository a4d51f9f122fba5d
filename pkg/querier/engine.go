package querier

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// tenantEngine applies the tenant's query limits to each query and then
// runs it on the shared Prometheus engine. The limits on series and
// samples are counted as the engine reads storage (withBudget), not by the
// engine's query-cost accounting, which checks the context per sample.
// That accounting being off, the engine ignores the limits of
// promql.NewPrometheusQueryOptsWithLimits, the maximum query duration
// among them: a tenant's own timeout has to be a deadline on the context
// the query runs under.
type tenantEngine struct {
	eng    *promql.Engine
	limits *limits.Overrides
}

func (e tenantEngine) optsFor(ctx context.Context, opts promql.QueryOpts) (promql.QueryOpts, *limits.Limits, error) {
	id, err := tenant.From(ctx)
	if err != nil {
		return nil, nil, err
	}
	lim := e.limits.For(id)
	var (
		perStep  bool
		lookback time.Duration
		useST    *bool
	)
	if opts != nil {
		perStep, lookback, useST = opts.EnablePerStepStats(), opts.LookbackDelta(), opts.UseStartTimestamps()
	}
	return promql.NewPrometheusQueryOpts(perStep, lookback, useST), lim, nil
}

func (e tenantEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	o, lim, err := e.optsFor(ctx, opts)
	if err != nil {
		return nil, err
	}
	return e.eng.NewInstantQuery(ctx, withBudget(q, lim.MaxFetchedSeriesPerQuery, lim.MaxSamplesPerQuery), o, qs, ts)
}

func (e tenantEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, interval time.Duration) (promql.Query, error) {
	o, lim, err := e.optsFor(ctx, opts)
	if err != nil {
		return nil, err
	}
	if l := time.Duration(lim.MaxQueryLength); l > 0 && end.Sub(start) > l {
		return nil, fmt.Errorf("the query time range of %s exceeds the limit of %s (raise max_query_length / -querier.max-query-length) (err-weft-max-query-length)", end.Sub(start), l)
	}
	return e.eng.NewRangeQuery(ctx, withBudget(q, lim.MaxFetchedSeriesPerQuery, lim.MaxSamplesPerQuery), o, qs, start, end, interval)
}
