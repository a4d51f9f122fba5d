package integration

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
)

// prometheusBinary is the Debian package's Prometheus (2.42: remote write
// 1.0 only, a PromQL engine older than the one weft embeds).
const prometheusBinary = "/usr/bin/prometheus"

const e2eTenant = "e2e-tenant"

// requirePrometheus skips the test without a Prometheus binary, or fails it
// in CI, where the binary is part of the environment.
func requirePrometheus(t *testing.T) {
	t.Helper()
	if fileExists(prometheusBinary) {
		return
	}
	msg := prometheusBinary + " is missing: run .ci/run, or apt-get install prometheus, to get the reference Prometheus"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// prometheusProcess is a real Prometheus server.
type prometheusProcess struct {
	Addr    string
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// tenantProxy forwards remote write to weft and adds the X-Scope-OrgID
// header when the request has none. Debian's Prometheus 2.42 build
// (2.42.0+ds-5+deb12u1) accepts remote_write "headers" in its config, shows
// them in /api/v1/status/config, and then sends none of them, so without
// the proxy every push would be refused with 401 (which Prometheus treats
// as non-recoverable and drops). The proxy plays the authenticating
// gateway that sits in front of weft in real deployments.
type tenantProxy struct {
	URL      string
	injected atomic.Int64 // requests that arrived without the header
	passed   atomic.Int64 // requests that had it
}

func startTenantProxy(t *testing.T, target, tenant string) *tenantProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &tenantProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host
		if r.In.Header.Get(tenantHeader) == "" {
			r.Out.Header.Set(tenantHeader, tenant)
			p.injected.Add(1)
		} else {
			p.passed.Add(1)
		}
	}}
	srv := httptest.NewServer(rp) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// startPrometheus writes a config that scrapes Prometheus itself and weft
// every second and remote-writes everything through remoteWriteURL (weft,
// or a proxy of it) as tenant e2eTenant, starts Prometheus on a free
// loopback port and waits until it is ready.
func startPrometheus(t *testing.T, w *weftProcess, remoteWriteURL string) *prometheusProcess {
	t.Helper()
	dir := t.TempDir()
	p := &prometheusProcess{Addr: freeAddr(t), LogPath: filepath.Join(dir, "prometheus.log"), exited: make(chan struct{})}
	// One shard keeps the samples in WAL order, so once weft has a scrape's
	// `up` it has every sample of that scrape and all earlier ones.
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1m
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: [%q]
  - job_name: weft
    static_configs:
      - targets: [%q]
remote_write:
  - url: %s/api/v1/push
    headers:
      X-Scope-OrgID: %s
    send_exemplars: false
    queue_config:
      capacity: 10000
      min_shards: 1
      max_shards: 1
      max_samples_per_send: 2000
      batch_send_deadline: 1s
      min_backoff: 50ms
      max_backoff: 1s
    metadata_config:
      send: true
      send_interval: 10s
`, p.Addr, w.HTTPAddr, remoteWriteURL, e2eTenant)
	runPrometheus(t, p, prometheusBinary, dir, "prometheus", cfg, "info")
	return p
}

// runPrometheus writes cfg into dir, starts binary with it (its data in
// dir, listening on p.Addr, logging at level into p.LogPath) and waits
// until it is ready; it is killed at the end of the test, and its log
// dumped as name if the test failed.
func runPrometheus(t *testing.T, p *prometheusProcess, binary, dir, name, cfg, level string) {
	t.Helper()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(binary,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.Addr,
		"--log.level="+level,
	)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			dumpLog(t, name, p.LogPath)
		}
	})
	eventually(t, 60*time.Second, 100*time.Millisecond, name+" ready", func() error {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready: %s\n%s", name, p.cmd.ProcessState, tail(p.LogPath, 3000))
		default:
		}
		_, err := httpGet(context.Background(), "http://"+p.Addr+"/-/ready")
		return err
	})
}

// Client returns a client of Prometheus' query API.
func (p *prometheusProcess) Client() *apiClient {
	return newAPIClient("http://"+p.Addr, "http://"+p.Addr+"/api/v1", "")
}

// e2eQuery is one PromQL expression run on both servers.
type e2eQuery struct {
	expr string
	// empty: the answer is expected to be empty (absent of something
	// present); otherwise Prometheus' answer must not be empty, so that an
	// equal answer means something.
	empty bool
	// instant: run only as an instant query (range-vector results).
	instant bool
	// aligned: the expression evaluates selectors at times aligned to
	// whole seconds (subqueries, whose steps are multiples of their
	// resolution), where a sample could sit exactly on a range boundary.
	aligned bool
	// fails: both must refuse the query with the same status and
	// errorType.
	fails bool
}

// e2eQueries are chosen so that Prometheus 2.42 and the 3.x engine in weft
// must give the same answers over the same data: no functions or
// modifiers that changed, no holt_winters, no native histograms, and
// topk/bottomk over values that do not tie.
var e2eQueries = []e2eQuery{
	// Selectors with every kind of matcher.
	{expr: `up`},
	{expr: `up{job="weft"}`},
	{expr: `up{job!="weft"}`},
	{expr: `prometheus_http_requests_total{handler=~"/api/v1/query.*"}`},
	{expr: `prometheus_http_requests_total{handler!~"/api/v1/.*|/metrics", code="200"}`},
	{expr: `{__name__=~"go_(goroutines|threads)", job="weft"}`},
	{expr: `{__name__=~"scrape_.*", job!~"prom.*"}`},
	{expr: `weft_distributor_received_samples_total{tenant="` + e2eTenant + `"}`},
	// Rates.
	{expr: `rate(prometheus_http_requests_total{handler="/metrics"}[10s])`},
	{expr: `rate(process_cpu_seconds_total[15s])`},
	{expr: `irate(prometheus_tsdb_head_samples_appended_total[5s])`},
	{expr: `irate(go_memstats_alloc_bytes_total{job="weft"}[3s])`},
	{expr: `increase(weft_distributor_requests_total[20s])`},
	{expr: `increase(prometheus_remote_storage_samples_total[10s])`},
	{expr: `rate(weft_ingester_samples_appended_total[10s])`},
	{expr: `delta(go_goroutines[20s])`},
	{expr: `deriv(go_memstats_heap_alloc_bytes[20s])`},
	{expr: `changes(process_start_time_seconds[25s])`},
	{expr: `resets(prometheus_http_requests_total[25s])`},
	// Aggregations.
	{expr: `sum by (job) (rate(process_cpu_seconds_total[10s]))`},
	{expr: `sum without (instance) (scrape_duration_seconds)`},
	{expr: `avg(go_goroutines)`},
	{expr: `avg by (job) (go_memstats_heap_alloc_bytes)`},
	{expr: `count by (job) ({__name__=~"go_.*"})`},
	{expr: `count(count by (__name__) ({job="weft"}))`},
	{expr: `max by (job) (process_resident_memory_bytes)`},
	{expr: `min(scrape_samples_scraped)`},
	{expr: `topk(1, scrape_duration_seconds)`},
	{expr: `bottomk(1, go_memstats_heap_inuse_bytes)`},
	{expr: `topk(2, {__name__=~"go_memstats_(heap_inuse|stack_inuse|mspan_inuse|gc_sys)_bytes", job="prometheus"})`},
	{expr: `quantile(0.9, rate(prometheus_http_requests_total[10s]))`},
	{expr: `quantile by (job) (0.5, {__name__=~"go_memstats_.*_bytes"})`},
	{expr: `count_values("value", up)`},
	// Classic histograms exposed by Prometheus and by weft.
	{expr: `histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))`},
	{expr: `histogram_quantile(0.5, sum by (le, handler) (rate(prometheus_http_response_size_bytes_bucket[20s])))`},
	{expr: `histogram_quantile(0.99, sum by (le) (rate(weft_distributor_push_duration_seconds_bucket[10s])))`},
	{expr: `histogram_quantile(0.5, prometheus_http_request_duration_seconds_bucket{handler="/metrics"})`},
	// Offset.
	{expr: `prometheus_tsdb_head_samples_appended_total offset 10s`},
	{expr: `rate(process_cpu_seconds_total[10s] offset 5s)`},
	{expr: `up offset 15s`},
	// Subqueries.
	{expr: `max_over_time(rate(prometheus_http_requests_total{handler="/metrics"}[10s])[14s:2s])`, aligned: true},
	{expr: `min_over_time(sum by (job) (scrape_samples_scraped)[15s:3s])`, aligned: true},
	{expr: `avg_over_time(up[20s:1s])`, aligned: true},
	{expr: `sum_over_time(deriv(go_goroutines[6s])[12s:4s])`, aligned: true},
	// Binary operations with on / ignoring / group_left and set operators.
	{expr: `scrape_samples_post_metric_relabeling / on(job, instance) scrape_samples_scraped`},
	{expr: `scrape_duration_seconds / ignoring(instance) up`},
	{expr: `up * on(instance) group_left(version) prometheus_build_info`},
	{expr: `go_goroutines > bool 10`},
	{expr: `sum by (job) (go_threads) < on(job) sum by (job) (go_goroutines) + 1000`},
	{expr: `process_resident_memory_bytes and on(job) up == 1`},
	{expr: `scrape_series_added unless on(job) up{job="weft"}`},
	{expr: `go_goroutines{job="weft"} - ignoring(job, instance) go_goroutines{job="prometheus"}`},
	{expr: `2 * up + 1`},
	// absent.
	{expr: `absent(nonexistent_metric{job="x"})`},
	{expr: `absent(up)`, empty: true},
	{expr: `absent_over_time(nonexistent_metric[10s])`},
	// Label manipulation.
	{expr: `label_replace(up, "port", "$1", "instance", ".*:([0-9]+)")`},
	{expr: `label_join(up, "both", "/", "job", "instance")`},
	// Time functions.
	{expr: `time()`},
	{expr: `timestamp(up)`},
	{expr: `time() - timestamp(up{job="weft"})`},
	{expr: `hour(timestamp(up))`},
	{expr: `minute()`},
	{expr: `day_of_week(vector(time()))`},
	{expr: `days_in_month()`},
	{expr: `scalar(sum(up))`},
	// Whole series, raw: the strongest check that weft stored what
	// Prometheus scraped.
	{expr: `count_over_time(up[25s])`},
	{expr: `sum_over_time(up[25s])`},
	{expr: `up[10s]`, instant: true},
	{expr: `{__name__=~"weft_.*|go_gc_.*", job="weft"}[15s]`, instant: true},
	{expr: `prometheus_http_requests_total{handler="/metrics"}[10s] offset 5s`, instant: true},
	{expr: `rate(process_cpu_seconds_total[5s])[20s:5s]`, instant: true, aligned: true},
	// Errors: the same status and errorType.
	{expr: `count_over_time({job="weft"}[10s])`, fails: true}, // duplicate label sets once the name is dropped
	{expr: `sum(up`, fails: true},
	{expr: `up[5s] + 1`, fails: true},
	{expr: `histogram_quantile("x", up)`, fails: true},
	// Everything, raw, over more than the compared window.
	{expr: `{__name__=~".+"}[45s]`, instant: true},
}

// point is one sample of a canonical answer.
type point struct {
	T int64
	V float64
}

// canonical turns a query answer into series (by label set) of points, so
// that answers compare independent of order and of result type details.
func canonical(v model.Value) map[string][]point {
	out := map[string][]point{}
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			k := s.Metric.String()
			out[k] = append(out[k], point{int64(s.Timestamp), float64(s.Value)})
		}
	case model.Matrix:
		for _, s := range v {
			k := s.Metric.String()
			for _, p := range s.Values {
				out[k] = append(out[k], point{int64(p.Timestamp), float64(p.Value)})
			}
		}
	case *model.Scalar:
		out["scalar"] = []point{{int64(v.Timestamp), float64(v.Value)}}
	case *model.String:
		out["string"] = []point{{int64(v.Timestamp), 0}}
	}
	return out
}

// floatsEqual compares values within a relative 1e-9: the 3.x engine sums
// with Kahan compensation, 2.42 does not, so sums may differ in the last
// bits. NaN equals NaN (histogram_quantile of an idle histogram).
var floatsEqual = cmp.Comparer(func(a, b float64) bool {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return math.IsNaN(a) && math.IsNaN(b)
	case a == b:
		return true
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return false
	}
	diff := math.Abs(a - b)
	return diff <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) || diff < 1e-12
})

// sampleStats describes every sample Prometheus has between from and to:
// the millisecond-of-second offsets in use, how many samples there are, and
// the youngest series and the time of its first sample.
func sampleStats(ctx context.Context, c *apiClient, from, to int64) (offsets map[int64]bool, n int, youngest string, youngestStart int64, err error) {
	got, err := c.RawSamples(ctx, `{__name__=~".+"}`, from, to)
	if err != nil {
		return nil, 0, "", 0, err
	}
	offsets = map[int64]bool{}
	for name, pts := range got {
		first := int64(math.MaxInt64)
		for ts := range pts {
			offsets[ts%1000] = true
			n++
			first = min(first, ts)
		}
		if first > youngestStart {
			youngest, youngestStart = name, first
		}
	}
	return offsets, n, youngest, youngestStart, nil
}

const (
	// e2eRangeSpan is how far back from the evaluation time the compared
	// range queries start.
	e2eRangeSpan = 20 * time.Second
	// e2eMaxLookback bounds how far back from an evaluation time an
	// e2eQueries expression that computes with samples looks (range
	// selectors, subqueries, offsets). Selectors that only return raw
	// samples may look further.
	e2eMaxLookback = 25 * time.Second
)

// TestRealPrometheusEndToEnd makes a real Prometheus scrape itself and weft
// every second and remote-write everything to weft, then asks both the
// same instant and range queries and requires the same answers, and the
// same /series, /labels and /label/job/values. Another tenant must see
// nothing, and a query without a tenant must get 401.
//
// Prometheus 3 made range selectors left-open: (t-r, t] instead of 2.42's
// [t-r, t]. The two engines only disagree when a sample sits exactly on a
// left boundary, so the evaluation time is chosen at a millisecond-of-second
// that no stored sample has; step multiples of 1s keep that property for
// every step of the range queries. Subqueries evaluate at multiples of their
// resolution (whole seconds), so they are compared only if no sample sits on
// a whole second.
func TestRealPrometheusEndToEnd(t *testing.T) {
	requirePrometheus(t)
	t.Parallel()
	w := startWeft(t, weftOptions{})
	proxy := startTenantProxy(t, w.URL(), e2eTenant)
	prom := startPrometheus(t, w, proxy.URL)
	ctx := testContext(t, 6*time.Minute)
	pc := prom.Client()
	wc := w.Client(e2eTenant)

	// Wait until Prometheus scraped both targets for a while ...
	eventually(t, 90*time.Second, time.Second, "30s of scrapes in prometheus", func() error {
		v, err := pc.Query(ctx, `count_over_time(up[5m]) and up == 1`, time.Now())
		if err != nil {
			return err
		}
		vec, _ := v.(model.Vector)
		if len(vec) != 2 {
			return fmt.Errorf("up of %d targets: %v", len(vec), vec)
		}
		for _, s := range vec {
			if s.Value < 30 {
				return fmt.Errorf("%s has %v scrapes", s.Metric, s.Value)
			}
		}
		return nil
	})
	// ... and every series that exists started before anything the
	// queries look at. Prometheus 3 changed how rate() and increase()
	// extrapolate a counter that starts inside the range (2.42 caps the
	// extrapolation at the counter's zero point before deciding between
	// "to the boundary" and "half an interval"; 3.x decides first), so
	// windows that contain the first sample of a series (Prometheus' and
	// weft's own counters appear seconds after start) legitimately differ.
	var (
		offsets  map[int64]bool
		nSamples int
		evalMs   int64
	)
	waitStart := time.Now()
	eventually(t, 150*time.Second, 2*time.Second, "every series older than the compared window", func() error {
		now := time.Now().UnixMilli()
		var (
			youngest      string
			youngestStart int64
			err           error
		)
		offsets, nSamples, youngest, youngestStart, err = sampleStats(ctx, pc, now-10*60_000, now)
		if err != nil {
			return err
		}
		evalMs = now - 3000
		if oldest := evalMs - (e2eRangeSpan + e2eMaxLookback).Milliseconds(); oldest <= youngestStart {
			return fmt.Errorf("the youngest series %s started at %d, after the oldest compared time %d", youngest, youngestStart, oldest)
		}
		return nil
	})
	t.Logf("waited %s for every series to be older than the compared window", time.Since(waitStart).Round(time.Second))
	// Pick the evaluation time: about 3s ago, at a millisecond-of-second
	// no sample has, so no sample sits on the left boundary of a range.
	base := evalMs / 1000 * 1000
	evalMs = base + 500
	for d := int64(0); offsets[evalMs%1000] && d < 1000; d++ {
		evalMs = base + (500+d*7)%1000
	}
	if offsets[evalMs%1000] {
		t.Fatalf("every millisecond-of-second has a sample; cannot pick an evaluation time free of boundary coincidences")
	}
	alignedOK := !offsets[0]
	evalTime := time.UnixMilli(evalMs)
	t.Logf("%d samples use %d distinct millisecond offsets; evaluating at %s (offset %d ms); subqueries compared: %v",
		nSamples, len(offsets), evalTime.UTC().Format(time.RFC3339Nano), evalMs%1000, alignedOK)

	// Wait until weft has every scrape up to the evaluation time (plus a
	// second): remote write from one shard is in WAL order.
	eventually(t, 60*time.Second, 200*time.Millisecond, "weft caught up with prometheus", func() error {
		v, err := wc.Query(ctx, `timestamp(up)`, time.Now())
		if err != nil {
			return err
		}
		vec, _ := v.(model.Vector)
		if len(vec) != 2 {
			return fmt.Errorf("weft has up of %d targets", len(vec))
		}
		for _, s := range vec {
			if int64(float64(s.Value)*1000) < evalMs+1000 {
				return fmt.Errorf("weft's newest sample of %s is at %v", s.Metric, s.Value)
			}
		}
		return nil
	})

	compare := func(t *testing.T, what string, q e2eQuery, run func(c *apiClient) (model.Value, error)) {
		t.Helper()
		pv, perr := run(pc)
		wv, werr := run(wc)
		if q.fails {
			pe, _ := perr.(*apiError)
			we, _ := werr.(*apiError)
			switch {
			case pe == nil:
				t.Errorf("%s %s: prometheus answered (%v), want an error (the test's query is wrong)", what, q.expr, perr)
			case we == nil:
				t.Errorf("%s %s: weft answered %v (err %v), prometheus refused it: %v", what, q.expr, wv, werr, perr)
			case pe.StatusCode != we.StatusCode || pe.ErrorType != we.ErrorType:
				t.Errorf("%s %s: weft refused it with %d %s (%s), prometheus with %d %s (%s)", what, q.expr,
					we.StatusCode, we.ErrorType, we.Message, pe.StatusCode, pe.ErrorType, pe.Message)
			}
			return
		}
		if perr != nil {
			t.Errorf("%s %s: prometheus: %v", what, q.expr, perr)
			return
		}
		if werr != nil {
			t.Errorf("%s %s: weft: %v", what, q.expr, werr)
			return
		}
		p, wf := canonical(pv), canonical(wv)
		if q.empty != (len(p) == 0) {
			t.Errorf("%s %s: prometheus answered %d series, want empty=%v (the test's query is wrong)", what, q.expr, len(p), q.empty)
		}
		if diff := cmp.Diff(p, wf, floatsEqual); diff != "" {
			t.Errorf("%s %s: weft's answer differs from prometheus' (-prometheus +weft):\n%s", what, q.expr, diff)
		}
	}
	rangeStart := evalTime.Add(-e2eRangeSpan)
	compared := 0
	for _, q := range e2eQueries {
		if q.aligned && !alignedOK {
			t.Logf("not comparing %s: a sample sits on a whole second, where 2.42 and 3.x range boundaries differ", q.expr)
			continue
		}
		compare(t, "instant", q, func(c *apiClient) (model.Value, error) { return c.Query(ctx, q.expr, evalTime) })
		compared++
		if q.instant {
			continue
		}
		for _, step := range []time.Duration{time.Second, 5 * time.Second} {
			compare(t, "range/"+step.String(), q, func(c *apiClient) (model.Value, error) {
				return c.QueryRange(ctx, q.expr, rangeStart, evalTime, step)
			})
			compared++
		}
	}
	t.Logf("compared %d answers of %d expressions", compared, len(e2eQueries))

	// Metadata APIs over the same window.
	for _, m := range [][]string{{`up`}, {`{job="weft"}`}, {`prometheus_http_requests_total{code="200"}`, `go_info`}, {`{__name__=~".+"}`}} {
		ps, err := pc.Series(ctx, m, rangeStart, evalTime)
		if err != nil {
			t.Fatalf("prometheus /series %v: %v", m, err)
		}
		ws, err := wc.Series(ctx, m, rangeStart, evalTime)
		if err != nil {
			t.Fatalf("weft /series %v: %v", m, err)
		}
		if len(ps) == 0 {
			t.Errorf("prometheus /series %v is empty", m)
		}
		if diff := cmp.Diff(ps, ws); diff != "" {
			t.Errorf("/series %v differs (-prometheus +weft):\n%s", m, diff)
		}
		pl, err := pc.Labels(ctx, m, rangeStart, evalTime)
		if err != nil {
			t.Fatalf("prometheus /labels %v: %v", m, err)
		}
		wl, err := wc.Labels(ctx, m, rangeStart, evalTime)
		if err != nil {
			t.Fatalf("weft /labels %v: %v", m, err)
		}
		if diff := cmp.Diff(pl, wl); diff != "" {
			t.Errorf("/labels %v differs (-prometheus +weft):\n%s", m, diff)
		}
		pj, err := pc.LabelValues(ctx, "job", m, rangeStart, evalTime)
		if err != nil {
			t.Fatalf("prometheus /label/job/values %v: %v", m, err)
		}
		wj, err := wc.LabelValues(ctx, "job", m, rangeStart, evalTime)
		if err != nil {
			t.Fatalf("weft /label/job/values %v: %v", m, err)
		}
		if diff := cmp.Diff(pj, wj); diff != "" {
			t.Errorf("/label/job/values %v differs (-prometheus +weft):\n%s", m, diff)
		}
	}
	pl, err := pc.Labels(ctx, nil, rangeStart, evalTime)
	if err != nil {
		t.Fatal(err)
	}
	wl, err := wc.Labels(ctx, nil, rangeStart, evalTime)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pl, wl); diff != "" {
		t.Errorf("/labels differs (-prometheus +weft):\n%s", diff)
	}
	pj, err := pc.LabelValues(ctx, "job", nil, rangeStart, evalTime)
	if err != nil {
		t.Fatal(err)
	}
	wj, err := wc.LabelValues(ctx, "job", nil, rangeStart, evalTime)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"prometheus", "weft"}, pj); diff != "" {
		t.Errorf("prometheus /label/job/values (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(pj, wj); diff != "" {
		t.Errorf("/label/job/values differs (-prometheus +weft):\n%s", diff)
	}

	// Another tenant sees nothing of e2eTenant's data.
	oc := w.Client("other")
	for _, expr := range []string{`up`, `count({__name__=~".+"})`, `{job="weft"}[1m]`} {
		v, err := oc.Query(ctx, expr, evalTime)
		if err != nil {
			t.Errorf("tenant other: %s: %v", expr, err)
		} else if n := len(canonical(v)); n != 0 {
			t.Errorf("tenant other: %s returned %d series of another tenant", expr, n)
		}
	}
	if s, err := oc.Series(ctx, []string{`{__name__=~".+"}`}, rangeStart, evalTime); err != nil || len(s) != 0 {
		t.Errorf("tenant other: /series returned %d series (err %v), want none", len(s), err)
	}
	if l, err := oc.Labels(ctx, nil, rangeStart, evalTime); err != nil || len(l) != 0 {
		t.Errorf("tenant other: /labels returned %v (err %v), want none", l, err)
	}
	if l, err := oc.LabelValues(ctx, "job", nil, rangeStart, evalTime); err != nil || len(l) != 0 {
		t.Errorf("tenant other: /label/job/values returned %v (err %v), want none", l, err)
	}

	// Without a tenant: 401 in the Prometheus error envelope, on every path.
	nc := w.Client("")
	for _, path := range []string{"/query", "/query_range", "/series", "/labels", "/label/job/values"} {
		params := url.Values{"query": {"up"}, "match[]": {"up"}, "start": {formatTime(rangeStart)}, "end": {formatTime(evalTime)}, "step": {"1"}}
		code, body, err := nc.rawGet(ctx, path, params, nil)
		if err != nil {
			t.Fatalf("%s without tenant: %v", path, err)
		}
		e := newAPIError(code, body)
		if code != http.StatusUnauthorized || e.Status != "error" || e.ErrorType == "" || !strings.Contains(e.Message, tenantHeader) {
			t.Errorf("%s without tenant: HTTP %d %s, want 401 with a Prometheus error naming %s", path, code, body, tenantHeader)
		}
	}

	// Prometheus' own view of the remote write: nothing failed or dropped.
	for _, expr := range []string{
		`sum(prometheus_remote_storage_samples_failed_total) or vector(0)`,
		`sum(prometheus_remote_storage_samples_dropped_total) or vector(0)`,
	} {
		v, err := pc.Query(ctx, expr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if vec, _ := v.(model.Vector); len(vec) != 1 || vec[0].Value != 0 {
			t.Errorf("prometheus %s = %v, want 0", expr, v)
		}
	}
	if b, _ := os.ReadFile(prom.LogPath); strings.Contains(string(b), "non-recoverable error") {
		t.Errorf("prometheus logged non-recoverable remote write errors:\n%s", grepLines(string(b), "non-recoverable"))
	}
	t.Logf("remote-write requests: %d carried %s, the proxy added it to %d", proxy.passed.Load(), tenantHeader, proxy.injected.Load())
	w.Stop()
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
