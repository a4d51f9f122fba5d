package querier

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// apiResponse is Prometheus' API envelope.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// get serves one GET of the query API as tenant id ("" sends no tenant).
func get(t *testing.T, h http.Handler, id, path string, params url.Values) (int, apiResponse) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, Prefix+path+"?"+params.Encode(), nil)
	if id != "" {
		req.Header.Set(tenant.Header, id)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp apiResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp), rec.Body.String())
	return rec.Code, resp
}

func newTestQuerier(t *testing.T, r wire.Reader) http.Handler {
	t.Helper()
	q, err := New(testConfig(t), r, testOverrides(t, nil), tenant.Resolver{MultiTenancy: true}, Version{Version: "test"}, nil, nil)
	require.NoError(t, err)
	return q.Handler()
}

type metadataEntry struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

func TestMetadataHandler(t *testing.T) {
	r := &fakeReader{tenant: "a", metadata: []wire.Metadata{
		{MetricFamily: "http_requests_total", Type: "COUNTER", Help: "Requests.", Unit: ""},
		{MetricFamily: "latency_seconds", Type: "histogram", Help: "Latency.", Unit: "seconds"},
		{MetricFamily: "temperature", Type: "gauge"},
	}}
	h := newTestQuerier(t, r)
	f := func(id string, params url.Values, want map[string][]metadataEntry) {
		t.Helper()
		code, resp := get(t, h, id, "/metadata", params)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "success", resp.Status)
		var got map[string][]metadataEntry
		require.NoError(t, json.Unmarshal(resp.Data, &got))
		require.Equal(t, want, got)
	}
	all := map[string][]metadataEntry{
		"http_requests_total": {{Type: "counter", Help: "Requests."}},
		"latency_seconds":     {{Type: "histogram", Help: "Latency.", Unit: "seconds"}},
		"temperature":         {{Type: "gauge"}},
	}
	f("a", nil, all)
	f("a", url.Values{"metric": {"latency_seconds"}}, map[string][]metadataEntry{"latency_seconds": all["latency_seconds"]})
	f("a", url.Values{"metric": {"nope"}}, map[string][]metadataEntry{})
	f("a", url.Values{"limit": {"2"}}, map[string][]metadataEntry{"http_requests_total": all["http_requests_total"], "latency_seconds": all["latency_seconds"]})
	f("a", url.Values{"limit": {"0"}}, map[string][]metadataEntry{})
	f("a", url.Values{"limit": {"-1"}}, all)
	f("b", nil, map[string][]metadataEntry{})

	code, resp := get(t, h, "a", "/metadata", url.Values{"limit": {"many"}})
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "error", resp.Status)
	require.Equal(t, "bad_data", resp.ErrorType)

	code, resp = get(t, h, "", "/metadata", nil)
	require.Equal(t, http.StatusUnauthorized, code, "no tenant")
	require.Equal(t, "error", resp.Status)
	code, _ = get(t, h, "../x", "/metadata", nil)
	require.Equal(t, http.StatusBadRequest, code, "an invalid tenant")

	r.fail(errors.New("ingesters unreachable"), nil)
	code, resp = get(t, h, "a", "/metadata", nil)
	require.GreaterOrEqual(t, code, 500, "a failure of the reader is the server's")
	require.Equal(t, "error", resp.Status)
	require.Contains(t, resp.Error, "ingesters unreachable")
}

// The query API answers each tenant from its own data only.
func TestQueryAPIServesTheRequestsTenant(t *testing.T) {
	r := newFakeReader(t, "a").add(t, labels.FromStrings(labels.MetricName, "m", "job", "x"), ident, 1000)
	h := newTestQuerier(t, r)
	code, resp := get(t, h, "a", "/query", url.Values{"query": {"m"}, "time": {"2"}})
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"resultType":"vector","result":[{"metric":{"__name__":"m","job":"x"},"value":[2,"1000"]}]}`, string(resp.Data))
	code, resp = get(t, h, "b", "/query", url.Values{"query": {"m"}, "time": {"2"}})
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"resultType":"vector","result":[]}`, string(resp.Data))
	code, resp = get(t, h, "a", "/label/job/values", nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `["x"]`, string(resp.Data))
	code, _ = get(t, h, "", "/query", url.Values{"query": {"m"}})
	require.Equal(t, http.StatusUnauthorized, code)
	code, resp = get(t, h, "a", "/no_such_endpoint", nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "error", resp.Status)
}
