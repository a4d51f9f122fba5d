package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestSeriesSet(t *testing.T) {
	small, big := NewSeriesSet(1000), NewSeriesSet(20000)
	require.Equal(t, 20000, big.Len())
	require.GreaterOrEqual(t, len(big.MetricNames()), 45)
	seen := map[string]bool{}
	for i := 0; i < big.Len(); i++ {
		ls := big.Labels(i)
		require.Equal(t, LabelsPerSeries, ls.Len(), "series %d: %s", i, ls)
		require.False(t, seen[ls.String()], "duplicate series %s", ls)
		seen[ls.String()] = true
		if i < small.Len() {
			require.Equal(t, small.Labels(i), ls, "the set of N is a prefix of the set of M > N")
			require.Equal(t, small.Value(i, 7), big.Value(i, 7))
		}
		if big.IsCounter(i) {
			for r := 1; r < 20; r++ {
				require.GreaterOrEqual(t, big.Value(i, r), big.Value(i, r-1), "counter %s decreases", ls)
			}
		}
	}
	// Gauges wander.
	var memFree []float64
	for i := 0; i < TemplatesPerInstance; i++ {
		if big.Labels(i).Get("__name__") == "node_memory_MemFree_bytes" {
			for r := 0; r < 10; r++ {
				memFree = append(memFree, big.Value(i, r))
			}
		}
	}
	require.Len(t, memFree, 10)
	require.Greater(t, slices.Max(memFree), slices.Min(memFree))
	// Histogram buckets are cumulative and the +Inf bucket equals _count.
	var buckets []float64
	var count float64
	for i := 0; i < TemplatesPerInstance; i++ {
		switch big.Labels(i).Get("__name__") {
		case "http_request_duration_seconds_bucket":
			buckets = append(buckets, big.Value(i, 3))
		case "http_request_duration_seconds_count":
			count = big.Value(i, 3)
		}
	}
	require.Len(t, buckets, 8)
	require.True(t, slices.IsSorted(buckets), "%v", buckets)
	require.Equal(t, count, buckets[len(buckets)-1])
}

// TestBuildV1MatchesPrompb checks that the hand-written encoding is byte-for-byte what
// prompb's generated code produces.
func TestBuildV1MatchesPrompb(t *testing.T) {
	set := NewSeriesSet(5000)
	b := set.NewBuilder()
	for _, tc := range []struct{ start, end, round int }{{0, 5000, 0}, {17, 1234, 3}, {4990, 5000, 100}, {0, 0, 0}} {
		payload, err := b.BuildV1(tc.start, tc.end, tc.round, 1700000000000+int64(tc.round)*15000)
		require.NoError(t, err)
		raw, err := snappy.Decode(nil, payload)
		require.NoError(t, err)
		req, err := set.NewBuilder().RequestV1(tc.start, tc.end, tc.round, 1700000000000+int64(tc.round)*15000)
		require.NoError(t, err)
		want, err := req.Marshal()
		require.NoError(t, err)
		if len(want) == 0 {
			require.Empty(t, raw)
			continue
		}
		require.Equal(t, want, raw)
	}
	// Zero values and timestamps are omitted, as proto3 wants.
	raw := set.appendV1(nil, 0, 10, 0, 0)
	want, err := (&prompb.WriteRequest{Timeseries: mustV1(t, set, 0, 10, 0, 0).Timeseries}).Marshal()
	require.NoError(t, err)
	require.Equal(t, want, raw)

	_, err = b.BuildV1(10, 5001, 0, 0)
	require.Error(t, err)
}

func mustV1(t *testing.T, set *SeriesSet, start, end, round int, ts int64) *prompb.WriteRequest {
	req, err := set.NewBuilder().RequestV1(start, end, round, ts)
	require.NoError(t, err)
	return req
}

func TestBuildV2(t *testing.T) {
	set := NewSeriesSet(3000)
	b := set.NewBuilder()
	// Two different ranges in a row with one builder: the second symbol table must
	// not leak refs of the first.
	for _, r := range [][2]int{{0, 3000}, {1500, 1600}, {2999, 3000}} {
		payload, err := b.BuildV2(r[0], r[1], 2, 1234)
		require.NoError(t, err)
		raw, err := snappy.Decode(nil, payload)
		require.NoError(t, err)
		var req writev2.Request
		require.NoError(t, req.Unmarshal(raw))
		require.Equal(t, "", req.Symbols[0])
		require.Len(t, req.Timeseries, r[1]-r[0])
		used := make([]bool, len(req.Symbols))
		sb := labels.NewScratchBuilder(LabelsPerSeries)
		for j, ts := range req.Timeseries {
			for _, ref := range ts.LabelsRefs {
				used[ref] = true
			}
			ls, err := ts.ToLabels(&sb, req.Symbols)
			require.NoError(t, err)
			require.Equal(t, set.Labels(r[0]+j), ls)
			require.Equal(t, []writev2.Sample{{Value: set.Value(r[0]+j, 2), Timestamp: 1234}}, ts.Samples)
			wantType := writev2.Metadata_METRIC_TYPE_GAUGE
			if set.IsCounter(r[0] + j) {
				wantType = writev2.Metadata_METRIC_TYPE_COUNTER
			}
			require.Equal(t, wantType, ts.Metadata.Type)
		}
		for ref, u := range used[1:] {
			require.True(t, u, "symbol %q is not referenced", req.Symbols[ref+1])
		}
	}
}

// receiver is a remote-write server for tests: it decodes every request and records
// each series' samples in arrival order.
type receiver struct {
	t      *testing.T
	status func(n int64) int // answer of the n-th request (0-based); nil = 204

	n        atomic.Int64
	mu       sync.Mutex
	samples  map[string][]prompb.Sample // series (labels string) -> samples in arrival order
	tenants  map[string]int             // X-Scope-OrgID -> samples
	byCode   map[int]int
	types    map[string]writev2.Metadata_MetricType
	badHeads []string
}

func newReceiver(t *testing.T, status func(n int64) int) (*receiver, *httptest.Server) {
	r := &receiver{t: t, status: status, samples: map[string][]prompb.Sample{}, tenants: map[string]int{},
		byCode: map[int]int{}, types: map[string]writev2.Metadata_MetricType{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := r.n.Add(1) - 1
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	code := http.StatusNoContent
	if r.status != nil {
		code = r.status(n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byCode[code]++
	if req.Header.Get("Content-Encoding") != "snappy" {
		r.badHeads = append(r.badHeads, "Content-Encoding: "+req.Header.Get("Content-Encoding"))
	}
	var count int
	switch ct := req.Header.Get("Content-Type"); ct {
	case ContentTypeV1:
		if v := req.Header.Get("X-Prometheus-Remote-Write-Version"); v != "0.1.0" {
			r.badHeads = append(r.badHeads, "version "+v)
		}
		var wr prompb.WriteRequest
		if err := wr.Unmarshal(raw); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if code/100 == 2 {
			for _, ts := range wr.Timeseries {
				ls := labels.New(prompbLabels(ts.Labels)...)
				if len(ts.Labels) != LabelsPerSeries || !slices.IsSortedFunc(ts.Labels, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) }) {
					r.badHeads = append(r.badHeads, "bad labels "+ls.String())
				}
				r.samples[ls.String()] = append(r.samples[ls.String()], ts.Samples...)
				count += len(ts.Samples)
			}
		}
	case ContentTypeV2:
		if v := req.Header.Get("X-Prometheus-Remote-Write-Version"); v != "2.0.0" {
			r.badHeads = append(r.badHeads, "version "+v)
		}
		var wr writev2.Request
		if err := wr.Unmarshal(raw); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		sb := labels.NewScratchBuilder(LabelsPerSeries)
		if code/100 == 2 {
			for _, ts := range wr.Timeseries {
				ls, err := ts.ToLabels(&sb, wr.Symbols)
				if err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				if ls.Len() != LabelsPerSeries {
					r.badHeads = append(r.badHeads, "bad labels "+ls.String())
				}
				for _, s := range ts.Samples {
					r.samples[ls.String()] = append(r.samples[ls.String()], prompb.Sample{Value: s.Value, Timestamp: s.Timestamp})
				}
				r.types[ls.Get("__name__")] = ts.Metadata.Type
				count += len(ts.Samples)
			}
		}
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", fmt.Sprint(count))
	default:
		r.badHeads = append(r.badHeads, "content type "+ct)
	}
	if code/100 != 2 {
		http.Error(w, fmt.Sprintf("request %d refused", n), code)
		return
	}
	r.tenants[req.Header.Get("X-Scope-OrgID")] += count
	w.WriteHeader(code)
}

func prompbLabels(ls []prompb.Label) []labels.Label {
	out := make([]labels.Label, len(ls))
	for i, l := range ls {
		out[i] = labels.Label{Name: l.Name, Value: l.Value}
	}
	return out
}

func testWriteConfig(url string) WriteConfig {
	return WriteConfig{
		URL: url, Series: 1000, Tenants: 1, SamplesPerRequest: 300, Concurrency: 3,
		Interval: 15 * time.Second, Rounds: 3, Protocol: ProtocolV1, Timeout: 10 * time.Second,
	}
}

func TestRunWrite(t *testing.T) {
	for _, p := range []Protocol{ProtocolV1, ProtocolV2} {
		t.Run(string(p), func(t *testing.T) {
			rcv, srv := newReceiver(t, nil)
			cfg := testWriteConfig(srv.URL)
			cfg.Protocol = p
			cfg.Tenants = 2
			cfg.StartTime = time.UnixMilli(1_700_000_000_000)
			var progress bytes.Buffer
			rep, err := RunWrite(context.Background(), cfg, &progress)
			require.NoError(t, err)
			require.Contains(t, progress.String(), "1000 series")

			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			require.Empty(t, rcv.badHeads)
			require.Len(t, rcv.samples, 1000)
			set := NewSeriesSet(1000)
			for i := 0; i < 1000; i++ {
				got := rcv.samples[set.Labels(i).String()]
				require.Len(t, got, 3, "series %d", i)
				for r, s := range got {
					// Timestamps increase per series in arrival order, one interval apart.
					require.Equal(t, int64(1_700_000_000_000+r*15000), s.Timestamp)
					require.Equal(t, set.Value(i, r), s.Value)
				}
			}
			require.Equal(t, map[string]int{"tenant-0": 1500, "tenant-1": 1500}, rcv.tenants)
			if p == ProtocolV2 {
				require.Equal(t, writev2.Metadata_METRIC_TYPE_COUNTER, rcv.types["node_cpu_seconds_total"])
				require.Equal(t, writev2.Metadata_METRIC_TYPE_GAUGE, rcv.types["node_memory_MemFree_bytes"])
			}

			// 2 tenants x ceil(500/300) chunks x 3 rounds.
			require.Equal(t, int64(12), rep.Requests)
			require.Equal(t, int64(12), rep.RequestsOK)
			require.Zero(t, rep.RequestsFailed)
			require.Equal(t, map[string]int64{"204": 12}, rep.StatusCodes)
			require.Equal(t, int64(3000), rep.SamplesSent)
			require.Equal(t, int64(3000), rep.SamplesAccepted)
			require.Equal(t, 3, rep.RoundsCompleted)
			require.Equal(t, int64(1_700_000_030_000), rep.LastTimestamp)
			require.Equal(t, uint64(12), rep.Latency.Count)
			require.Positive(t, rep.Latency.P99)
			require.LessOrEqual(t, rep.Latency.P50, rep.Latency.Max)
		})
	}
}

func TestRunWriteTenantHeaderOff(t *testing.T) {
	rcv, srv := newReceiver(t, nil)
	cfg := testWriteConfig(srv.URL)
	cfg.Tenants = 3
	cfg.TenantHeaderOff = true
	cfg.Rounds = 1
	_, err := RunWrite(context.Background(), cfg, nil)
	require.NoError(t, err)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	require.Equal(t, map[string]int{"": 1000}, rcv.tenants)
}

func TestRunWriteCountsFailures(t *testing.T) {
	// Every 5th request from the 1st is a 400, from the 2nd a 429, from the 3rd a 500.
	rcv, srv := newReceiver(t, func(n int64) int {
		return []int{200, 400, 429, 500, 204}[n%5]
	})
	cfg := testWriteConfig(srv.URL)
	cfg.Series = 2000
	cfg.SamplesPerRequest = 100
	cfg.Rounds = 5 // 20 requests a round, 100 in all
	rep, err := RunWrite(context.Background(), cfg, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"200": 20, "204": 20, "400": 20, "429": 20, "500": 20}, rep.StatusCodes)
	require.Equal(t, int64(100), rep.Requests)
	require.Equal(t, int64(40), rep.RequestsOK)
	require.Equal(t, int64(60), rep.RequestsFailed)
	require.Equal(t, int64(10000), rep.SamplesSent)
	require.Equal(t, int64(4000), rep.SamplesAccepted)
	require.Len(t, rep.Errors, maxErrorSamples)
	require.Contains(t, rep.Errors[0], "refused")
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	require.Equal(t, map[int]int{200: 20, 204: 20, 400: 20, 429: 20, 500: 20}, rcv.byCode)

	var text bytes.Buffer
	rep.WriteText(&text)
	require.Contains(t, text.String(), "40 ok, 60 failed (200=20 204=20 400=20 429=20 500=20)")
	var decoded WriteReport
	require.NoError(t, json.Unmarshal(rep.JSON(), &decoded))
	require.Equal(t, rep.StatusCodes, decoded.StatusCodes)
}

func TestRunWriteTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cfg := testWriteConfig(url)
	cfg.Rounds = 1
	rep, err := RunWrite(context.Background(), cfg, nil)
	require.NoError(t, err)
	require.Equal(t, int64(4), rep.RequestsFailed)
	require.Equal(t, map[string]int64{"error": 4}, rep.StatusCodes)
	require.Contains(t, rep.Errors[0], "connect")
}

func TestRunWriteRate(t *testing.T) {
	rcv, srv := newReceiver(t, nil)
	cfg := testWriteConfig(srv.URL)
	cfg.Series = 100000
	cfg.SamplesPerRequest = 500
	cfg.Rounds = 0
	cfg.Duration = 500 * time.Millisecond
	cfg.Rate = 10000
	rep, err := RunWrite(context.Background(), cfg, nil)
	require.NoError(t, err)
	// At 10k samples/s for 0.5s the pacer lets through at most 5,000 samples plus the
	// request due exactly at the deadline; unpaced, this would be far more.
	require.LessOrEqual(t, rep.SamplesSent, int64(5500))
	require.GreaterOrEqual(t, rep.SamplesSent, int64(1500))
	require.Equal(t, rep.SamplesSent, rep.SamplesAccepted)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	require.Equal(t, int(rep.SamplesSent), rcv.tenants["tenant-0"])
}

func TestRunWriteCanceled(t *testing.T) {
	_, srv := newReceiver(t, nil)
	cfg := testWriteConfig(srv.URL)
	cfg.Rounds = 0
	cfg.Duration = time.Hour
	cfg.Rate = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep, err := RunWrite(ctx, cfg, nil)
	require.NoError(t, err)
	require.Zero(t, rep.RequestsFailed)
	require.Positive(t, rep.RequestsOK)
}

func TestDefaultStart(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	f := func(cfg WriteConfig, rate float64, want time.Duration) {
		t.Helper()
		require.Equal(t, now.Add(-want), cfg.defaultStart(now, rate))
	}
	base := WriteConfig{Series: 1000, Interval: 15 * time.Second, Duration: time.Minute}
	c := base
	c.Rounds = 3
	f(c, 0, 30*time.Second) // the last round is now
	c.Rounds = 1000
	f(c, 0, MaxBackfill)
	f(base, 0, MaxBackfill)        // as fast as possible for a duration
	f(base, 100, 15*time.Second*5) // 6000 samples = 6 rounds
	c = base
	c.Realtime = true
	f(c, 0, 0)
}

func TestParseTime(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	f := func(in string, want time.Time) {
		t.Helper()
		got, err := ParseTime(in, now)
		require.NoError(t, err)
		require.True(t, want.Equal(got), "%s: got %s want %s", in, got, want)
	}
	f("2023-11-14T22:13:20Z", now)
	f("1700000000", now)
	f("1700000000.5", now.Add(500*time.Millisecond))
	f("-30m", now.Add(-30*time.Minute))
	_, err := ParseTime("yesterday", now)
	require.Error(t, err)
}

func TestValidate(t *testing.T) {
	f := func(mod func(*WriteConfig)) {
		t.Helper()
		c := testWriteConfig("http://x")
		mod(&c)
		require.Error(t, c.Validate())
	}
	f(func(c *WriteConfig) { c.Series = 0 })
	f(func(c *WriteConfig) { c.Tenants = 0 })
	f(func(c *WriteConfig) { c.Tenants = 1001 })
	f(func(c *WriteConfig) { c.Rounds, c.Duration = 0, 0 })
	f(func(c *WriteConfig) { c.Protocol = "v3" })
	f(func(c *WriteConfig) { c.Interval = 1500 * time.Microsecond })
	c := testWriteConfig("http://x")
	require.NoError(t, c.Validate())
}

func TestRunQuery(t *testing.T) {
	type call struct {
		path, tenant, query string
		start, end, step    string
	}
	var mu sync.Mutex
	var calls []call
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		calls = append(calls, call{r.URL.Path, r.Header.Get("X-Scope-OrgID"), q.Get("query"), q.Get("start"), q.Get("end"), q.Get("step")})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(q.Get("query"), "histogram_quantile") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, `{"status":"error","errorType":"execution","error":"boom"}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[
			{"metric":{"job":"a"},"values":[[1,"1"],[2,"2"],[3,"3"]]},
			{"metric":{"job":"b"},"values":[[1,"1"]],"histograms":[[2,{"count":"1","sum":"1"}]]}]}}`)
	}))
	defer srv.Close()

	cfg := QueryConfig{URL: srv.URL + "/prometheus/", Tenant: "tenant-7", Range: time.Hour, Concurrency: 3,
		Queries: 2 * len(DefaultQueries), Series: 1000, Timeout: 10 * time.Second}
	rep, err := RunQuery(context.Background(), cfg, nil)
	require.NoError(t, err)
	require.Equal(t, int64(16), rep.Queries)
	require.Equal(t, int64(14), rep.QueriesOK)
	require.Equal(t, int64(2), rep.QueriesFailed)
	require.Equal(t, map[string]int64{"200": 14, "422": 2}, rep.StatusCodes)
	require.Equal(t, int64(28), rep.SeriesReturned)
	require.Equal(t, int64(14*5), rep.SamplesReturned)
	require.Equal(t, 15.0, rep.Step)
	require.Len(t, rep.PerExpr, len(DefaultQueries))
	require.Contains(t, rep.Errors[0], "boom")
	for _, q := range rep.PerExpr {
		require.Equal(t, int64(2), q.Queries, q.Expr)
	}

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, calls, 16)
	set := NewSeriesSet(1000)
	instances := map[string]bool{}
	for i := 0; i < set.Instances(); i++ {
		instances[InstanceName(i)] = true
	}
	for _, c := range calls {
		require.Equal(t, "/prometheus/api/v1/query_range", c.path)
		require.Equal(t, "tenant-7", c.tenant)
		require.Equal(t, "15", c.step)
		require.NotContains(t, c.query, "$instance")
		var start, end float64
		_, err := fmt.Sscan(c.start, &start)
		require.NoError(t, err)
		_, err = fmt.Sscan(c.end, &end)
		require.NoError(t, err)
		require.Equal(t, 3600.0, end-start)
		if i := strings.Index(c.query, `instance="`); i >= 0 {
			inst := c.query[i+len(`instance="`):]
			inst = inst[:strings.IndexByte(inst, '"')]
			require.True(t, instances[inst], "instance %q does not exist", inst)
		}
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	require.Contains(t, text.String(), "14 ok, 2 failed")
}

func TestRunQueryCacheControl(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Cache-Control"))
		mu.Unlock()
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
	}))
	defer srv.Close()
	cfg := QueryConfig{URL: srv.URL, Range: time.Hour, Concurrency: 1, Queries: 2, Series: 1000, Timeout: 10 * time.Second}
	for _, cc := range []string{"no-store", ""} {
		got = nil
		cfg.CacheControl = cc
		rep, err := RunQuery(context.Background(), cfg, nil)
		require.NoError(t, err)
		require.Equal(t, int64(2), rep.QueriesOK)
		mu.Lock()
		require.Equal(t, []string{cc, cc}, got)
		mu.Unlock()
	}
}

func TestAutoStep(t *testing.T) {
	require.Equal(t, 15*time.Second, AutoStep(time.Hour))
	require.Equal(t, 346*time.Second, AutoStep(24*time.Hour))
	require.Equal(t, 15*time.Second, AutoStep(5*time.Minute))
}

func TestLatencyHist(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 1000; i++ {
		h.observe(time.Duration(i) * time.Millisecond)
	}
	s := h.summary()
	require.Equal(t, uint64(1000), s.Count)
	require.Equal(t, time.Second, s.Max)
	require.InEpsilon(t, float64(500*time.Millisecond), float64(s.P50), 0.03)
	require.InEpsilon(t, float64(900*time.Millisecond), float64(s.P90), 0.03)
	require.InEpsilon(t, float64(990*time.Millisecond), float64(s.P99), 0.03)
	var empty latencyHist
	require.Zero(t, empty.summary().P99)
}

func TestRunQueryPause(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
	}))
	defer srv.Close()
	cfg := QueryConfig{URL: srv.URL, Range: time.Hour, Concurrency: 1, Queries: 4, Series: 100,
		Timeout: 10 * time.Second, Pause: 50 * time.Millisecond}
	rep, err := RunQuery(context.Background(), cfg, nil)
	require.NoError(t, err)
	require.Equal(t, int64(4), rep.QueriesOK)
	// One client, a pause after each of its queries.
	require.GreaterOrEqual(t, rep.Elapsed, 0.2)
}
