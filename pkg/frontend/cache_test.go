package frontend

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/internal/memcachedtest"
	"github.com/weft-io/weft/pkg/limits"
)

func ms(d time.Duration) int64 { return base.Add(d).UnixMilli() }

// A dashboard moving forward: each refresh asks the downstream only for
// the points its cached extents lack, and the answers stay the querier's.
func TestExtentsComputeOnlyTheNewPart(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	rec := &recorder{h: q}
	f, _ := newFrontend(t, testConfig(t, nil), rec, lim, base.Add(48*time.Hour))
	const qs = `sum by (job) (rate(x_total[5m]))`

	check := func(start, end time.Duration, want ...recorded) {
		t.Helper()
		params := rangeParams(qs, start, end, time.Minute)
		got := do(t, f, "t", http.MethodGet, "/query_range", params, nil)
		require.Equal(t, http.StatusOK, got.code, string(got.body))
		require.Equal(t, do(t, q, "t", http.MethodGet, "/query_range", params, nil).matrix(t), got.matrix(t))
		require.Equal(t, want, rec.take())
	}
	r := func(start, end time.Duration) recorded { return recorded{qs, ms(start), ms(end), 60_000} }
	check(40*time.Hour, 46*time.Hour, r(40*time.Hour, 46*time.Hour))
	// Three steps later: only the three new points.
	check(40*time.Hour+3*time.Minute, 46*time.Hour+3*time.Minute, r(46*time.Hour+time.Minute, 46*time.Hour+3*time.Minute))
	// A range inside what is cached: nothing.
	check(41*time.Hour, 45*time.Hour)
	// Earlier and later at once: the two missing ends.
	check(39*time.Hour, 46*time.Hour+5*time.Minute, r(39*time.Hour, 40*time.Hour-time.Minute), r(46*time.Hour+4*time.Minute, 46*time.Hour+5*time.Minute))
	// Across the day boundary: the earlier day is another part.
	check(23*time.Hour, 40*time.Hour, r(23*time.Hour, 24*time.Hour-time.Minute), r(24*time.Hour, 39*time.Hour-time.Minute))
	check(23*time.Hour, 46*time.Hour)
	// Another grid (13s past the minute) shares nothing with this one,
	// and has extents of its own.
	off := 13 * time.Second
	check(40*time.Hour+off, 46*time.Hour+off, r(40*time.Hour+off, 46*time.Hour+off))
	check(40*time.Hour+3*time.Minute+off, 46*time.Hour+3*time.Minute+off, r(46*time.Hour+time.Minute+off, 46*time.Hour+3*time.Minute+off))
	// An end between two points: the grid ends at the point before it.
	check(40*time.Hour+off, 46*time.Hour+5*time.Minute, r(46*time.Hour+4*time.Minute+off, 46*time.Hour+4*time.Minute+off))
}

// Points newer than max_cache_freshness, or inside the out-of-order
// window, are computed again every time.
func TestFreshPointsAreNotCached(t *testing.T) {
	db := openTSDB(t)
	for _, tc := range []struct {
		name  string
		edit  func(*limits.Limits)
		fresh time.Duration
	}{
		{"freshness", nil, 10 * time.Minute},
		{"out-of-order window", func(l *limits.Limits) { l.OutOfOrderTimeWindow = model.Duration(30 * time.Minute) }, 30 * time.Minute},
		{"longer freshness", func(l *limits.Limits) { l.MaxCacheFreshness = model.Duration(time.Hour) }, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := testLimits(t, tc.edit)
			rec := &recorder{h: newQuerier(t, db, lim)}
			now := 47 * time.Hour
			f, _ := newFrontend(t, testConfig(t, nil), rec, lim, base.Add(now))
			params := rangeParams(`x_total`, 45*time.Hour, now, time.Minute)
			for range 3 {
				do(t, f, "t", http.MethodGet, "/query_range", params, nil)
			}
			got := rec.take()
			require.Len(t, got, 3)
			require.Equal(t, recorded{`x_total`, ms(45 * time.Hour), ms(now), 60_000}, got[0])
			for _, g := range got[1:] {
				require.Equal(t, recorded{`x_total`, ms(now - tc.fresh + time.Minute), ms(now), 60_000}, g)
			}
		})
	}
}

// What must not be cached is computed every time: a request with
// Cache-Control: no-store, a tenant with the cache off, answers with
// warnings or infos, and queries reading after their points.
func TestUncacheableAnswers(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	f := func(name, tenantID, qs string, header http.Header, lim *limits.Overrides) {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{h: q}
			fe, _ := newFrontend(t, testConfig(t, nil), rec, lim, base.Add(72*time.Hour))
			params := rangeParams(qs, 10*time.Hour, 20*time.Hour, time.Minute)
			want := do(t, q, tenantID, http.MethodGet, "/query_range", params, nil)
			for range 2 {
				got := do(t, fe, tenantID, http.MethodGet, "/query_range", params, header)
				require.Equal(t, http.StatusOK, got.code)
				require.Equal(t, want.matrix(t), got.matrix(t))
				require.Equal(t, want.resp.Infos, got.resp.Infos)
			}
			require.Len(t, rec.take(), 2)
			// Nothing was stored either.
			do(t, fe, tenantID, http.MethodGet, "/query_range", rangeParams(`x_total`, 10*time.Hour, 20*time.Hour, time.Minute), nil)
			require.Len(t, rec.take(), 1)
		})
	}
	f("no-store", "t", `x_total`, http.Header{"Cache-Control": {"max-age=0, no-store"}}, lim)
	f("cache disabled", "t", `x_total`, nil, testLimits(t, func(l *limits.Limits) { l.ResultsCacheEnabled = false }))
	f("infos", "t", `rate(y[5m])`, nil, lim) // y does not end in _total: an info
	f("negative offset", "t", `x_total offset -1h`, nil, lim)
	f("@ in the future", "t", `x_total @ 9999999999`, nil, lim)
	// The info reaches the client.
	fe, _ := newFrontend(t, testConfig(t, nil), q, lim, base.Add(72*time.Hour))
	got := do(t, fe, "t", http.MethodGet, "/query_range", rangeParams(`rate(y[5m])`, 10*time.Hour, 40*time.Hour, time.Minute), nil)
	require.Len(t, got.resp.Infos, 1)
	require.Contains(t, got.resp.Infos[0], "might not be a counter")
}

// A series deletion through the frontend, and a change of the
// generation source, make the tenant's cached results unreachable; a
// source that fails turns the cache off rather than serve stale answers.
func TestDeletionInvalidatesTheTenantsCache(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	mux := http.NewServeMux()
	mux.Handle(apiPrefix+"/", newQuerier(t, db, lim))
	mux.HandleFunc(apiPrefix+"/admin/tsdb/delete_series", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	rec := &recorder{h: mux}
	token, srcErr := "a", error(nil)
	now := base.Add(72 * time.Hour)
	fe, _ := newFrontend(t, testConfig(t, nil), rec, lim, now, WithGenerationSource(func(_ context.Context, tenantID string) (string, error) {
		require.Equal(t, "t", tenantID)
		return token, srcErr
	}))
	params := rangeParams(`x_total`, 10*time.Hour, 20*time.Hour, time.Minute)
	query := func(want int) {
		t.Helper()
		got := do(t, fe, "t", http.MethodGet, "/query_range", params, nil)
		require.Equal(t, http.StatusOK, got.code)
		require.Len(t, rec.take(), want)
	}
	query(1)
	query(0)
	// Another tenant's deletion changes nothing for t.
	req := do(t, fe, "other", http.MethodPost, "/admin/tsdb/delete_series", map[string][]string{"match[]": {"x_total"}}, nil)
	require.Equal(t, http.StatusNoContent, req.code)
	query(0)
	req = do(t, fe, "t", http.MethodPost, "/admin/tsdb/delete_series", map[string][]string{"match[]": {"x_total"}}, nil)
	require.Equal(t, http.StatusNoContent, req.code)
	query(1)
	query(0)
	// The source changes: seen after the refresh period.
	token = "b"
	query(0)
	fe.now = func() time.Time { return now.Add(2 * time.Minute) }
	query(1)
	query(0)
	srcErr = errors.New("bucket down")
	fe.now = func() time.Time { return now.Add(4 * time.Minute) }
	query(1)
	query(1)
	require.Equal(t, float64(2), testutil.ToFloat64(fe.m.cacheErrors))
}

// With memcached, results computed by one frontend are served by
// another, and the in-process cache is bounded.
func TestMemcachedResultsCache(t *testing.T) {
	mc := memcachedtest.Start(t)
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	cfg := testConfig(t, func(c *Config) {
		c.ResultsCache.Backend = CacheMemcached
		c.ResultsCache.Memcached.Addresses = []string{mc.Addr}
		c.ResultsCache.Memcached.Timeout = 2 * time.Second
	})
	rec1, rec2 := &recorder{h: q}, &recorder{h: q}
	f1, _ := newFrontend(t, cfg, rec1, lim, base.Add(72*time.Hour))
	f2, _ := newFrontend(t, cfg, rec2, lim, base.Add(72*time.Hour))
	params := rangeParams(`sum(x_total)`, 10*time.Hour, 40*time.Hour, time.Minute)
	want := do(t, f1, "t", http.MethodGet, "/query_range", params, nil)
	require.Len(t, rec1.take(), 2) // two days
	// The writes are asynchronous.
	require.Eventually(t, func() bool {
		got := do(t, f2, "t", http.MethodGet, "/query_range", params, nil)
		require.Equal(t, want.matrix(t), got.matrix(t))
		return len(rec2.take()) == 0
	}, 10*time.Second, 50*time.Millisecond)
	require.Positive(t, testutil.ToFloat64(f2.m.cacheHits))
	// Another tenant shares nothing.
	do(t, f2, "u", http.MethodGet, "/query_range", params, nil)
	require.Len(t, rec2.take(), 2)
}
