package frontend

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// The frontend's answers to range queries, split into parts, merged and
// then served from the cache, equal the querier's own answers exactly:
// floats, native histograms, series order, @ start()/end(), and grids
// whose points are not multiples of the step (Prometheus evaluates at
// start + k*step, and so does the frontend).
func TestRangeQueriesEqualTheQuerier(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	rec := &recorder{h: q}
	cfg := testConfig(t, func(c *Config) { c.SplitInterval = 6 * time.Hour })
	f, reg := newFrontend(t, cfg, rec, lim, base.Add(100*time.Hour))

	queries := []string{
		`x_total`,
		`rate(x_total[5m])`,
		`sum by (instance) (rate(x_total[5m]))`,
		`x_total / 3`,
		`h`,
		`histogram_quantile(0.9, rate(h[5m]))`,
		`x_total @ start()`,
		`max_over_time(x_total[1h] @ end())`,
		`sum(rate(h[10m]))`,
	}
	ranges := []struct{ start, end, step time.Duration }{
		{1 * time.Hour, 30 * time.Hour, 5 * time.Minute},                          // 6 parts
		{5*time.Hour + 50*time.Minute, 6*time.Hour + 10*time.Minute, time.Minute}, // across one boundary
		{0, 71 * time.Hour, 7 * time.Minute},                                      // a step that does not divide the interval
		{13 * time.Second, 30*time.Hour + 7*time.Second, 5 * time.Minute},         // a grid off the multiples of the step
		{2 * time.Hour, 2 * time.Hour, time.Minute},                               // one point
	}
	for _, qs := range queries {
		for _, r := range ranges {
			params := rangeParams(qs, r.start, r.end, r.step)
			want := do(t, q, "t", http.MethodGet, "/query_range", params, nil)
			require.Equal(t, http.StatusOK, want.code, string(want.body))
			wantM := want.matrix(t)
			if !strings.Contains(qs, "@") { // @ start() may fall before the data
				require.NotEmpty(t, wantM, qs)
			}
			for round := range 2 { // computed, then from the cache
				got := do(t, f, "t", http.MethodGet, "/query_range", params, nil)
				require.Equal(t, http.StatusOK, got.code, string(got.body))
				require.Equal(t, wantM, got.matrix(t), "%s %v round %d", qs, r, round)
				if round == 1 {
					require.Empty(t, rec.take(), "the second query is served from the cache")
				} else {
					rec.take()
				}
			}
			// POST gives the same.
			got := do(t, f, "t", http.MethodPost, "/query_range", params, nil)
			require.Equal(t, wantM, got.matrix(t))
		}
	}
	require.Positive(t, testutil.ToFloat64(f.m.cacheHits))
	require.Contains(t, metricNames(t, reg), "weft_query_frontend_split_parts_total")
}

// Splitting: parts hold the grid points of one interval each, start and
// end on the grid, and cover the query's points once.
func TestSplitQuery(t *testing.T) {
	f := func(start, end, step, interval int64, want []part) {
		t.Helper()
		require.Equal(t, want, splitQuery(&rangeQuery{start: start, end: end, step: step}, interval))
	}
	f(0, 100, 10, 0, []part{{0, 100, 0}})
	f(0, 100, 10, 50, []part{{0, 40, 0}, {50, 90, 1}, {100, 100, 2}})
	f(30, 100, 30, 50, []part{{30, 30, 0}, {60, 90, 1}})
	f(0, 90, 30, 20, []part{{0, 0, 0}, {30, 30, 1}, {60, 60, 3}, {90, 90, 4}})
	f(-40, 10, 10, 25, []part{{-40, -30, -2}, {-20, -10, -1}, {0, 10, 0}})
	f(5, 100, 10, 50, []part{{5, 45, 0}, {55, 95, 1}})
}

func metricNames(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var out []string
	for _, mf := range mfs {
		out = append(out, mf.GetName())
	}
	return out
}

// start(), end() and range() give the query's own start and end: a query
// that calls them is answered whole by the querier, not from parts, from
// the cached extents of a query over another range, or with its end moved
// to the grid.
func TestQueriesOfTheirRangeRunWhole(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim, "-querier.promql-experimental-features")
	rec := &recorder{h: q}
	cfg := testConfig(t, func(c *Config) { c.SplitInterval = 6 * time.Hour })
	f, _ := newFrontend(t, cfg, rec, lim, base.Add(100*time.Hour))
	for _, qs := range []string{`end()`, `start()`, `vector(end() - start()) + on() group_left y`, `x_total offset 1m * range()`} {
		// Overlapping ranges with the same grid, across split intervals,
		// the second ending off the grid.
		for _, r := range []struct{ start, end time.Duration }{{1 * time.Hour, 10 * time.Hour}, {5 * time.Hour, 20*time.Hour + 7*time.Second}} {
			params := rangeParams(qs, r.start, r.end, 5*time.Minute)
			want := do(t, q, "t", http.MethodGet, "/query_range", params, nil)
			require.Equal(t, http.StatusOK, want.code, string(want.body))
			wantM := want.matrix(t)
			require.NotEmpty(t, wantM, qs)
			got := do(t, f, "t", http.MethodGet, "/query_range", params, nil)
			require.Equal(t, http.StatusOK, got.code, string(got.body))
			require.Equal(t, wantM, got.matrix(t), "%s %v", qs, r)
		}
	}
}
