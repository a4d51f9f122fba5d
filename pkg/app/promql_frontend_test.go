package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/stats"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/frontend"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/querysharding"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// TestPrometheusPromQLSuiteThroughTheFrontend runs Prometheus' PromQL
// scripts through the query API of a query-frontend wired as the app wires
// it (results cache on, query sharding in 3 shards for the tenant), over
// HTTP, in front of a querier over the ingester that the scripts' data is
// pushed to. Range queries are split, cached and sharded by the frontend;
// instant queries pass through it. Each JSON answer is decoded into PromQL
// values, its error and annotations into errors and annotations with the
// API's texts, for the scripts to compare with what Prometheus expects.
//
// Every instant query of the scripts is also run as a range query (that is
// how the scripts check range mode), so most of the range queries here are
// the scripts' instant queries; the test requires that many ran sharded
// (their sub-queries reached the querier), and runs each range query a
// second time, from the results cache, whose answer must be the first one
// and is the one the scripts check.
//
// The API's JSON gives a native histogram's non-empty buckets with their
// bounds, not its schema, spans or counter-reset hint, which the scripts
// compare: an answer with histograms is compared in the API's form with
// the querier's engine's answer, which the scripts then check.
func TestPrometheusPromQLSuiteThroughTheFrontend(t *testing.T) {
	lim := frontendTestLimits(t)
	e := &frontendEngine{whole: promqlEngine(t, lim), servers: map[storage.Queryable]*frontendServer{}, ran: map[string]bool{}, counters: map[string]*atomic.Int64{},
		sharder: querysharding.New(querysharding.Options{Engine: promql.EngineOpts{Parser: parser.NewParser(promqltest.TestParserOpts)}})}
	promqltest.RunBuiltinTestsWithStorage(t, e, func(tb testing.TB) storage.Storage {
		return e.newStorage(tb, lim)
	})
	t.Logf("range queries: %d, shardable: %d, sharded: %d; histogram answers compared in the API's form: %d; parts from the results cache: %d",
		e.ranges.Load(), e.shardable.Load(), e.sharded.Load(), e.histograms.Load(), e.cacheHits.Load())
	require.Greater(t, e.sharded.Load(), int64(1000), "range queries that ran as sharded sub-queries")
	// The shardable range queries that ran whole read native histograms,
	// which the frontend does not shard.
	require.GreaterOrEqual(t, e.sharded.Load()*100, e.shardable.Load()*95, "shardable range queries that ran sharded")
	require.Positive(t, e.cacheHits.Load(), "split parts served from the results cache")
	require.Positive(t, e.histograms.Load())
	for qs, reason := range frontendExceptions {
		require.True(t, e.ran[qs], "%s: a listed exception (%s) no longer occurs in the scripts", qs, reason)
	}
}

// frontendExceptions are the queries of the scripts whose answer through
// the frontend differs from Prometheus' for a reason of principle, with
// the reason. Their range queries run on the querier's engine directly
// (their instant queries, which the frontend passes through, go through
// it); the test requires that each still occurs. The other queries that
// pkg/querysharding's script test runs whole (unshardedInScripts) read
// native histograms, which the frontend does not shard: the API's JSON
// does not carry them exactly (querysharding.Sharder.ExecModel).
var frontendExceptions = map[string]string{
	`sum(data{test="ten"})`: "Kahan summation compensates within one shard, not across shards: 1e100 and -1e100 in different shards do not cancel",
	`avg(data{test="ten"})`: "Kahan summation compensates within one shard, not across shards: 1e100 and -1e100 in different shards do not cancel",
}

// frontendTestLimits are testLimits with query sharding in 3 shards and
// the results cache on for every tenant. The out-of-order window still
// covers the spread of a script's data (days around 1970), and ends long
// after it, so that the frontend, which counts it back from now, caches
// the answers.
func frontendTestLimits(t testing.TB) *limits.Overrides {
	var l limits.Limits
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	l.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-ingester.out-of-order-time-window=10000d", "-querier.max-samples=0", "-ingester.max-series-per-tenant=0",
		"-query-frontend.query-sharding-total-shards=3", "-query-frontend.results-cache-enabled=true"}))
	return limits.NewOverrides(l, nil)
}

// frontendServer is the query-frontend of one storage of the scripts (a
// storage lives until the next clear command) served over HTTP.
type frontendServer struct {
	srv *httptest.Server
	reg *prometheus.Registry
}

// frontendEngine is a promql.QueryEngine whose queries are requests to the
// query-frontend of the storage they read.
type frontendEngine struct {
	whole promql.QueryEngine // the querier's engine, for the exceptions

	mu      sync.Mutex
	servers map[storage.Queryable]*frontendServer // guarded by mu
	ran     map[string]bool                       // the exceptions run, guarded by mu

	counters map[string]*atomic.Int64 // the shard counts of the requests in flight, by queryIDHeader; guarded by mu
	nextID   int                      // guarded by mu

	sharder *querysharding.Sharder // to tell the range queries that shard

	ranges, shardable, sharded, histograms, cacheHits atomic.Int64
}

// queryIDHeader names the request of a query, for its shard count.
const queryIDHeader = "X-Test-Query-Id"

// newCounter returns the id and shard count of a new request.
func (e *frontendEngine) newCounter() (string, *atomic.Int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	id := strconv.Itoa(e.nextID)
	n := &atomic.Int64{}
	e.counters[id] = n
	return id, n
}

func (e *frontendEngine) counter(id string) *atomic.Int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counters[id]
}

func (e *frontendEngine) doneCounter(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.counters, id)
}

// newStorage starts an ingester, a querier over it and a query-frontend in
// front of the querier, wired as initQueryFrontend wires them.
func (e *frontendEngine) newStorage(tb testing.TB, lim *limits.Overrides) *pushStorage {
	s := newPushStorage(tb, lim)
	var qcfg querier.Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	qcfg.RegisterFlags(fs)
	require.NoError(tb, fs.Parse([]string{"-querier.promql-experimental-features", "-querier.timeout=100s", "-querier.lookback-delta=5m"}))
	resolver := tenant.Resolver{MultiTenancy: true}
	q, err := querier.New(qcfg, s.pusher.(wire.Reader), lim, resolver, querier.Version{}, nil, nil)
	require.NoError(tb, err)

	var fcfg frontend.Config
	fs = flag.NewFlagSet("", flag.ContinueOnError)
	fcfg.RegisterFlags(fs)
	require.NoError(tb, fs.Parse(nil))
	require.Equal(tb, frontend.CacheInMemory, fcfg.ResultsCache.Backend)
	sharder := querysharding.New(querysharding.Options{Engine: promql.EngineOpts{
		Parser:                   querier.NewParser(qcfg),
		EnableDelayedNameRemoval: qcfg.ExperimentalPromQL,
	}})
	reg := prometheus.NewRegistry()
	f, err := frontend.New(fcfg, shardCounter{frontend.HandlerTransport(q.Handler())}, lim, resolver, reg, nil,
		frontend.WithMiddleware(frontend.Sharding(sharder, lim)))
	require.NoError(tb, err)
	// The count of a request's shards goes from the request to the
	// downstream in the context.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := e.counter(r.Header.Get(queryIDHeader)); n != nil {
			r = r.WithContext(context.WithValue(r.Context(), shardsKey{}, n))
		}
		f.ServeHTTP(w, r)
	}))
	fsrv := &frontendServer{srv: srv, reg: reg}

	// The scripts load data into the past after querying it, which a
	// results cache cannot see (it caches only results older than
	// max_cache_freshness, assumed final): each load invalidates the
	// tenant's results, as a deletion through the process does.
	s.committed = func(context.Context) error {
		f.Invalidate(promqlTenant)
		return nil
	}
	s.close = func() error {
		srv.Close()
		e.cacheHits.Add(int64(regCounter(tb, reg, "weft_query_frontend_results_cache_hits_total")))
		e.mu.Lock()
		delete(e.servers, s)
		e.mu.Unlock()
		return f.Close()
	}
	e.mu.Lock()
	e.servers[s] = fsrv
	e.mu.Unlock()
	return s
}

// regCounter returns the value of the counter name in reg.
func regCounter(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	require.NoError(tb, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	tb.Fatalf("no metric %s", name)
	return 0
}

type shardsKey struct{}

// shardCounter counts, in the context of the frontend's request (which its
// downstream requests carry), the range queries sent to the querier for
// one shard: a query that shards sends one per shard.
type shardCounter struct{ rt http.RoundTripper }

func (c shardCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if n, ok := r.Context().Value(shardsKey{}).(*atomic.Int64); ok && strings.HasSuffix(r.URL.Path, "/query_range") {
		if err := r.ParseForm(); err == nil && strings.Contains(r.Form.Get("query"), querysharding.ShardLabel) {
			n.Add(1)
		}
		// ParseForm read the body; the frontend's request is rebuilt.
		r.Body = io.NopCloser(strings.NewReader(r.PostForm.Encode()))
		r.ContentLength = int64(len(r.PostForm.Encode()))
	}
	return c.rt.RoundTrip(r)
}

func (e *frontendEngine) server(q storage.Queryable) (*frontendServer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.servers[q]
	if !ok {
		return nil, fmt.Errorf("no query-frontend for the storage %T", q)
	}
	return s, nil
}

// excepted says whether qs is one of frontendExceptions, and notes it.
func (e *frontendEngine) excepted(qs string) bool {
	q := atModifier.ReplaceAllString(qs, "")
	if _, ok := frontendExceptions[q]; !ok {
		return false
	}
	e.mu.Lock()
	e.ran[q] = true
	e.mu.Unlock()
	return true
}

func (e *frontendEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	srv, err := e.server(q)
	if err != nil {
		return nil, err
	}
	return &apiQuery{e: e, srv: srv, q: q, qs: qs, path: "/query", form: url.Values{"query": {qs}, "time": {apiTime(ts)}},
		direct: func(ctx context.Context) (promql.Query, error) { return e.whole.NewInstantQuery(ctx, q, opts, qs, ts) }}, nil
}

func (e *frontendEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	if e.excepted(qs) {
		return e.whole.NewRangeQuery(ctx, q, opts, qs, start, end, step)
	}
	srv, err := e.server(q)
	if err != nil {
		return nil, err
	}
	e.ranges.Add(1)
	if _, ok := e.sharder.Shardable(qs, 3); ok {
		e.shardable.Add(1)
	}
	return &apiQuery{e: e, srv: srv, q: q, qs: qs, path: "/query_range",
		form: url.Values{"query": {qs}, "start": {apiTime(start)}, "end": {apiTime(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}},
		direct: func(ctx context.Context) (promql.Query, error) {
			return e.whole.NewRangeQuery(ctx, q, opts, qs, start, end, step)
		}}, nil
}

func apiTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// apiQuery is a query of the scripts as a request to the query API.
type apiQuery struct {
	e        *frontendEngine
	srv      *frontendServer
	q        storage.Queryable
	qs, path string
	form     url.Values
	direct   func(context.Context) (promql.Query, error)
	cancel   context.CancelFunc
}

// apiAnswer is the query API's envelope.
type apiAnswer struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
	Infos     []string `json:"infos"`
}

func (q *apiQuery) Exec(ctx context.Context) *promql.Result {
	ctx, cancel := context.WithCancel(ctx)
	q.cancel = cancel
	defer cancel()
	id, shards := q.e.newCounter()
	defer q.e.doneCounter(id)
	ans, body, err := q.request(ctx, id)
	if err != nil {
		return &promql.Result{Err: err}
	}
	if shards.Load() > 0 {
		q.e.sharded.Add(1)
	}
	if q.path == "/query_range" && ans.Status == "success" && len(ans.Warnings) == 0 && len(ans.Infos) == 0 {
		// Again, from the results cache (answers with annotations are
		// not cached): the scripts check the cached answer, which must
		// be the first one.
		again, body2, err := q.request(ctx, id)
		if err != nil {
			return &promql.Result{Err: err}
		}
		if string(body2) != string(body) {
			return &promql.Result{Err: fmt.Errorf("the answer to %s from the results cache differs:\n%s\nfirst\n%s", q.qs, body2, body)}
		}
		ans = again
	}
	var annos annotations.Annotations
	for _, w := range ans.Warnings {
		annos.Add(textAnnotation{text: w, kind: annotations.PromQLWarning})
	}
	for _, i := range ans.Infos {
		annos.Add(textAnnotation{text: i, kind: annotations.PromQLInfo})
	}
	if ans.Status != "success" {
		return &promql.Result{Err: errors.New(ans.Error), Warnings: annos}
	}
	v, histograms, err := decodeValue(ans.Data.ResultType, ans.Data.Result)
	if err != nil {
		return &promql.Result{Err: fmt.Errorf("cannot decode the answer to %s: %w", q.qs, err)}
	}
	if histograms != nil {
		// The API's JSON gives a native histogram's non-empty buckets
		// with their bounds, not its schema, spans or counter reset hint,
		// which the scripts compare: the answer is compared in the API's
		// form with the querier's engine's, which the scripts then check.
		q.e.histograms.Add(1)
		return q.compareDirect(ctx, histograms, annos)
	}
	return &promql.Result{Value: v, Warnings: annos}
}

// request sends the query to the frontend over HTTP and decodes the
// envelope of its answer.
func (q *apiQuery) request(ctx context.Context, id string) (*apiAnswer, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.srv.srv.URL+querier.Prefix+q.path, strings.NewReader(q.form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(tenant.Header, promqlTenant)
	req.Header.Set(queryIDHeader, id)
	resp, err := q.srv.srv.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	var ans apiAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, nil, fmt.Errorf("cannot decode the answer (%d) to %s: %w: %s", resp.StatusCode, q.qs, err, body)
	}
	if (ans.Status == "success") != (resp.StatusCode == http.StatusOK) {
		return nil, nil, fmt.Errorf("the answer to %s has status %q with code %d", q.qs, ans.Status, resp.StatusCode)
	}
	return &ans, body, nil
}

// compareDirect runs the query on the querier's engine and returns its
// answer if the API's is the same in the API's form (histograms as
// FromPromQL writes them).
func (q *apiQuery) compareDirect(ctx context.Context, got model.Matrix, annos annotations.Annotations) *promql.Result {
	dq, err := q.direct(tenant.With(ctx, promqlTenant))
	if err != nil {
		return &promql.Result{Err: err}
	}
	res := dq.Exec(ctx)
	if res.Err != nil {
		return &promql.Result{Err: fmt.Errorf("the API answered %s, the engine failed: %w", q.qs, res.Err)}
	}
	var want model.Matrix
	switch v := res.Value.(type) {
	case promql.Matrix:
		want = frontend.FromPromQL(v)
	case promql.Vector:
		want = frontend.FromPromQL(vectorAsMatrix(v))
	default:
		return &promql.Result{Err: fmt.Errorf("the API answered %s with histograms, the engine with %s", q.qs, res.Value.Type())}
	}
	if !reflect.DeepEqual(normalize(want), normalize(got)) {
		return &promql.Result{Err: fmt.Errorf("the API's answer to %s differs from the engine's:\n%s\nwant\n%s", q.qs, got, want)}
	}
	return &promql.Result{Value: res.Value, Warnings: annos}
}

func vectorAsMatrix(v promql.Vector) promql.Matrix {
	m := make(promql.Matrix, 0, len(v))
	for _, s := range v {
		ps := promql.Series{Metric: s.Metric}
		if s.H != nil {
			ps.Histograms = []promql.HPoint{{T: s.T, H: s.H}}
		} else {
			ps.Floats = []promql.FPoint{{T: s.T, F: s.F}}
		}
		m = append(m, ps)
	}
	return m
}

// normalize gives a matrix the form of one decoded from JSON: sorted by
// labels, no empty slices.
func normalize(m model.Matrix) string {
	b, _ := json.Marshal(m)
	var out model.Matrix
	_ = json.Unmarshal(b, &out)
	for _, s := range out {
		if len(s.Values) == 0 {
			s.Values = nil
		}
		if len(s.Histograms) == 0 {
			s.Histograms = nil
		}
	}
	sortMatrix(out)
	b, _ = json.Marshal(out)
	return string(b)
}

func sortMatrix(m model.Matrix) {
	for i := 1; i < len(m); i++ {
		for j := i; j > 0 && m[j].Metric.Before(m[j-1].Metric); j-- {
			m[j], m[j-1] = m[j-1], m[j]
		}
	}
}

// decodeValue returns the API's result as a PromQL value. An answer with
// native histograms is returned as a model.Matrix of the series (a vector's
// samples as one point each) instead.
func decodeValue(typ string, raw json.RawMessage) (parser.Value, model.Matrix, error) {
	switch typ {
	case model.ValMatrix.String():
		var m model.Matrix
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, nil, err
		}
		for _, s := range m {
			if len(s.Histograms) > 0 {
				return nil, m, nil
			}
		}
		v, err := frontend.ToPromQL(m)
		if err != nil {
			return nil, nil, err
		}
		return v, nil, nil
	case model.ValVector.String():
		var vec model.Vector
		if err := json.Unmarshal(raw, &vec); err != nil {
			return nil, nil, err
		}
		out := make(promql.Vector, 0, len(vec))
		for _, s := range vec {
			if s.Histogram != nil {
				m := make(model.Matrix, 0, len(vec))
				for _, s := range vec {
					ss := &model.SampleStream{Metric: s.Metric}
					if s.Histogram != nil {
						ss.Histograms = []model.SampleHistogramPair{{Timestamp: s.Timestamp, Histogram: s.Histogram}}
					} else {
						ss.Values = []model.SamplePair{{Timestamp: s.Timestamp, Value: s.Value}}
					}
					m = append(m, ss)
				}
				return nil, m, nil
			}
			out = append(out, promql.Sample{Metric: modelLabels(s.Metric), T: int64(s.Timestamp), F: float64(s.Value)})
		}
		return out, nil, nil
	case model.ValScalar.String():
		var s model.Scalar
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, nil, err
		}
		return promql.Scalar{T: int64(s.Timestamp), V: float64(s.Value)}, nil, nil
	case model.ValString.String():
		var s model.String
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, nil, err
		}
		return promql.String{T: int64(s.Timestamp), V: s.Value}, nil, nil
	}
	return nil, nil, fmt.Errorf("unknown result type %q", typ)
}

func modelLabels(m model.Metric) labels.Labels {
	b := labels.NewScratchBuilder(len(m))
	for n, v := range m {
		b.Add(string(n), string(v))
	}
	b.Sort()
	return b.Labels()
}

// textAnnotation is a warning or info of the API: its text, which already
// holds its position in the query, and its kind for errors.Is.
type textAnnotation struct {
	text string
	kind error
}

func (a textAnnotation) Error() string { return a.text }
func (a textAnnotation) Unwrap() error { return a.kind }

func (q *apiQuery) Close() {}

func (q *apiQuery) Statement() parser.Statement { return nil }

func (q *apiQuery) Stats() *stats.Statistics { return nil }

func (q *apiQuery) Cancel() {
	if q.cancel != nil {
		q.cancel()
	}
}

func (q *apiQuery) String() string { return q.qs }
