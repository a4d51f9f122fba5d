package querier

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// BenchmarkEngineRangeQuery runs a dashboard query (an hour at a 60s step
// over 2,000 counters of 241 samples) on the same TSDB four ways:
//   - prometheus: Prometheus' engine as its server sets it up, on the TSDB;
//   - query-cost: the same with the query-cost accounting that weft used to
//     enforce its limits (a context check per sample);
//   - weft: NewEngine and NewQueryable with the default limits (samples
//     counted as the engine reads them);
//   - weft-no-limits: the same with both limits off.
func BenchmarkEngineRangeQuery(b *testing.B) {
	const (
		series  = 2000
		samples = 241
		step    = 15 * 1000
	)
	r := newFakeReader(b, "t")
	app := r.db.Appender(context.Background())
	for i := range series {
		ls := labels.FromStrings(labels.MetricName, "m", "job", fmt.Sprint("job-", i%5), "instance", fmt.Sprint("i-", i))
		for j := range samples {
			_, err := app.Append(0, ls, int64(j*step), float64(j*i))
			require.NoError(b, err)
		}
	}
	require.NoError(b, app.Commit())
	const qs = `sum by (job) (rate(m[5m]))`
	start, end := time.UnixMilli(0), time.UnixMilli((samples-1)*step)
	ctx := tenant.With(context.Background(), "t")
	// The machine may be shared: the CPU time the process spent per query
	// (cpu-ns/op) tells the ways apart better than the time it took.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	run := func(b *testing.B, eng promql.QueryEngine, q storage.Queryable, opts promql.QueryOpts) {
		b.ReportAllocs()
		c0 := cpu()
		defer func() { b.ReportMetric(float64(cpu()-c0)/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			qry, err := eng.NewRangeQuery(ctx, q, opts, qs, start, end, time.Minute)
			require.NoError(b, err)
			res := qry.Exec(ctx)
			require.NoError(b, res.Err)
			require.Len(b, res.Value.(promql.Matrix), 5)
			qry.Close()
		}
	}
	promOpts := func(cost bool) promql.EngineOpts {
		return promql.EngineOpts{MaxSamples: 50000000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, EnableAtModifier: true, EnableNegativeOffset: true, EnableQueryCost: cost}
	}
	b.Run("prometheus", func(b *testing.B) {
		run(b, promql.NewEngine(promOpts(false)), r.db, nil)
	})
	b.Run("query-cost", func(b *testing.B) {
		run(b, promql.NewEngine(promOpts(true)), r.db, promql.NewPrometheusQueryOptsWithLimits(false, 0, 0, 50000000, 0, nil))
	})
	b.Run("weft", func(b *testing.B) {
		lim := testOverrides(b, nil)
		run(b, NewEngine(testConfig(b), lim, nil, nil), NewQueryable(r, lim), nil)
	})
	b.Run("weft-no-limits", func(b *testing.B) {
		lim := testOverrides(b, map[string]func(*limits.Limits){"t": func(l *limits.Limits) { l.MaxSamplesPerQuery = 0 }})
		run(b, NewEngine(testConfig(b), lim, nil, nil), NewQueryable(r, lim), nil)
	})
}
