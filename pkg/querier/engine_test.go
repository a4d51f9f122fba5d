package querier

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// sameForEveryTenant is a reader that serves one fake's data to every
// tenant, so that limits are the only difference between tenants.
type sameForEveryTenant struct{ *fakeReader }

func (r sameForEveryTenant) Querier(_ string, mint, maxt int64) (storage.Querier, error) {
	return r.fakeReader.Querier(r.tenant, mint, maxt)
}

func testConfig(t testing.TB, args ...string) Config {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet(t.Name(), flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	return cfg
}

// engineFixture has three series m{i="0".."2"}, each with a sample every
// minute over [0, 2h].
func engineFixture(t *testing.T, tenants map[string]func(*limits.Limits)) (promql.QueryEngine, storage.Queryable) {
	r := newFakeReader(t, "data")
	for i := range 3 {
		r.add(t, labels.FromStrings(labels.MetricName, "m", "i", fmt.Sprint(i)), ident, span(0, 120*minute, minute)...)
	}
	lim := testOverrides(t, tenants)
	return NewEngine(testConfig(t), lim, nil, nil), NewQueryable(sameForEveryTenant{r}, lim)
}

func instant(t *testing.T, eng promql.QueryEngine, q storage.Queryable, id, qs string, ts time.Time, opts promql.QueryOpts) *promql.Result {
	t.Helper()
	ctx := tenant.With(context.Background(), id)
	qry, err := eng.NewInstantQuery(ctx, q, opts, qs, ts)
	require.NoError(t, err)
	defer qry.Close()
	return qry.Exec(ctx)
}

func TestEngineNeedsATenant(t *testing.T) {
	eng, q := engineFixture(t, nil)
	_, err := eng.NewInstantQuery(context.Background(), q, nil, "m", time.UnixMilli(0))
	require.ErrorIs(t, err, tenant.ErrMissing)
	_, err = eng.NewRangeQuery(context.Background(), q, nil, "m", time.UnixMilli(0), time.UnixMilli(minute), time.Minute)
	require.ErrorIs(t, err, tenant.ErrMissing)
}

func TestEngineAppliesEachTenantsSeriesLimit(t *testing.T) {
	eng, q := engineFixture(t, map[string]func(*limits.Limits){
		"small": func(l *limits.Limits) { l.MaxFetchedSeriesPerQuery = 2 },
	})
	at := time.UnixMilli(60 * minute)
	res := instant(t, eng, q, "small", "count(m)", at, nil)
	var tooMany *wire.FetchLimitError
	require.ErrorAs(t, res.Err, &tooMany, "3 series over a limit of 2")
	require.Equal(t, wire.LimitFetchedSeries, tooMany.Limit)
	require.ErrorContains(t, res.Err, "err-weft-max-fetched-series-per-query")
	res = instant(t, eng, q, "small", `count(m{i!="2"})`, at, nil)
	require.NoError(t, res.Err, "2 series are within the limit")
	require.Equal(t, 2.0, res.Value.(promql.Vector)[0].F)
	res = instant(t, eng, q, "big", "count(m)", at, nil)
	require.NoError(t, res.Err, "another tenant has the default: no limit")
	require.Equal(t, 3.0, res.Value.(promql.Vector)[0].F)
	// The series of every selector of a query count, as the engine's own
	// accounting counted them.
	res = instant(t, eng, q, "small", `count(m{i="0"}) + count(m{i="1"})`, at, nil)
	require.NoError(t, res.Err)
	res = instant(t, eng, q, "small", `count(m{i="0"}) + count(m{i="1"}) + count(m{i="2"})`, at, nil)
	require.ErrorAs(t, res.Err, &tooMany, "3 selectors of one series each over a limit of 2")
}

func TestEngineAppliesEachTenantsSampleLimit(t *testing.T) {
	eng, q := engineFixture(t, map[string]func(*limits.Limits){
		"small": func(l *limits.Limits) { l.MaxSamplesPerQuery = 30 },
	})
	at := time.UnixMilli(120 * minute)
	res := instant(t, eng, q, "small", `count_over_time(m{i="0"}[1h])`, at, nil)
	var tooMany promql.ErrTooManySamplesRead
	require.ErrorAs(t, res.Err, &tooMany, "60 samples over a limit of 30")
	res = instant(t, eng, q, "small", `count_over_time(m{i="0"}[20m])`, at, nil)
	require.NoError(t, res.Err)
	require.Equal(t, 20.0, res.Value.(promql.Vector)[0].F)
	res = instant(t, eng, q, "big", `count_over_time(m{i="0"}[1h])`, at, nil)
	require.NoError(t, res.Err)
	require.Equal(t, 60.0, res.Value.(promql.Vector)[0].F)
	// The samples of every series of the query count together: three
	// series of 20 are over 30, as one of 60 is.
	res = instant(t, eng, q, "small", `count(count_over_time(m[20m]))`, at, nil)
	require.ErrorAs(t, res.Err, &tooMany)
}

// A range query reads each series once over all its steps: its samples
// are counted as read, whichever way the engine moves through them.
func TestEngineAppliesTheSampleLimitToRangeQueries(t *testing.T) {
	eng, q := engineFixture(t, map[string]func(*limits.Limits){
		"small": func(l *limits.Limits) { l.MaxSamplesPerQuery = 3 * 60 },
	})
	ctx := tenant.With(context.Background(), "small")
	run := func(qs string, start, end time.Time) error {
		qry, err := eng.NewRangeQuery(ctx, q, nil, qs, start, end, time.Minute)
		require.NoError(t, err)
		defer qry.Close()
		return qry.Exec(ctx).Err
	}
	var tooMany promql.ErrTooManySamplesRead
	// 3 series of 121 samples in [0, 2h]: 363 samples.
	require.ErrorAs(t, run(`sum(rate(m[5m]))`, time.UnixMilli(0), time.UnixMilli(120*minute)), &tooMany)
	require.ErrorAs(t, run(`sum(m)`, time.UnixMilli(0), time.UnixMilli(120*minute)), &tooMany)
	// The last 50 minutes, with the first 5 minutes' lookback: 3 x 56.
	require.NoError(t, run(`sum(rate(m[5m]))`, time.UnixMilli(70*minute), time.UnixMilli(120*minute)))
	require.NoError(t, run(`sum(m)`, time.UnixMilli(70*minute), time.UnixMilli(120*minute)))
}

// The engine must not check the query's context at every sample (its
// query-cost accounting, which Prometheus leaves off by default): the
// metrics that only that accounting registers are absent.
func TestEngineLeavesQueryCostAccountingOff(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	NewEngine(testConfig(t), testOverrides(t, nil), reg, nil)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	require.Contains(t, names, "prometheus_engine_query_samples_read_total", "the engine's metrics are registered")
	require.NotContains(t, names, "prometheus_engine_query_series_touched")
	require.NotContains(t, names, "prometheus_engine_query_rejected_total")
}

func TestEngineAppliesEachTenantsMaxQueryLength(t *testing.T) {
	eng, q := engineFixture(t, map[string]func(*limits.Limits){
		"short": func(l *limits.Limits) { l.MaxQueryLength = model.Duration(time.Hour) },
	})
	ctx := tenant.With(context.Background(), "short")
	start := time.UnixMilli(0)
	_, err := eng.NewRangeQuery(ctx, q, nil, "m", start, start.Add(time.Hour+time.Minute), time.Minute)
	require.ErrorContains(t, err, "err-weft-max-query-length")
	require.ErrorContains(t, err, "1h1m0s exceeds the limit of 1h0m0s")
	qry, err := eng.NewRangeQuery(ctx, q, nil, "m", start, start.Add(time.Hour), time.Minute)
	require.NoError(t, err, "exactly the limit is allowed")
	require.NoError(t, qry.Exec(ctx).Err)
	qry.Close()
	_, err = eng.NewRangeQuery(tenant.With(context.Background(), "long"), q, nil, "m", start, start.Add(2*time.Hour), time.Minute)
	require.NoError(t, err, "another tenant has no limit")
}

// The engine keeps the caller's query options (here the lookback delta)
// while adding the tenant's limits.
func TestEngineKeepsTheQueryOptions(t *testing.T) {
	eng, q := engineFixture(t, nil)
	// The last sample is at 120m; at 124m a 5m lookback finds it, a 3m
	// one does not.
	at := time.UnixMilli(124 * minute)
	res := instant(t, eng, q, "t", "count(m)", at, nil)
	require.NoError(t, res.Err)
	require.Equal(t, 3.0, res.Value.(promql.Vector)[0].F)
	res = instant(t, eng, q, "t", "count(m)", at, promql.NewPrometheusQueryOpts(false, 3*time.Minute, nil))
	require.NoError(t, res.Err)
	require.Empty(t, res.Value.(promql.Vector))
}

var _ wire.Reader = sameForEveryTenant{}
