package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/cmd/weft-load/loadgen"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/tenant"
)

// In distributed mode the per-query limits hold over what the ingesters'
// replicas answer through gRPC: a series counts once, however many
// replicas hold it, and chunk bytes count as they arrive.
func TestQueryLimitsOverReplicas(t *testing.T) {
	c := newCluster(t, 3, 3, testLimits(t))
	set := loadgen.NewSeriesSet(300)
	start := time.Now().Add(-10 * time.Minute).UnixMilli()
	for r := range 4 {
		body, err := set.BuildV1Request(0, 300, r, start+int64(r)*15000)
		require.NoError(t, err)
		require.Equal(t, http.StatusNoContent, serve(c.dist, loadgen.ProtocolV1, body), "round %d", r)
	}
	for i, ing := range c.ingesters {
		require.Eventually(t, func() bool { return seriesOn(t, ing, start) == 300 }, 5*time.Second, 10*time.Millisecond,
			"RF=3 on 3 ingesters puts every series on ingester %d", i)
	}

	// One querier per set of limits, over the same ring.
	querierWith := func(reg prometheus.Registerer, set func(*limits.Limits)) http.Handler {
		var qcfg querier.Config
		qcfg.RegisterFlags(flagSet(t))
		l := *testLimits(t).Defaults()
		set(&l)
		q, err := querier.New(qcfg, c.reader, limits.NewOverrides(l, nil), tenant.Resolver{MultiTenancy: true}, querier.Version{}, reg, nil)
		require.NoError(t, err)
		return q.Handler()
	}
	count := func(h http.Handler) (int, map[string]any) {
		params := url.Values{"query": {`count({__name__=~".+"})`}, "time": {fmt.Sprint(start/1000 + 60)}}
		req := httptest.NewRequest(http.MethodGet, querier.Prefix+"/query?"+params.Encode(), nil)
		req.Header.Set(tenant.Header, "bench")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var ans map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ans), w.Body.String())
		return w.Code, ans
	}

	reg := prometheus.NewRegistry()
	code, ans := count(querierWith(reg, func(l *limits.Limits) { l.MaxFetchedSeriesPerQuery = 300 }))
	require.Equal(t, http.StatusOK, code, "300 series on 3 replicas count 300: %v", ans)
	require.Contains(t, fmt.Sprint(ans["data"]), "300")
	require.Equal(t, 300.0, counterValue(t, reg, "weft_querier_fetched_series_total"))
	require.Positive(t, counterValue(t, reg, "weft_querier_fetched_chunk_bytes_total"))

	code, ans = count(querierWith(nil, func(l *limits.Limits) { l.MaxFetchedSeriesPerQuery = 299 }))
	require.Equal(t, http.StatusUnprocessableEntity, code, ans)
	require.Equal(t, "execution", ans["errorType"])
	require.Contains(t, ans["error"], "err-weft-max-fetched-series-per-query")

	code, ans = count(querierWith(nil, func(l *limits.Limits) { l.MaxFetchedChunkBytesPerQuery = 1000 }))
	require.Equal(t, http.StatusUnprocessableEntity, code, ans)
	require.Equal(t, "execution", ans["errorType"])
	require.Contains(t, ans["error"], "err-weft-max-fetched-chunk-bytes-per-query")
}

// counterValue returns the value of the one counter name of reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no single %s", name)
	return 0
}
