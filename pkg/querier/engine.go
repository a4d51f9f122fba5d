package querier

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// tenantEngine applies the tenant's query limits to each query and then
// runs it on the shared Prometheus engine. The samples limit is counted
// as the engine reads storage (withBudget) and the series and chunk bytes
// limits by the stores (trackedQuery), not by the engine's query-cost
// accounting, which checks the context per sample. That accounting being
// off, the engine ignores the limits of
// promql.NewPrometheusQueryOptsWithLimits, the maximum query duration
// among them: a tenant's own timeout has to be a deadline on the context
// the query runs under.
type tenantEngine struct {
	eng    *promql.Engine
	limits *limits.Overrides
	// timeout is -querier.timeout, the ceiling of the tenants' timeouts;
	// obs records what each query fetched (querylog.go).
	timeout time.Duration
	obs     *queryObserver
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
	built := time.Now()
	qry, err := e.eng.NewInstantQuery(ctx, withBudget(q, lim.MaxSamplesPerQuery), o, qs, ts)
	if err != nil {
		return nil, err
	}
	return e.track(ctx, qry, lim, built, qs, ts, ts, 0)
}

func (e tenantEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, interval time.Duration) (promql.Query, error) {
	o, lim, err := e.optsFor(ctx, opts)
	if err != nil {
		return nil, err
	}
	built := time.Now()
	qry, err := e.eng.NewRangeQuery(ctx, withBudget(q, lim.MaxSamplesPerQuery), o, qs, start, end, interval)
	if err != nil {
		return nil, err
	}
	return e.track(ctx, qry, lim, built, qs, start, end, interval)
}

// track checks the query's time ranges against the tenant's
// max_query_length and wraps it to run under the tenant's other limits.
func (e tenantEngine) track(ctx context.Context, qry promql.Query, lim *limits.Limits, built time.Time, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	if err := checkQueryLength(lim, qry, start, end); err != nil {
		qry.Close()
		return nil, err
	}
	id, _ := tenant.From(ctx) // optsFor checked it
	return &trackedQuery{Query: qry, obs: e.obs, tenant: id, lim: lim, maxTimeout: e.timeout, built: built, qs: qs, start: start, end: end, step: step}, nil
}
