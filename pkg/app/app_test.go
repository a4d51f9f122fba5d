package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/logutil"
)

// startApp runs a weft with every role on a free loopback port; extra are
// flags on top of the test defaults.
func startApp(t *testing.T, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	base, stop := runApp(t, append([]string{"-bucket.filesystem.dir=" + filepath.Join(dir, "bucket")}, extra...)...)
	t.Cleanup(func() { require.NoError(t, stop()) })
	return base
}

// runApp runs a weft (every role, data in a fresh directory unless args
// give -data.dir) on a free loopback port until stop, and waits until it
// is ready.
func runApp(t *testing.T, args ...string) (base string, stop func() error) {
	t.Helper()
	args = append([]string{"-http.listen-address=127.0.0.1:0", "-data.dir=" + t.TempDir()}, args...)
	cfg, _, err := ParseFlags(args, nil)
	require.NoError(t, err)
	a, err := New(cfg, logutil.Nop())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	base = "http://" + a.Addr()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 10*time.Millisecond, "weft did not become ready")
	return base, stop
}

type pushResult struct {
	code    int
	body    string
	headers http.Header
}

func push(t *testing.T, base, tenantID, contentType string, body []byte) pushResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/push", bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Content-Encoding", "snappy")
	if tenantID != "" {
		req.Header.Set("X-Scope-OrgID", tenantID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pushResult{resp.StatusCode, string(b), resp.Header}
}

func v1Body(t *testing.T, ts ...prompb.TimeSeries) []byte {
	t.Helper()
	b, err := (&prompb.WriteRequest{Timeseries: ts}).Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, b)
}

func series(t int64, v float64, lbls ...string) prompb.TimeSeries {
	var ls []prompb.Label
	for i := 0; i+1 < len(lbls); i += 2 {
		ls = append(ls, prompb.Label{Name: lbls[i], Value: lbls[i+1]})
	}
	return prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Timestamp: t, Value: v}}}
}

const ctV1 = "application/x-protobuf"

// query runs an instant query and returns the API's decoded answer.
func query(t *testing.T, base, tenantID, q string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/prometheus/api/v1/query?query="+url.QueryEscape(q), nil)
	require.NoError(t, err)
	if tenantID != "" {
		req.Header.Set("X-Scope-OrgID", tenantID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// vectorValue returns the single value of an instant vector answer as text,
// or "" when it is empty.
func vectorValue(t *testing.T, ans map[string]any) string {
	t.Helper()
	res := ans["data"].(map[string]any)["result"].([]any)
	if len(res) == 0 {
		return ""
	}
	require.Len(t, res, 1)
	return res[0].(map[string]any)["value"].([]any)[1].(string)
}

func requireAPIError(t *testing.T, r pushResult, code int, errType, contains string) {
	t.Helper()
	require.Equal(t, code, r.code, r.body)
	var e struct{ Status, ErrorType, Error string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &e), r.body)
	require.Equal(t, "error", e.Status)
	require.Equal(t, errType, e.ErrorType)
	require.Contains(t, e.Error, contains)
}

func TestPushAndQueryPerTenant(t *testing.T) {
	base := startApp(t)
	now := time.Now().UnixMilli()
	r := push(t, base, "team-a", ctV1, v1Body(t, series(now, 42, "__name__", "up", "job", "a")))
	require.Equal(t, http.StatusNoContent, r.code, r.body)

	code, ans := query(t, base, "team-a", `up{job="a"}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "42", vectorValue(t, ans))

	code, ans = query(t, base, "team-b", `up`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "", vectorValue(t, ans), "another tenant must see nothing")

	code, ans = query(t, base, "", `up`)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "error", ans["status"])

	// A retried request stores nothing twice and still succeeds.
	r = push(t, base, "team-a", ctV1, v1Body(t, series(now, 42, "__name__", "up", "job", "a")))
	require.Equal(t, http.StatusNoContent, r.code, r.body)
	_, ans = query(t, base, "team-a", `count_over_time(up[1h])`)
	require.Equal(t, "1", vectorValue(t, ans))
}

func TestMultitenancyDisabledIsAnonymous(t *testing.T) {
	base := startApp(t, "-auth.multitenancy-enabled=false")
	r := push(t, base, "", ctV1, v1Body(t, series(time.Now().UnixMilli(), 1, "__name__", "m")))
	require.Equal(t, http.StatusNoContent, r.code, r.body)
	_, ans := query(t, base, "", `m`)
	require.Equal(t, "1", vectorValue(t, ans))
}

func TestPushRejectsBadRequests(t *testing.T) {
	base := startApp(t, "-distributor.max-recv-msg-size=100000", "-validation.past-grace-period=1h")
	now := time.Now().UnixMilli()
	good := series(now, 7, "__name__", "good", "job", "x")

	requireAPIError(t, push(t, base, "", ctV1, v1Body(t, good)), 401, "unauthorized", "X-Scope-OrgID")
	requireAPIError(t, push(t, base, "t/../x", ctV1, v1Body(t, good)), 400, "bad_data", "invalid tenant ID")
	requireAPIError(t, push(t, base, "t", "text/plain", v1Body(t, good)), 415, "bad_data", "unsupported")
	requireAPIError(t, push(t, base, "t", ctV1, []byte("not snappy at all")), 400, "bad_data", "snappy")
	requireAPIError(t, push(t, base, "t", ctV1, snappy.Encode(nil, []byte{0xff, 0xff, 0xff, 0xff})), 400, "bad_data", "protobuf")
	requireAPIError(t, push(t, base, "t", ctV1, bytes.Repeat([]byte{1}, 200000)), 400, "bad_data", "larger than the limit")

	f := func(name string, bad prompb.TimeSeries, want string) {
		t.Run(name, func(t *testing.T) {
			r := push(t, base, "t-"+name, ctV1, v1Body(t, bad, good))
			requireAPIError(t, r, 400, "bad_data", want)
			// The valid series of the same request is stored.
			_, ans := query(t, base, "t-"+name, `good`)
			require.Equal(t, "7", vectorValue(t, ans))
		})
	}
	f("unsorted", series(now, 1, "__name__", "m", "zz", "1", "aa", "2"), `labels are not sorted: "aa" comes after "zz"`)
	f("duplicate", series(now, 1, "__name__", "m", "a", "1", "a", "2"), `label name "a" more than once`)
	f("noname", series(now, 1, "job", "x"), "no metric name")
	f("badname", series(now, 1, "__name__", "m\xff"), "invalid metric name")
	f("badvalue", series(now, 1, "__name__", "m", "a", "\xff"), "not valid UTF-8")
	f("longvalue", series(now, 1, "__name__", "m", "a", strings.Repeat("v", 3000)), "longer than the limit of 2048")
	many := []string{"__name__", "m"}
	for i := 0; i < 40; i++ {
		many = append(many, fmt.Sprintf("l%02d", i), "v")
	}
	f("toomany", series(now, 1, many...), "41 labels, more than the limit of 30")
	f("future", series(now+time.Hour.Milliseconds(), 1, "__name__", "m"), "too far in the future")
	f("old", series(now-2*time.Hour.Milliseconds(), 1, "__name__", "m"), "older than the past grace period")

	// The error names the offending series and a stable ID.
	r := push(t, base, "t", ctV1, v1Body(t, series(now, 1, "__name__", "m", "zz", "1", "aa", "2")))
	requireAPIError(t, r, 400, "bad_data", `series {__name__="m", zz="1", aa="2"}: labels are not sorted`)
	require.Contains(t, r.body, "err-weft-unsorted-labels")

	// Out of order: a sample older than the series' newest.
	require.Equal(t, 204, push(t, base, "ooo", ctV1, v1Body(t, series(now, 1, "__name__", "o"))).code)
	requireAPIError(t, push(t, base, "ooo", ctV1, v1Body(t, series(now-60000, 2, "__name__", "o"))), 400, "bad_data", "out-of-order")
}

func TestPushLegacyNameValidation(t *testing.T) {
	base := startApp(t, "-validation.name-validation-scheme=legacy")
	r := push(t, base, "t", ctV1, v1Body(t, series(time.Now().UnixMilli(), 1, "__name__", "http.requests")))
	requireAPIError(t, r, 400, "bad_data", `invalid metric name "http.requests"`)
	r = push(t, base, "t", ctV1, v1Body(t, series(time.Now().UnixMilli(), 1, "__name__", "m", "la-bel", "x")))
	requireAPIError(t, r, 400, "bad_data", `invalid label name "la-bel"`)
}

func TestPushLimitsPerTenant(t *testing.T) {
	rc := filepath.Join(t.TempDir(), "runtime.yaml")
	require.NoError(t, os.WriteFile(rc, []byte(`
overrides:
  slow:
    ingestion_rate: 10
    ingestion_burst_size: 20
  small:
    max_series_per_tenant: 3
`), 0o644))
	base := startApp(t, "-runtime-config.file="+rc)
	now := time.Now().UnixMilli()

	var batch []prompb.TimeSeries
	for i := 0; i < 15; i++ {
		batch = append(batch, series(now, float64(i), "__name__", "r", "i", fmt.Sprint(i)))
	}
	require.Equal(t, 204, push(t, base, "slow", ctV1, v1Body(t, batch...)).code)
	r := push(t, base, "slow", ctV1, v1Body(t, batch...))
	requireAPIError(t, r, 429, "too_many_requests", "ingestion rate limit of 10 samples/s")
	require.Contains(t, r.body, "err-weft-ingestion-rate-limited")
	// The same load from another tenant is not limited.
	require.Equal(t, 204, push(t, base, "fast", ctV1, v1Body(t, batch...)).code)
	require.Equal(t, 204, push(t, base, "fast", ctV1, v1Body(t, batch...)).code)

	r = push(t, base, "small", ctV1, v1Body(t, batch[:5]...))
	requireAPIError(t, r, 429, "too_many_requests", "limit of 3 series")
	require.Contains(t, r.body, "err-weft-max-series-per-tenant")
	_, ans := query(t, base, "small", `count(r)`)
	require.Equal(t, "3", vectorValue(t, ans), "series under the limit are stored")
	// Existing series keep accepting samples at the limit.
	require.Equal(t, 204, push(t, base, "small", ctV1, v1Body(t, series(now+1000, 1, "__name__", "r", "i", "0"))).code)

	resp, err := http.Get(base + "/runtime_config")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), "max_series_per_tenant: 3")
}

func TestPushRemoteWrite2(t *testing.T) {
	base := startApp(t)
	now := time.Now().UnixMilli()
	st := writev2.NewSymbolTable()
	refs := st.SymbolizeLabels(labelsOf("__name__", "rw2_total", "job", "j"), nil)
	req := &writev2.Request{
		Timeseries: []writev2.TimeSeries{{
			LabelsRefs: refs,
			Samples:    []writev2.Sample{{Value: 3, Timestamp: now}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: st.Symbolize("help text")},
		}},
		Symbols: st.Symbols(),
	}
	raw, err := req.Marshal()
	require.NoError(t, err)
	r := push(t, base, "t", "application/x-protobuf;proto=io.prometheus.write.v2.Request", snappy.Encode(nil, raw))
	require.Equal(t, 204, r.code, r.body)
	require.Equal(t, "1", r.headers.Get("X-Prometheus-Remote-Write-Samples-Written"))
	require.Equal(t, "0", r.headers.Get("X-Prometheus-Remote-Write-Histograms-Written"))
	_, ans := query(t, base, "t", `rw2_total`)
	require.Equal(t, "3", vectorValue(t, ans))

	hreq, _ := http.NewRequest("GET", base+"/prometheus/api/v1/metadata?metric=rw2_total", nil)
	hreq.Header.Set("X-Scope-OrgID", "t")
	resp, err := http.DefaultClient.Do(hreq)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.JSONEq(t, `{"status":"success","data":{"rw2_total":[{"type":"counter","help":"help text","unit":""}]}}`, string(b))
}

func TestQueryLimitsPerTenant(t *testing.T) {
	rc := filepath.Join(t.TempDir(), "runtime.yaml")
	require.NoError(t, os.WriteFile(rc, []byte(`
overrides:
  q:
    max_fetched_series_per_query: 2
    max_query_length: 1h
    max_samples_per_query: 5
  bytes:
    max_fetched_chunk_bytes_per_query: 40
`), 0o644))
	base := startApp(t, "-runtime-config.file="+rc)
	now := time.Now()
	var batch []prompb.TimeSeries
	for i := 0; i < 3; i++ {
		// 7 samples each, in the last minute.
		s := series(now.Add(-time.Minute).UnixMilli(), 1, "__name__", "s", "i", fmt.Sprint(i))
		for j := 5; j >= 0; j-- {
			s.Samples = append(s.Samples, prompb.Sample{Timestamp: now.Add(-time.Duration(j) * 10 * time.Second).UnixMilli(), Value: 2})
		}
		batch = append(batch, s)
	}
	require.Equal(t, 204, push(t, base, "q", ctV1, v1Body(t, batch...)).code)
	require.Equal(t, 204, push(t, base, "free", ctV1, v1Body(t, batch...)).code)
	require.Equal(t, 204, push(t, base, "bytes", ctV1, v1Body(t, batch...)).code)

	code, ans := query(t, base, "q", `sum(s)`)
	require.Equal(t, 422, code)
	require.Equal(t, "execution", ans["errorType"])
	require.Contains(t, ans["error"], "err-weft-max-fetched-series-per-query")
	code, ans = query(t, base, "q", `count_over_time(s{i="0"}[5m])`)
	require.Equal(t, 422, code, ans)
	require.Contains(t, ans["error"], "too many samples")
	code, _ = query(t, base, "free", `sum(s)`)
	require.Equal(t, 200, code, "limits are per tenant")
	// Three series of two samples weigh more than 40 bytes of chunks;
	// one does not.
	code, ans = query(t, base, "bytes", `sum(s)`)
	require.Equal(t, 422, code, ans)
	require.Contains(t, ans["error"], "err-weft-max-fetched-chunk-bytes-per-query")
	code, ans = query(t, base, "bytes", `sum(s{i="0"})`)
	require.Equal(t, 200, code, ans)
	// max_query_length holds for the range selectors of instant queries.
	code, ans = query(t, base, "q", `count_over_time(s{i="0"}[2h])`)
	require.Equal(t, 400, code, ans)
	require.Contains(t, ans["error"], "err-weft-max-query-length")

	u := fmt.Sprintf("%s/prometheus/api/v1/query_range?query=s&start=%d&end=%d&step=60", base, now.Add(-2*time.Hour).Unix(), now.Unix())
	hreq, _ := http.NewRequest("GET", u, nil)
	hreq.Header.Set("X-Scope-OrgID", "q")
	resp, err := http.DefaultClient.Do(hreq)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 400, resp.StatusCode, string(b))
	require.Contains(t, string(b), "err-weft-max-query-length")
}

func labelsOf(kv ...string) labels.Labels { return labels.FromStrings(kv...) }

func TestNativeHistogramsExemplarsAndPOST(t *testing.T) {
	base := startApp(t)
	now := time.Now().UnixMilli()
	h := &histogram.Histogram{
		Count: 10, Sum: 18.4, Schema: 1, ZeroThreshold: 0.001, ZeroCount: 2,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		PositiveBuckets: []int64{4, 0},
	}
	ts := prompb.TimeSeries{
		Labels:     []prompb.Label{{Name: "__name__", Value: "req_duration_seconds"}, {Name: "job", Value: "api"}},
		Histograms: []prompb.Histogram{prompb.FromIntHistogram(now, h)},
	}
	ex := series(now, 5, "__name__", "req_total", "job", "api")
	ex.Exemplars = []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "abc123"}}, Value: 1.5, Timestamp: now}}
	r := push(t, base, "h", ctV1, v1Body(t, ts, ex))
	require.Equal(t, 204, r.code, r.body)

	_, ans := query(t, base, "h", `histogram_count(req_duration_seconds)`)
	require.Equal(t, "10", vectorValue(t, ans))
	_, ans = query(t, base, "h", `histogram_sum(req_duration_seconds)`)
	require.Equal(t, "18.4", vectorValue(t, ans))

	// The query API answers POST with form parameters as it answers GET.
	form := url.Values{"query": {`req_total`}}
	req, _ := http.NewRequest(http.MethodPost, base+"/prometheus/api/v1/query", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Scope-OrgID", "h")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	require.Equal(t, "5", vectorValue(t, out))

	u := fmt.Sprintf("%s/prometheus/api/v1/query_exemplars?query=req_total&start=%d&end=%d", base, now/1000-60, now/1000+60)
	req, _ = http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("X-Scope-OrgID", "h")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(b))
	require.Contains(t, string(b), `"trace_id":"abc123"`)

	// Another tenant sees no exemplars.
	req.Header.Set("X-Scope-OrgID", "other")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NotContains(t, string(b), "abc123")
}
