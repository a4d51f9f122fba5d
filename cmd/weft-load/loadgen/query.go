package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueries is the built-in dashboard-like query set. "$instance" is replaced by
// an instance that exists in a SeriesSet of QueryConfig.Series series, a different
// one on each use.
var DefaultQueries = []string{
	`sum by (job) (rate(node_cpu_seconds_total[5m]))`,
	`1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",instance="$instance"}[5m]))`,
	`rate(node_network_receive_bytes_total{instance="$instance"}[5m])`,
	`topk(5, sum by (instance) (rate(node_disk_written_bytes_total[5m])))`,
	`avg_over_time(node_memory_MemFree_bytes[5m])`,
	`histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))`,
	`node_filesystem_avail_bytes{instance="$instance"} / node_filesystem_size_bytes{instance="$instance"}`,
	`sum by (cluster) (node_load1)`,
}

// QueryConfig configures RunQuery.
type QueryConfig struct {
	// URL is the base of the Prometheus query API: URL + "/api/v1/query_range".
	URL string
	// Tenant is sent as X-Scope-OrgID unless empty.
	Tenant string
	// Range is the time range of each query, ending at End.
	Range time.Duration
	// End is where each query's range ends (truncated to the step); zero
	// means now. A fixed end makes two systems holding the same backfilled
	// data answer the same queries, whenever each is asked.
	End time.Time
	// Step is the resolution; 0 picks Range/250 rounded to whole seconds, at least
	// 15s, as Grafana would for a panel about 1000 pixels wide.
	Step time.Duration
	// Concurrency is the number of concurrent clients (closed loop, no pacing).
	Concurrency int
	// Queries stops the run after this many queries (0: no limit).
	Queries int
	// Duration stops the run after this long (0: no limit; then Queries is required).
	Duration time.Duration
	// Series is the series count used in write mode: "$instance" is chosen among the
	// nodes of NewSeriesSet(Series).
	Series int
	// Exprs replaces DefaultQueries when not empty.
	Exprs []string
	// Timeout bounds each query.
	Timeout time.Duration
	// ReportInterval is the progress-line period (0: no progress lines).
	ReportInterval time.Duration
	// CacheControl is sent as the Cache-Control header of each query unless
	// empty: "no-store" keeps a query-frontend's results cache out of the
	// measure (cold queries) without changing the query.
	CacheControl string
	// Pause is how long each client waits after each query: a closed loop
	// without it is as much load as the server can take.
	Pause time.Duration
}

// RegisterFlags registers the query flags with their defaults on f.
func (c *QueryConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.URL, "url", "http://127.0.0.1:9009/prometheus", "base URL of the Prometheus query API (Prometheus itself: http://127.0.0.1:9090)")
	f.StringVar(&c.Tenant, "tenant", "tenant-0", "X-Scope-OrgID of the queries (empty = no header)")
	f.DurationVar(&c.Range, "range", time.Hour, "time range of each query, ending at -end")
	f.Func("end", "end of each query's range: RFC 3339, unix seconds, or a negative duration relative to now (e.g. -1h); default now", func(s string) error {
		t, err := ParseTime(s, time.Now())
		c.End = t
		return err
	})
	f.DurationVar(&c.Step, "step", 0, "query resolution; 0 = auto: range/250, at least 15s")
	f.IntVar(&c.Concurrency, "concurrency", 4, "concurrent clients")
	f.IntVar(&c.Queries, "queries", 0, "stop after this many queries (0 = until -duration)")
	f.DurationVar(&c.Duration, "duration", time.Minute, "stop after this long (ignored when -queries is set and -duration is not)")
	f.IntVar(&c.Series, "series", 100000, "series count used in write mode (to pick existing instances)")
	f.Func("expr", "PromQL expression to run instead of the built-in set (repeatable; $instance is replaced by an existing instance)", func(s string) error {
		c.Exprs = append(c.Exprs, s)
		return nil
	})
	f.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "timeout of one query")
	f.DurationVar(&c.ReportInterval, "report-interval", 10*time.Second, "progress line period on stderr (0 = none)")
	f.DurationVar(&c.Pause, "pause", 0, "wait of each client after each query (0 = closed loop, as fast as answered)")
	f.StringVar(&c.CacheControl, "cache-control", "", "Cache-Control header of each query (e.g. no-store: bypass weft's results cache); empty = none")
}

// Validate checks the configuration.
func (c *QueryConfig) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("invalid query config: url is empty")
	case c.Range <= 0:
		return errors.New("invalid query config: range must be > 0")
	case c.Step < 0:
		return errors.New("invalid query config: step must be >= 0")
	case c.Pause < 0:
		return errors.New("invalid query config: pause must be >= 0")
	case c.Concurrency <= 0:
		return errors.New("invalid query config: concurrency must be > 0")
	case c.Queries < 0:
		return errors.New("invalid query config: queries must be >= 0")
	case c.Queries == 0 && c.Duration <= 0:
		return errors.New("invalid query config: set duration or queries")
	case c.Series <= 0:
		return errors.New("invalid query config: series must be > 0")
	}
	return nil
}

// AutoStep returns the step Grafana would pick for a range: range/250 rounded to whole
// seconds, at least 15s.
func AutoStep(r time.Duration) time.Duration {
	return max((r / 250).Round(time.Second), 15*time.Second)
}

// QueryStats is the outcome of one expression of the query set.
type QueryStats struct {
	Expr    string         `json:"expr"`
	Queries int64          `json:"queries"`
	Failed  int64          `json:"failed"`
	Series  int64          `json:"series_returned"`
	Samples int64          `json:"samples_returned"`
	Latency LatencySummary `json:"latency"`
}

// QueryReport is the outcome of RunQuery.
type QueryReport struct {
	URL             string           `json:"url"`
	Range           float64          `json:"range_seconds"`
	Step            float64          `json:"step_seconds"`
	Elapsed         float64          `json:"elapsed_seconds"`
	Queries         int64            `json:"queries"`
	QueriesOK       int64            `json:"queries_ok"`
	QueriesFailed   int64            `json:"queries_failed"`
	StatusCodes     map[string]int64 `json:"status_codes"`
	QueriesPerSec   float64          `json:"queries_per_second"`
	SeriesReturned  int64            `json:"series_returned"`
	SamplesReturned int64            `json:"samples_returned"`
	Latency         LatencySummary   `json:"latency"`
	PerExpr         []QueryStats     `json:"per_expr"`
	Errors          []string         `json:"errors,omitempty"`
}

// WriteText writes the report for people.
func (r *QueryReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "query %s: range %s, step %s, %d queries in %.1fs (%.2f queries/s)\n", r.URL,
		time.Duration(r.Range*float64(time.Second)), time.Duration(r.Step*float64(time.Second)), r.Queries, r.Elapsed, r.QueriesPerSec)
	fmt.Fprintf(w, "  queries: %d ok, %d failed (%s)\n", r.QueriesOK, r.QueriesFailed, sortedStatus(r.StatusCodes))
	fmt.Fprintf(w, "  returned: %d series, %d samples\n", r.SeriesReturned, r.SamplesReturned)
	fmt.Fprintf(w, "  latency: %s\n", r.Latency)
	for _, q := range r.PerExpr {
		fmt.Fprintf(w, "  %5d q %4d failed %7d series  %s  %s\n", q.Queries, q.Failed, q.Series/max(q.Queries, 1), q.Latency, q.Expr)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

// JSON returns the report as indented JSON.
func (r *QueryReport) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

// exprStats is guarded by the run's stats.mu.
type exprStats struct {
	q, failed, series, samples int64
	lat                        latencyHist
}

// RunQuery runs range queries against cfg.URL until cfg.Queries or cfg.Duration is
// reached or ctx ends, writing progress lines to progress (may be nil). A failed query
// is counted; the error return is for invalid configurations only.
func RunQuery(ctx context.Context, cfg QueryConfig, progress io.Writer) (QueryReport, error) {
	if err := cfg.Validate(); err != nil {
		return QueryReport{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	exprs := cfg.Exprs
	if len(exprs) == 0 {
		exprs = DefaultQueries
	}
	step := cfg.Step
	if step == 0 {
		step = AutoStep(cfg.Range)
	}
	numInst := NewSeriesSet(cfg.Series).Instances()
	endpoint := strings.TrimSuffix(cfg.URL, "/") + "/api/v1/query_range"
	fmt.Fprintf(progress, "weft-load query: %s, %d expressions, range %s, step %s, %d clients\n",
		endpoint, len(exprs), cfg.Range, step, cfg.Concurrency)

	client := newHTTPClient(cfg.Concurrency, cfg.Timeout)
	defer client.CloseIdleConnections()
	if cfg.CacheControl != "" {
		client.Transport = headerTransport{next: client.Transport, key: "Cache-Control", value: cfg.CacheControl}
	}
	st := newStats()
	per := make([]exprStats, len(exprs))
	var seriesRet, samplesRet atomic.Int64
	var next atomic.Int64
	stop := make(chan struct{})
	begin := time.Now()
	if cfg.Duration > 0 {
		t := time.AfterFunc(cfg.Duration, func() { close(stop) })
		defer t.Stop()
	}
	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				idx := next.Add(1) - 1
				if cfg.Queries > 0 && idx >= int64(cfg.Queries) {
					return
				}
				e := int(idx % int64(len(exprs)))
				inst := InstanceName(int(mix(uint64(idx)) % uint64(numInst)))
				expr := strings.ReplaceAll(exprs[e], "$instance", inst)
				end := cfg.End
				if end.IsZero() {
					end = time.Now()
				}
				end = end.Truncate(step)
				code, series, samples, d, errText := rangeQuery(ctx, client, endpoint, cfg.Tenant, expr, end.Add(-cfg.Range), end, step, nil)
				if code == 0 && ctx.Err() != nil {
					return
				}
				ok := errText == ""
				seriesRet.Add(series)
				samplesRet.Add(samples)
				st.mu.Lock()
				st.recordLocked(code, ok, d, errText)
				ps := &per[e]
				ps.q++
				if !ok {
					ps.failed++
				}
				ps.series += series
				ps.samples += samples
				ps.lat.observe(d)
				st.mu.Unlock()
				if c := cfg.Pause; c > 0 && !sleepUntil(ctx, stop, time.Now().Add(c)) {
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var tick <-chan time.Time
	if cfg.ReportInterval > 0 {
		t := time.NewTicker(cfg.ReportInterval)
		defer t.Stop()
		tick = t.C
	}
	last := begin
loop:
	for {
		select {
		case <-done:
			break loop
		case now := <-tick:
			st.mu.Lock()
			ok, failed, lat := st.takeIntervalLocked()
			st.mu.Unlock()
			fmt.Fprintf(progress, "%6.0fs: %d queries ok, %d failed, %.2f queries/s, latency %s\n",
				now.Sub(begin).Seconds(), ok, failed, float64(ok+failed)/now.Sub(last).Seconds(), lat)
			last = now
		}
	}
	elapsed := time.Since(begin)

	rep := QueryReport{
		URL: endpoint, Range: cfg.Range.Seconds(), Step: step.Seconds(), Elapsed: elapsed.Seconds(),
		SeriesReturned: seriesRet.Load(), SamplesReturned: samplesRet.Load(), StatusCodes: map[string]int64{},
	}
	st.mu.Lock()
	rep.QueriesOK, rep.QueriesFailed = st.ok, st.failed
	rep.Queries = st.ok + st.failed
	for k, v := range st.byStatus {
		rep.StatusCodes[k] = v
	}
	rep.Errors = append([]string(nil), st.errs...)
	rep.Latency = st.lat.summary()
	for e := range per {
		ps := &per[e]
		rep.PerExpr = append(rep.PerExpr, QueryStats{Expr: exprs[e], Queries: ps.q, Failed: ps.failed,
			Series: ps.series, Samples: ps.samples, Latency: ps.lat.summary()})
	}
	st.mu.Unlock()
	if elapsed > 0 {
		rep.QueriesPerSec = float64(rep.Queries) / elapsed.Seconds()
	}
	return rep, nil
}

// promResponse is the part of a Prometheus API answer that RunQuery reads. Sample
// pairs are left undecoded: only their number matters.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Values     []json.RawMessage `json:"values"`
			Histograms []json.RawMessage `json:"histograms"`
		} `json:"result"`
	} `json:"data"`
}

// rangeQuery runs one query_range and returns the status code (0 for a transport
// error), the series and samples returned, the latency and, on failure, an error
// description. header, if not nil, is given the answer's headers.
func rangeQuery(ctx context.Context, client *http.Client, endpoint, tenant, expr string, start, end time.Time, step time.Duration, header func(http.Header)) (int, int64, int64, time.Duration, string) {
	q := url.Values{}
	q.Set("query", expr)
	q.Set("start", formatTime(start))
	q.Set("end", formatTime(end))
	q.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return 0, 0, 0, 0, err.Error()
	}
	req.Header.Set("User-Agent", "weft-load/1")
	req.Header.Set("Accept", "application/json")
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, 0, time.Since(t0), err.Error()
	}
	defer resp.Body.Close()
	if header != nil {
		header(resp.Header)
	}
	if resp.StatusCode != http.StatusOK {
		text := readErrorBody(resp.StatusCode, resp.Body)
		return resp.StatusCode, 0, 0, time.Since(t0), text + " (query: " + expr + ")"
	}
	var pr promResponse
	err = json.NewDecoder(resp.Body).Decode(&pr)
	_, _ = io.Copy(io.Discard, resp.Body)
	d := time.Since(t0)
	if err != nil {
		return resp.StatusCode, 0, 0, d, fmt.Sprintf("cannot decode answer to %q: %v", expr, err)
	}
	if pr.Status != "success" {
		return resp.StatusCode, 0, 0, d, fmt.Sprintf("status %q %s: %s (query: %s)", pr.Status, pr.ErrorType, pr.Error, expr)
	}
	var samples int64
	for _, r := range pr.Data.Result {
		samples += int64(len(r.Values) + len(r.Histograms))
	}
	return resp.StatusCode, int64(len(pr.Data.Result)), samples, d, ""
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

// headerTransport sets one header on each request, so that every caller of
// rangeQuery keeps its signature.
type headerTransport struct {
	next       http.RoundTripper
	key, value string
}

// RoundTrip implements http.RoundTripper on a copy of req, which it must not modify.
func (t headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(t.key, t.value)
	return t.next.RoundTrip(req)
}
