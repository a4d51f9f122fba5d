package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/tenant"
)

// cardinalityPushes are the series of two tenants: a has 6 series
// (http_requests by method and code, up by job), b has 3.
func cardinalityPushes(now int64) map[string][]prompb.TimeSeries {
	var a []prompb.TimeSeries
	for _, m := range []string{"GET", "POST"} {
		for _, c := range []string{"200", "500"} {
			a = append(a, series(now, 1, "__name__", "http_requests", "code", c, "method", m))
		}
	}
	a = append(a, series(now, 1, "__name__", "up", "job", "x"), series(now, 1, "__name__", "up", "job", "y"))
	var b []prompb.TimeSeries
	for _, p := range []string{"1", "2", "3"} {
		b = append(b, series(now, 1, "__name__", "other", "pod", p))
	}
	return map[string][]prompb.TimeSeries{"a": a, "b": b}
}

// getBody GETs base+path as tenantID and returns the status and body.
func getBody(t *testing.T, base, tenantID, path string, params url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path+"?"+params.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, tenantID)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// requireCardinality checks the cardinality answers at base for the
// series of cardinalityPushes: one copy of each, whatever the replication,
// and nothing of one tenant in the other's.
func requireCardinality(t *testing.T, base string) {
	t.Helper()
	const p = querier.Prefix
	var status struct {
		Data struct {
			HeadStats struct {
				NumSeries, NumLabelPairs, ChunkCount int
			}
			SeriesCountByMetricName []struct {
				Name  string `json:"name"`
				Value int    `json:"value"`
			}
		}
	}
	code, body := getBody(t, base, "a", p+"/status/tsdb", nil)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &status))
	require.Equal(t, 6, status.Data.HeadStats.NumSeries, body)
	require.Equal(t, 6, status.Data.HeadStats.ChunkCount, body)
	require.Equal(t, 8, status.Data.HeadStats.NumLabelPairs, body)
	require.JSONEq(t, `[{"name":"http_requests","value":4},{"name":"up","value":2}]`, mustJSON(t, status.Data.SeriesCountByMetricName))

	code, body = getBody(t, base, "a", p+"/cardinality/label_names", nil)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"label_values_count_total":8,"label_names_count":4,"cardinality":[
		{"label_name":"__name__","label_values_count":2},{"label_name":"code","label_values_count":2},
		{"label_name":"job","label_values_count":2},{"label_name":"method","label_values_count":2}]}`, body)

	code, body = getBody(t, base, "a", p+"/cardinality/label_values", url.Values{"label_names[]": {"code", "__name__"}})
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"series_count_total":6,"labels":[
		{"label_name":"__name__","label_values_count":2,"series_count":6,"cardinality":[{"label_value":"http_requests","series_count":4},{"label_value":"up","series_count":2}]},
		{"label_name":"code","label_values_count":2,"series_count":4,"cardinality":[{"label_value":"200","series_count":2},{"label_value":"500","series_count":2}]}]}`, body)

	code, body = getBody(t, base, "a", p+"/cardinality/label_values", url.Values{"label_names[]": {"method"}, "selector": {`{code="500"}`}})
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"series_count_total":2,"labels":[
		{"label_name":"method","label_values_count":2,"series_count":2,"cardinality":[{"label_value":"GET","series_count":1},{"label_value":"POST","series_count":1}]}]}`, body)

	// Tenant b sees its own series only.
	code, body = getBody(t, base, "b", p+"/cardinality/label_values", url.Values{"label_names[]": {"__name__"}})
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"series_count_total":3,"labels":[
		{"label_name":"__name__","label_values_count":1,"series_count":3,"cardinality":[{"label_value":"other","series_count":3}]}]}`, body)
	code, body = getBody(t, base, "b", p+"/status/tsdb", nil)
	require.Equal(t, http.StatusOK, code, body)
	require.NotContains(t, body, "http_requests")
	code, body = getBody(t, base, "b", p+"/cardinality/label_names", nil)
	require.Equal(t, http.StatusOK, code, body)
	require.NotContains(t, body, `"method"`)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// The all-in-one answers the cardinality API through its query-frontend,
// which passes it to the querier as is.
func TestCardinalityAllInOne(t *testing.T) {
	base := startApp(t)
	for id, ts := range cardinalityPushes(time.Now().UnixMilli()) {
		r := push(t, base, id, ctV1, v1Body(t, ts...))
		require.Equal(t, http.StatusNoContent, r.code, r.body)
	}
	requireCardinality(t, base)

	// A second request is answered again, not from a cache.
	r := push(t, base, "a", ctV1, v1Body(t, series(time.Now().UnixMilli(), 1, "__name__", "up", "job", "z")))
	require.Equal(t, http.StatusNoContent, r.code, r.body)
	code, body := getBody(t, base, "a", querier.Prefix+"/cardinality/label_values", url.Values{"label_names[]": {"job"}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"label_value":"z"`)
}

// Three ingesters with RF=3 over gRPC: every series is on each, and the
// querier counts it once.
func TestCardinalityReplicated(t *testing.T) {
	lim := testLimits(t)
	c := newCluster(t, 3, 3, lim)
	pushes := cardinalityPushes(time.Now().UnixMilli())
	for id, ts := range pushes {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/push", bytes.NewReader(v1Body(t, ts...)))
		req.Header.Set("Content-Type", ctV1)
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set(tenant.Header, id)
		w := httptest.NewRecorder()
		c.dist.ServeHTTP(w, req)
		require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	}
	// The distributor answers at quorum: let the third copies land.
	for i, ing := range c.ingesters {
		require.Eventually(t, func() bool {
			st, err := ing.TSDBStatus(t.Context(), "a", 1)
			return err == nil && st.NumSeries == 6
		}, 5*time.Second, 10*time.Millisecond, "ingester %d", i)
	}
	var qcfg querier.Config
	qcfg.RegisterFlags(flagSet(t))
	q, err := querier.New(qcfg, c.reader, lim, tenant.Resolver{MultiTenancy: true}, querier.Version{}, nil, nil)
	require.NoError(t, err)
	srv := httptest.NewServer(q.Handler())
	t.Cleanup(srv.Close)
	requireCardinality(t, srv.URL)
}
