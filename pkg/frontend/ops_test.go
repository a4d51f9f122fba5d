package frontend

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// failing answers fail with status to the first n requests, then lets h
// answer.
type failing struct {
	h         http.Handler
	status    int
	errorType string // "internal" when empty
	n         int64
	calls     atomic.Int64
}

func (f *failing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.calls.Add(1) <= f.n {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		et := f.errorType
		if et == "" {
			et = "internal"
		}
		_, _ = w.Write([]byte(`{"status":"error","errorType":"` + et + `","error":"injected"}`))
		return
	}
	f.h.ServeHTTP(w, r)
}

// A querier's 5xx is retried up to -query-frontend.max-retries times, for
// range queries and pass-through requests; 4xx and 429 are not.
func TestRetries(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	cfg := testConfig(t, func(c *Config) { c.MaxRetries = 2 })
	f := func(status int, failures int64, path string, params url.Values, wantCode int, wantCalls int64) {
		t.Helper()
		d := &failing{h: q, status: status, n: failures}
		fe, _ := newFrontend(t, cfg, d, lim, base.Add(72*time.Hour))
		got := do(t, fe, "t", http.MethodGet, path, params, nil)
		require.Equal(t, wantCode, got.code, string(got.body))
		require.Equal(t, wantCalls, d.calls.Load())
		if wantCode != http.StatusOK {
			require.Equal(t, "injected", got.resp.Error, "the querier's answer reaches the client")
		}
	}
	rangeQ := rangeParams(`x_total`, 10*time.Hour, 12*time.Hour, time.Minute)
	instant := url.Values{"query": {"x_total"}, "time": {formatTime(ms(10 * time.Hour))}}
	for _, tc := range []struct {
		path   string
		params url.Values
	}{{"/query_range", rangeQ}, {"/query", instant}, {"/labels", nil}} {
		f(http.StatusInternalServerError, 2, tc.path, tc.params, http.StatusOK, 3)
		f(http.StatusServiceUnavailable, 3, tc.path, tc.params, http.StatusServiceUnavailable, 3)
		f(http.StatusBadRequest, 1, tc.path, tc.params, http.StatusBadRequest, 1)
		f(http.StatusTooManyRequests, 1, tc.path, tc.params, http.StatusTooManyRequests, 1)
		f(http.StatusUnprocessableEntity, 1, tc.path, tc.params, http.StatusUnprocessableEntity, 1)
	}

	// A query that timed out is not run again.
	d := &failing{h: q, status: http.StatusServiceUnavailable, errorType: "timeout", n: 1}
	fe, _ := newFrontend(t, cfg, d, lim, base.Add(72*time.Hour))
	got := do(t, fe, "t", http.MethodGet, "/query_range", rangeQ, nil)
	require.Equal(t, http.StatusServiceUnavailable, got.code)
	require.Equal(t, "timeout", got.resp.ErrorType)
	require.Equal(t, int64(1), d.calls.Load())

	// A downstream that cannot be reached: 502 after the retries.
	var calls atomic.Int64
	var err error
	fe, err = New(cfg, roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("connection refused")
	}), lim, tenant.Resolver{MultiTenancy: true}, nil, nil)
	require.NoError(t, err)
	got = do(t, fe, "t", http.MethodGet, "/query_range", rangeQ, nil)
	require.Equal(t, http.StatusBadGateway, got.code)
	require.Contains(t, got.resp.Error, "connection refused")
	require.Equal(t, int64(3), calls.Load())
	require.Equal(t, float64(2), testutil.ToFloat64(fe.m.retries))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// At most max_query_parallelism parts of one query are in flight.
func TestMaxQueryParallelism(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, func(l *limits.Limits) { l.MaxQueryParallelism = 3 })
	q := newQuerier(t, db, lim)
	var inFlight, most atomic.Int64
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		q.ServeHTTP(w, r)
	})
	fe, _ := newFrontend(t, testConfig(t, func(c *Config) { c.SplitInterval = time.Hour }), slow, lim, base.Add(72*time.Hour))
	got := do(t, fe, "t", http.MethodGet, "/query_range", rangeParams(`x_total`, 0, 12*time.Hour, time.Minute), nil)
	require.Equal(t, http.StatusOK, got.code)
	require.Equal(t, float64(13), testutil.ToFloat64(fe.m.splitParts))
	require.LessOrEqual(t, most.Load(), int64(3))
	require.Greater(t, most.Load(), int64(1), "the parts run in parallel")
}

// max_query_length refuses a long range query before it is split, as the
// querier does; max_query_lookback leaves out the points before it.
func TestQueryLimits(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, func(l *limits.Limits) {
		l.MaxQueryLength = model.Duration(24 * time.Hour)
		l.MaxQueryLookback = model.Duration(30 * time.Hour)
	})
	q := newQuerier(t, db, lim)
	rec := &recorder{h: q}
	now := base.Add(72 * time.Hour)
	fe, _ := newFrontend(t, testConfig(t, nil), rec, lim, now)

	long := rangeParams(`x_total`, 0, 25*time.Hour, time.Minute)
	got := do(t, fe, "t", http.MethodGet, "/query_range", long, nil)
	require.Equal(t, http.StatusBadRequest, got.code)
	require.Equal(t, "bad_data", got.resp.ErrorType)
	require.Contains(t, got.resp.Error, "err-weft-max-query-length")
	require.Empty(t, rec.take())
	want := do(t, q, "t", http.MethodGet, "/query_range", long, nil)
	require.Equal(t, want.code, got.code, "the querier answers the same")

	// All before the lookback: empty, without asking.
	got = do(t, fe, "t", http.MethodGet, "/query_range", rangeParams(`x_total`, 10*time.Hour, 20*time.Hour, time.Minute), nil)
	require.Equal(t, http.StatusOK, got.code)
	require.Empty(t, got.matrix(t))
	require.Empty(t, rec.take())
	// Partly: from the lookback on (the querier, which reads the real
	// clock, then finds nothing in this old data).
	got = do(t, fe, "t", http.MethodGet, "/query_range", rangeParams(`x_total`, 40*time.Hour, 44*time.Hour, time.Minute), nil)
	require.Equal(t, http.StatusOK, got.code)
	require.Equal(t, []recorded{{`x_total`, ms(42 * time.Hour), ms(44 * time.Hour), 60_000}}, rec.take())
}

var serverTiming = regexp.MustCompile(`^queue;dur=(\d+\.\d{3}), split;dur=\d+\.\d{3}, cache;dur=\d+\.\d{3}, eval;dur=\d+\.\d{3}$`)

// Every answer has a Server-Timing header; queue is the time the
// downstream says the request waited.
func TestServerTiming(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	queued := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(QueueTimeHeader, "0.25")
		q.ServeHTTP(w, r)
	})
	fe, _ := newFrontend(t, testConfig(t, nil), queued, lim, base.Add(72*time.Hour))
	for _, tc := range []struct {
		path   string
		params url.Values
		queue  string
	}{
		{"/query_range", rangeParams(`x_total`, 10*time.Hour, 12*time.Hour, time.Minute), "250.000"},
		{"/query_range", rangeParams(`x_total`, 10*time.Hour, 12*time.Hour, time.Minute), "0.000"}, // cached
		// Two parts, the first partly cached: two requests, whose queue
		// times add up.
		{"/query_range", rangeParams(`x_total`, 10*time.Hour, 30*time.Hour, time.Minute), "500.000"},
		{"/query", url.Values{"query": {"x_total"}}, "250.000"},
		{"/labels", nil, "250.000"},
	} {
		got := do(t, fe, "t", http.MethodGet, tc.path, tc.params, nil)
		m := serverTiming.FindStringSubmatch(got.header.Get("Server-Timing"))
		require.NotNil(t, m, got.header.Get("Server-Timing"))
		require.Equal(t, tc.queue, m[1])
	}
}

// Everything but range queries passes through unchanged, with the
// tenant; a request without a tenant is refused.
func TestPassThrough(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	fe, _ := newFrontend(t, testConfig(t, nil), q, lim, base.Add(72*time.Hour))
	for _, tc := range []struct {
		method, path string
		params       url.Values
	}{
		{http.MethodGet, "/query", url.Values{"query": {"sum(x_total)"}, "time": {formatTime(ms(10 * time.Hour))}}},
		{http.MethodPost, "/query", url.Values{"query": {"h"}, "time": {formatTime(ms(10 * time.Hour))}}},
		{http.MethodGet, "/labels", nil},
		{http.MethodGet, "/label/job/values", nil},
		{http.MethodGet, "/series", url.Values{"match[]": {"x_total"}}},
		{http.MethodGet, "/nope", nil},
		{http.MethodGet, "/query_range", url.Values{"query": {"x_total"}, "start": {"a"}, "end": {"1"}, "step": {"1"}}},
	} {
		want := do(t, q, "t", tc.method, tc.path, tc.params, nil)
		got := do(t, fe, "t", tc.method, tc.path, tc.params, nil)
		require.Equal(t, want.code, got.code, tc.path)
		require.JSONEq(t, string(want.body), string(got.body), tc.path)
	}
	// stats=all: the range query goes whole to the querier, whose
	// statistics the client gets.
	got := do(t, fe, "t", http.MethodGet, "/query_range", url.Values{"query": {"x_total"}, "start": {formatTime(ms(0))}, "end": {formatTime(ms(time.Hour))}, "step": {"60"}, "stats": {"all"}}, nil)
	require.Equal(t, http.StatusOK, got.code)
	require.Contains(t, string(got.body), `"totalQueryableSamples":183`)
	got = do(t, fe, "", http.MethodGet, "/labels", nil, nil)
	require.Equal(t, http.StatusUnauthorized, got.code)
}

// A middleware (query sharding) is called for each range left to
// compute, and its result is what the client gets.
func TestMiddleware(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	var calls atomic.Int64
	mw := func(next Runner) Runner {
		return func(ctx context.Context, r RangeRequest) (*Result, error) {
			calls.Add(1)
			id, err := tenant.From(ctx)
			require.NoError(t, err)
			require.Equal(t, "t", id)
			return next(ctx, r)
		}
	}
	fe, _ := newFrontend(t, testConfig(t, nil), q, lim, base.Add(72*time.Hour), WithMiddleware(mw))
	params := rangeParams(`sum(rate(x_total[5m]))`, 10*time.Hour, 30*time.Hour, time.Minute)
	want := do(t, q, "t", http.MethodGet, "/query_range", params, nil)
	got := do(t, fe, "t", http.MethodGet, "/query_range", params, nil)
	require.Equal(t, want.matrix(t), got.matrix(t))
	require.Equal(t, int64(2), calls.Load())
	do(t, fe, "t", http.MethodGet, "/query_range", params, nil)
	require.Equal(t, int64(2), calls.Load(), "cached")
}

// The timeout parameter of a range query bounds all of its parts.
func TestTimeoutParameter(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		q.ServeHTTP(w, r)
	})
	fe, _ := newFrontend(t, testConfig(t, nil), slow, lim, base.Add(72*time.Hour))
	params := rangeParams(`x_total`, 10*time.Hour, 30*time.Hour, time.Minute)
	params.Set("timeout", "0.1")
	began := time.Now()
	got := do(t, fe, "t", http.MethodGet, "/query_range", params, nil)
	require.Less(t, time.Since(began), time.Second)
	require.Equal(t, http.StatusServiceUnavailable, got.code, string(got.body))
	require.Equal(t, "timeout", got.resp.ErrorType)
}

// A client that goes away cancels every part of its query downstream.
func TestClientGoneCancelsTheParts(t *testing.T) {
	lim := testLimits(t, nil)
	var started, canceled atomic.Int64
	blocking := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		<-r.Context().Done()
		canceled.Add(1)
		w.WriteHeader(499)
	})
	fe, _ := newFrontend(t, testConfig(t, func(c *Config) { c.SplitInterval = time.Hour }), blocking, lim, base.Add(72*time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	params := rangeParams(`x_total`, 0, 3*time.Hour, time.Minute)
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, apiPrefix+"/query_range?"+params.Encode(), nil)
	req.Header.Set(tenant.Header, "t")
	done := make(chan struct{})
	go func() {
		defer close(done)
		fe.ServeHTTP(httptest.NewRecorder(), req)
	}()
	require.Eventually(t, func() bool { return started.Load() == 4 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	<-done
	require.Equal(t, int64(4), canceled.Load())
	require.Zero(t, testutil.ToFloat64(fe.m.retries), "a canceled query is not retried")
}

// Remote read passes through with its binary body and answer intact, in
// both answer types.
func TestPassThroughRemoteRead(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	fe, _ := newFrontend(t, testConfig(t, nil), q, lim, base.Add(72*time.Hour))
	read := func(h http.Handler, typ prompb.ReadRequest_ResponseType) *httptest.ResponseRecorder {
		t.Helper()
		query, err := remote.ToQuery(0, ms(10*time.Hour), []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+")}, nil)
		require.NoError(t, err)
		raw, err := (&prompb.ReadRequest{Queries: []*prompb.Query{query}, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{typ}}).Marshal()
		require.NoError(t, err)
		req := httptest.NewRequest(http.MethodPost, apiPrefix+"/read", bytes.NewReader(snappy.Encode(nil, raw)))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set(tenant.Header, "t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, typ := range []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES, prompb.ReadRequest_STREAMED_XOR_CHUNKS} {
		want, got := read(q, typ), read(fe, typ)
		require.Equal(t, http.StatusOK, want.Code, want.Body.String())
		require.Equal(t, want.Code, got.Code, got.Body.String())
		require.Equal(t, want.Header().Get("Content-Type"), got.Header().Get("Content-Type"))
		require.Equal(t, want.Header().Get("Content-Encoding"), got.Header().Get("Content-Encoding"))
		require.Greater(t, want.Body.Len(), 100, "the answer holds the series")
		require.Equal(t, want.Body.Bytes(), got.Body.Bytes(), typ.String())
	}
}
