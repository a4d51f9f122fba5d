package frontend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/dskit/cache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/weft-io/weft/pkg/cacheclient"
	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/tenant"
)

// apiPrefix is where the Prometheus query API is served, in front of the
// querier and by it.
const apiPrefix = "/prometheus/api/v1"

// QueueTimeHeader is the header of a downstream answer that says how long
// the request waited in a queue (seconds, a float): the query-scheduler's
// client sets it, and the frontend reports it in Server-Timing.
const QueueTimeHeader = "X-Weft-Queue-Time"

// maxRequestBody bounds the body of a request the frontend holds to retry.
const maxRequestBody = 16 << 20

// GenerationSource returns a token that changes whenever a tenant's
// cached results may have become wrong for a reason the frontend does not
// see: a series deletion requested through another process or applied by
// the compactor, blocks removed by retention. An error disables the cache
// for the query.
type GenerationSource func(ctx context.Context, tenantID string) (string, error)

// RangeRequest is one range query sent downstream: the points Start,
// Start+Step, ..., End (ms; End is one of them).
type RangeRequest struct {
	Query            string
	Start, End, Step int64
}

// Runner runs a range request downstream. The tenant is in ctx
// (tenant.From). An answer other than 2xx is a *DownstreamError.
type Runner func(ctx context.Context, r RangeRequest) (*Result, error)

// Middleware wraps the Runner that computes each range the cache does not
// hold, of each split part: a query sharder runs several sub-queries
// through next and combines their results. Every call of next counts
// against the tenant's max_query_parallelism.
type Middleware func(next Runner) Runner

// DownstreamError is an answer of the downstream other than 2xx: the
// frontend gives it to its client unchanged.
type DownstreamError struct {
	Status int
	Header http.Header
	Body   []byte
}

func (e *DownstreamError) Error() string {
	return fmt.Sprintf("the querier answered %d: %s", e.Status, bytes.TrimSpace(e.Body))
}

// Option configures a Frontend.
type Option func(*Frontend)

// WithGenerationSource adds g to the generation of each tenant's cached
// results. Without it only deletions through this process invalidate them.
func WithGenerationSource(g GenerationSource) Option {
	return func(f *Frontend) { f.genSource = g }
}

// WithMiddleware inserts m after splitting and caching, around the
// downstream call of each range left to compute (query sharding).
func WithMiddleware(m Middleware) Option {
	return func(f *Frontend) { f.middleware = m }
}

// Frontend serves the Prometheus query API in front of the queriers: it
// splits range queries by time, caches their results per tenant, retries
// failed requests, and passes everything else through.
type Frontend struct {
	cfg Config
	// downstream answers every request the frontend sends: the querier
	// in the process (HandlerTransport), one over HTTP (URLTransport) or
	// the query-scheduler's client.
	downstream http.RoundTripper
	limits     *limits.Overrides
	resolver   tenant.Resolver
	parser     parser.Parser
	cache      cache.Cache // nil: no results cache
	genSource  GenerationSource
	middleware Middleware
	m          *metrics
	logger     *slog.Logger
	now        func() time.Time
	closeOnce  sync.Once

	mu   sync.Mutex
	gens map[string]*generation // by tenant; guarded by mu
}

// generation is a tenant's cache generation: the source's token, when it
// was read, and the deletions through this process.
type generation struct {
	token   string
	read    time.Time
	deleted uint64
}

// New returns a frontend that sends its requests to downstream. reg and
// logger may be nil.
func New(cfg Config, downstream http.RoundTripper, lim *limits.Overrides, resolver tenant.Resolver, reg prometheus.Registerer, logger *slog.Logger, opts ...Option) (*Frontend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if downstream == nil {
		return nil, errors.New("cannot create the query-frontend: no downstream")
	}
	f := &Frontend{
		cfg: cfg, downstream: downstream, limits: lim, resolver: resolver,
		// Every feature on: the frontend only rewrites @ start()/end(),
		// and the querier refuses what its configuration does not allow.
		parser: parser.NewParser(parser.Options{EnableExperimentalFunctions: true, EnableBinopFillModifiers: true, EnableUnquotedUTF8Names: true}),
		logger: logutil.OrNop(logger), now: time.Now, gens: map[string]*generation{},
	}
	for _, o := range opts {
		o(f)
	}
	var err error
	if f.m, err = newMetrics(reg); err != nil {
		return nil, err
	}
	switch cfg.ResultsCache.Backend {
	case CacheInMemory:
		f.cache = cacheclient.NewInMemory(cfg.ResultsCache.InMemory.MaxSizeBytes, cfg.ResultsCache.InMemory.MaxItemSize)
	case CacheMemcached:
		mc, err := cacheclient.NewMemcached(cfg.ResultsCache.Memcached, "frontend-results", reg, f.logger)
		if err != nil {
			return nil, fmt.Errorf("cannot create the memcached client of the results cache: %w", err)
		}
		f.cache = mc
	}
	return f, nil
}

// Close stops the cache client. Safe to call twice.
func (f *Frontend) Close() error {
	f.closeOnce.Do(func() {
		if f.cache != nil {
			f.cache.Stop()
		}
	})
	return nil
}

// Invalidate makes every cached result of tenantID unreachable: the
// frontend calls it itself after a series deletion it passed through, and
// pkg/app after one it served.
func (f *Frontend) Invalidate(tenantID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.gens[tenantID]
	if g == nil {
		g = &generation{}
		f.gens[tenantID] = g
	}
	g.deleted++
	g.read = time.Time{} // read the source again: the deletion is there now
	// Federated reads ("a|b") that include the tenant are stale too.
	for id, fg := range f.gens {
		if tenant.IsFederated(id) && slices.Contains(tenant.Split(id), tenantID) {
			fg.deleted++
			fg.read = time.Time{}
		}
	}
}

// generation returns the tenant's cache generation.
func (f *Frontend) generation(ctx context.Context, tenantID string) (string, error) {
	f.mu.Lock()
	g := f.gens[tenantID]
	if g == nil {
		g = &generation{}
		f.gens[tenantID] = g
	}
	token, read, deleted := g.token, g.read, g.deleted
	f.mu.Unlock()
	if f.genSource != nil && (read.IsZero() || f.now().Sub(read) >= f.cfg.GenerationRefresh) {
		t, err := f.genSource(ctx, tenantID)
		if err != nil {
			return "", err
		}
		f.mu.Lock()
		g.token, g.read = t, f.now()
		f.mu.Unlock()
		token = t
	}
	return token + "/" + strconv.FormatUint(deleted, 10), nil
}

// timings are the parts of a request's time that Server-Timing reports,
// in nanoseconds: queue (the downstream's queue, summed over its
// requests), split (parsing, splitting and merging), cache (lookups and
// writes) and eval (waiting for the downstream, wall time).
type timings struct {
	queue, split, cache, eval atomic.Int64
}

func (t *timings) header() string {
	ms := func(v *atomic.Int64) string {
		return strconv.FormatFloat(float64(v.Load())/1e6, 'f', 3, 64)
	}
	return "queue;dur=" + ms(&t.queue) + ", split;dur=" + ms(&t.split) + ", cache;dur=" + ms(&t.cache) + ", eval;dur=" + ms(&t.eval)
}

func since(v *atomic.Int64, t time.Time) { v.Add(int64(time.Since(t))) }

// statusWriter remembers the status written, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP serves the query API: range queries split and cached, every
// other request passed through.
func (f *Frontend) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &statusWriter{ResponseWriter: rw}
	op := "pass_through"
	if isQueryRange(r.URL.Path) {
		op = "query_range"
	}
	defer func() { f.m.requests.WithLabelValues(op, strconv.Itoa(w.code)).Inc() }()
	tm := &timings{}
	id, err := f.resolver.FromRequest(r)
	if err != nil {
		w.Header().Set("Server-Timing", tm.header())
		httpapi.WriteError(w, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		w.Header().Set("Server-Timing", tm.header())
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "cannot read the request: %w", err))
		return
	}
	if len(body) > maxRequestBody {
		w.Header().Set("Server-Timing", tm.header())
		httpapi.WriteError(w, httpapi.Errorf(http.StatusRequestEntityTooLarge, "the request is larger than %d bytes", maxRequestBody))
		return
	}
	ctx := tenant.With(r.Context(), id)
	r = r.WithContext(ctx)
	if op == "query_range" {
		if form, ok := rangeForm(r, body); ok {
			t0 := time.Now()
			rq, ok := parseRangeQuery(form, f.parser)
			since(&tm.split, t0)
			if ok {
				f.serveRange(w, r, id, rq, tm)
				return
			}
		}
	}
	f.passThrough(w, r, id, body, tm)
}

// rangeForm returns the parameters of a range query, from the URL and a
// form-encoded body.
func rangeForm(r *http.Request, body []byte) (url.Values, bool) {
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			return nil, false
		}
		bf, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false
		}
		for k, v := range bf {
			form[k] = append(v, form[k]...)
		}
	} else if r.Method != http.MethodGet {
		return nil, false
	}
	return form, true
}

// passThrough sends r downstream as it is and streams the answer back.
func (f *Frontend) passThrough(w http.ResponseWriter, r *http.Request, id string, body []byte, tm *timings) {
	t0 := time.Now()
	resp, err := f.roundTrip(r.Context(), tm, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://querier"+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		for k, v := range r.Header {
			req.Header[k] = v
		}
		req.Header.Del("Accept-Encoding") // the transport asks for and undoes compression itself
		req.Header.Set(tenant.Header, id)
		return req, nil
	})
	since(&tm.eval, t0)
	if err != nil {
		w.Header().Set("Server-Timing", tm.header())
		httpapi.WriteError(w, err)
		return
	}
	defer resp.Body.Close()
	if isDeleteSeries(r.Method, r.URL.Path) && resp.StatusCode/100 == 2 {
		f.Invalidate(id)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Server-Timing", tm.header())
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// roundTrip sends the request newReq builds downstream, again after a
// connection error or a 5xx answer, at most cfg.MaxRetries more times
// while ctx lasts. The last answer is returned whatever its status.
func (f *Frontend) roundTrip(ctx context.Context, tm *timings, newReq func() (*http.Request, error)) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		f.m.downstream.Inc()
		resp, err := f.downstream.RoundTrip(req)
		if err == nil {
			if q := resp.Header.Get(QueueTimeHeader); q != "" {
				if s, perr := strconv.ParseFloat(q, 64); perr == nil && s > 0 {
					tm.queue.Add(int64(s * 1e9))
				}
			}
			if resp.StatusCode < 500 || attempt >= f.cfg.MaxRetries || ctx.Err() != nil {
				return resp, nil
			}
			// A query that ran out of time would only run out of time
			// again: its answer is final.
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if rerr == nil && bytes.Contains(body, []byte(`"errorType":"timeout"`)) {
				resp.Body = io.NopCloser(bytes.NewReader(body))
				return resp, nil
			}
		} else if attempt >= f.cfg.MaxRetries || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("cannot reach the querier: %w", ctx.Err())
			}
			return nil, httpapi.Errorf(http.StatusBadGateway, "cannot reach the querier: %w", err)
		}
		f.m.retries.Inc()
	}
}

// rangeRequest returns a function building the downstream request of rr,
// a form-encoded POST (long queries do not fit in a URL).
func (f *Frontend) rangeRequest(ctx context.Context, id string, rr RangeRequest) func() (*http.Request, error) {
	form := url.Values{
		"query": {rr.Query}, "start": {formatTime(rr.Start)}, "end": {formatTime(rr.End)},
		"step": {strconv.FormatFloat(float64(rr.Step)/1000, 'f', -1, 64)},
	}
	enc := form.Encode()
	return func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://querier"+apiPrefix+"/query_range", strings.NewReader(enc))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(tenant.Header, id)
		return req, nil
	}
}

// runDownstream returns the Runner that sends range requests downstream,
// at most parallelism at once.
func (f *Frontend) runDownstream(sem chan struct{}, tm *timings) Runner {
	return func(ctx context.Context, rr RangeRequest) (*Result, error) {
		id, err := tenant.From(ctx)
		if err != nil {
			return nil, err
		}
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		f.m.downstreamRanges.Inc()
		resp, err := f.roundTrip(ctx, tm, f.rangeRequest(ctx, id, rr))
		if err != nil {
			return nil, err
		}
		br, err := readResponse(resp)
		if err != nil {
			return nil, fmt.Errorf("cannot read the querier's answer: %w", err)
		}
		if br.status/100 != 2 {
			return nil, &DownstreamError{Status: br.status, Header: br.header, Body: br.body}
		}
		res, err := DecodeResult(br.body)
		if err != nil {
			return nil, err
		}
		if noStore(br.header.Values("Cache-Control")) {
			res.uncacheable = true
		}
		return res, nil
	}
}
