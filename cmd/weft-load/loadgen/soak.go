package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// SoakMetric is the metric name of the ack-accounting series.
const SoakMetric = "weft_soak_ack"

// soakGroupSize is how many accounting series one read-back query selects (by
// their group label): small enough that a window stays far below query limits.
const soakGroupSize = 20

// SoakConfig configures RunSoak.
type SoakConfig struct {
	// URL is the remote-write endpoint.
	URL string
	// QueryURL is the base of the Prometheus query API (QueryURL + "/api/v1/query").
	QueryURL string
	// Tenant is the X-Scope-OrgID of the accounting series and of their read-back.
	Tenant string
	// Series is the number of accounting series; each round pushes one sample
	// of every one of them in one request.
	Series int
	// Interval is both the period of rounds and their timestamp distance.
	Interval time.Duration
	// Duration is how long rounds are pushed.
	Duration time.Duration
	// Settle is the wait between the last push and the read-back, so that
	// restarted processes and the bucket catch up.
	Settle time.Duration
	// Window is the time range of one read-back query.
	Window time.Duration
	// Timeout bounds each request.
	Timeout time.Duration
	// LoadSeries is the number of node-exporter-like series pushed alongside
	// in real time for tenant-0 (0: none), one sample per LoadInterval.
	LoadSeries   int
	LoadInterval time.Duration
	// QueryConcurrency is the number of dashboard-query clients run alongside
	// over the load series (0: none); QueryRange is their range.
	QueryConcurrency int
	QueryRange       time.Duration
	// QueryPause is each query client's wait after each query.
	QueryPause time.Duration
	// ReportInterval is the progress-line period (0: no progress lines).
	ReportInterval time.Duration
}

// RegisterFlags registers the soak flags with their defaults on f.
func (c *SoakConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.URL, "url", "http://127.0.0.1:9009/api/v1/push", "remote-write endpoint URL")
	f.StringVar(&c.QueryURL, "query-url", "http://127.0.0.1:9009/prometheus", "base URL of the Prometheus query API used to read the samples back")
	f.StringVar(&c.Tenant, "tenant", "soak", "X-Scope-OrgID of the accounting series")
	f.IntVar(&c.Series, "series", 200, "number of accounting series (one request per round)")
	f.DurationVar(&c.Interval, "interval", time.Second, "period and timestamp distance of rounds")
	f.DurationVar(&c.Duration, "duration", 30*time.Minute, "how long to push")
	f.DurationVar(&c.Settle, "settle", 30*time.Second, "wait between the last push and the read-back")
	f.DurationVar(&c.Window, "window", 10*time.Minute, "time range of one read-back query")
	f.DurationVar(&c.Timeout, "timeout", 10*time.Second, "timeout of one request")
	f.IntVar(&c.LoadSeries, "load-series", 0, "node-exporter-like series pushed alongside in real time as tenant-0 (0 = none)")
	f.DurationVar(&c.LoadInterval, "load-interval", 10*time.Second, "sample interval of the load series")
	f.IntVar(&c.QueryConcurrency, "query-concurrency", 0, "dashboard-query clients run alongside over the load series (0 = none)")
	f.DurationVar(&c.QueryRange, "query-range", 10*time.Minute, "range of the dashboard queries")
	f.DurationVar(&c.QueryPause, "query-pause", 200*time.Millisecond, "wait of each query client after each query")
	f.DurationVar(&c.ReportInterval, "report-interval", 30*time.Second, "progress line period on stderr (0 = none)")
}

// Validate checks the configuration.
func (c *SoakConfig) Validate() error {
	switch {
	case c.URL == "" || c.QueryURL == "":
		return errors.New("invalid soak config: url and query-url must be set")
	case c.Series <= 0 || c.Series > 1<<16:
		return errors.New("invalid soak config: series must be in [1, 65536]")
	case c.Interval < time.Millisecond || c.Interval%time.Millisecond != 0:
		return errors.New("invalid soak config: interval must be a positive whole number of milliseconds")
	case c.Duration < c.Interval:
		return errors.New("invalid soak config: duration must be at least one interval")
	case c.Window < c.Interval:
		return errors.New("invalid soak config: window must be at least one interval")
	case c.Settle < 0 || c.Timeout <= 0:
		return errors.New("invalid soak config: settle must be >= 0 and timeout > 0")
	case c.LoadSeries < 0 || c.QueryConcurrency < 0 || c.QueryPause < 0:
		return errors.New("invalid soak config: load-series, query-concurrency and query-pause must be >= 0")
	case c.QueryConcurrency > 0 && c.LoadSeries == 0:
		return errors.New("invalid soak config: query-concurrency needs load-series")
	}
	return nil
}

// SoakCounts is the accounting of the samples read back.
type SoakCounts struct {
	// Acked is the number of samples whose push was answered 2xx.
	Acked int64 `json:"acked"`
	// Found is the number of acknowledged samples read back with their exact value.
	Found int64 `json:"found"`
	// Lost is the number of acknowledged samples missing.
	Lost int64 `json:"lost"`
	// Duplicated is the number of samples returned again at a timestamp already
	// returned for the same series.
	Duplicated int64 `json:"duplicated"`
	// Changed is the number of samples at a pushed timestamp with another value
	// (an acknowledged sample changed counts here, not in Lost).
	Changed int64 `json:"changed"`
	// Unexpected is the number of samples at timestamps never pushed.
	Unexpected int64 `json:"unexpected"`
	// UnackedFound is the number of samples found from pushes that were not
	// acknowledged (the push failed or timed out after being applied): allowed.
	UnackedFound int64 `json:"unacked_found"`
	// Unverified is the number of acknowledged samples that could not be read.
	Unverified int64 `json:"unverified"`
}

// Bad reports whether the accounting found an acknowledged sample lost, a
// sample duplicated or altered, or could not verify everything.
func (c SoakCounts) Bad() bool {
	return c.Lost+c.Duplicated+c.Changed+c.Unexpected+c.Unverified > 0
}

// soakPoint is one sample read back.
type soakPoint struct {
	ts int64
	v  float64
}

// soakValue is the value of series s in round r: a pure function, exact in
// float64, different for every (series, round).
func soakValue(s, r int) float64 { return float64(r)*(1<<16) + float64(s) }

// accountSeries adds to c the comparison of the samples got of series s with
// what was pushed: round r at base+r*step, acknowledged when acked[r].
// Rounds at or after len(acked) were never pushed.
func accountSeries(c *SoakCounts, s int, acked []bool, base, step int64, got []soakPoint) {
	seen := make(map[int]bool, len(got))
	for _, p := range got {
		off := p.ts - base
		r := int(off / step)
		switch {
		case off < 0 || off%step != 0 || r >= len(acked):
			c.Unexpected++
		case seen[r]:
			c.Duplicated++
		case p.v != soakValue(s, r):
			seen[r] = true
			c.Changed++
		default:
			seen[r] = true
			if acked[r] {
				c.Found++
			} else {
				c.UnackedFound++
			}
		}
	}
	for r, ok := range acked {
		if !ok {
			continue
		}
		c.Acked++
		if !seen[r] {
			c.Lost++
		}
	}
}

// SoakReport is the outcome of RunSoak.
type SoakReport struct {
	URL            string  `json:"url"`
	Tenant         string  `json:"tenant"`
	Series         int     `json:"series"`
	Elapsed        float64 `json:"elapsed_seconds"`
	Rounds         int     `json:"rounds"`
	RoundsAcked    int     `json:"rounds_acked"`
	RoundsFailed   int     `json:"rounds_failed"`
	FirstTimestamp int64   `json:"first_timestamp_ms"`
	LastTimestamp  int64   `json:"last_timestamp_ms"`
	// ReadQueries and ReadFailures count the read-back queries (after retries).
	ReadQueries  int          `json:"read_queries"`
	ReadFailures int          `json:"read_failures"`
	Counts       SoakCounts   `json:"counts"`
	Write        *WriteReport `json:"load_write,omitempty"`
	Query        *QueryReport `json:"load_query,omitempty"`
	Errors       []string     `json:"errors,omitempty"`
}

// WriteText writes the report for people.
func (r *SoakReport) WriteText(w io.Writer) {
	c := r.Counts
	fmt.Fprintf(w, "soak %s (tenant %s): %d series, %d rounds in %.0fs: %d acknowledged, %d failed\n",
		r.URL, r.Tenant, r.Series, r.Rounds, r.Elapsed, r.RoundsAcked, r.RoundsFailed)
	fmt.Fprintf(w, "  read back (%d queries, %d failed): acked %d, found %d, LOST %d, DUPLICATED %d, changed %d, unexpected %d, unverified %d, from unacknowledged pushes %d\n",
		r.ReadQueries, r.ReadFailures, c.Acked, c.Found, c.Lost, c.Duplicated, c.Changed, c.Unexpected, c.Unverified, c.UnackedFound)
	if r.Write != nil {
		fmt.Fprintf(w, "  load write: %d requests ok, %d failed, %d samples accepted\n", r.Write.RequestsOK, r.Write.RequestsFailed, r.Write.SamplesAccepted)
	}
	if r.Query != nil {
		fmt.Fprintf(w, "  load query: %d queries ok, %d failed, latency %s\n", r.Query.QueriesOK, r.Query.QueriesFailed, r.Query.Latency)
	}
	verdict := "PASS"
	if c.Bad() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "  %s: no acknowledged sample lost or duplicated\n", verdict)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

// JSON returns the report as indented JSON.
func (r *SoakReport) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

// soakRequest returns the snappy-compressed remote-write 1.0 request of round r.
func soakRequest(series int, ts int64, r int) ([]byte, error) {
	req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, series)}
	for s := range req.Timeseries {
		req.Timeseries[s] = prompb.TimeSeries{
			// Sorted by name, as remote write requires.
			Labels: []prompb.Label{
				{Name: "__name__", Value: SoakMetric},
				{Name: "group", Value: strconv.Itoa(s / soakGroupSize)},
				{Name: "series", Value: strconv.Itoa(s)},
			},
			Samples: []prompb.Sample{{Timestamp: ts, Value: soakValue(s, r)}},
		}
	}
	raw, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("cannot marshal round %d: %w", r, err)
	}
	return snappy.Encode(nil, raw), nil
}

// RunSoak pushes cfg.Series accounting series every cfg.Interval for
// cfg.Duration, remembering which rounds were acknowledged, optionally with
// write and query load alongside; then, after cfg.Settle, reads every series
// back and accounts for each sample. The error return is for invalid
// configurations only.
func RunSoak(ctx context.Context, cfg SoakConfig, progress io.Writer) (SoakReport, error) {
	if err := cfg.Validate(); err != nil {
		return SoakReport{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	rep := SoakReport{URL: cfg.URL, Tenant: cfg.Tenant, Series: cfg.Series}
	begin := time.Now()
	base := begin.UnixMilli()
	step := cfg.Interval.Milliseconds()
	fmt.Fprintf(progress, "weft-load soak: %d accounting series every %s for %s, load %d series, %d query clients\n",
		cfg.Series, cfg.Interval, cfg.Duration, cfg.LoadSeries, cfg.QueryConcurrency)

	var wg sync.WaitGroup
	if cfg.LoadSeries > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc := WriteConfig{URL: cfg.URL, Series: cfg.LoadSeries, Tenants: 1, SamplesPerRequest: 2000,
				Concurrency: 2, Interval: cfg.LoadInterval, Realtime: true, Duration: cfg.Duration,
				Protocol: ProtocolV1, Timeout: cfg.Timeout}
			wr, err := RunWrite(ctx, wc, nil)
			if err != nil {
				fmt.Fprintf(progress, "load write: %v\n", err)
				return
			}
			rep.Write = &wr
		}()
	}
	if cfg.QueryConcurrency > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			qc := QueryConfig{URL: cfg.QueryURL, Tenant: "tenant-0", Range: cfg.QueryRange, Concurrency: cfg.QueryConcurrency,
				Duration: cfg.Duration, Series: cfg.LoadSeries, Timeout: cfg.Timeout, Pause: cfg.QueryPause}
			qr, err := RunQuery(ctx, qc, nil)
			if err != nil {
				fmt.Fprintf(progress, "load query: %v\n", err)
				return
			}
			rep.Query = &qr
		}()
	}

	client := newHTTPClient(2, cfg.Timeout)
	defer client.CloseIdleConnections()
	wcfg := WriteConfig{URL: cfg.URL, Protocol: ProtocolV1}
	var acked []bool // by round; only this goroutine touches it until wg.Wait
	var nAcked, nFailed atomic.Int64
	var lastErr atomic.Value
	stopProgress := make(chan struct{})
	if cfg.ReportInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(cfg.ReportInterval)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case now := <-t.C:
					e, _ := lastErr.Swap("").(string)
					fmt.Fprintf(progress, "%6.0fs: %d rounds acknowledged, %d failed %s\n", now.Sub(begin).Seconds(), nAcked.Load(), nFailed.Load(), e)
				}
			}
		}()
	}
	for r := 0; ; r++ {
		due := begin.Add(time.Duration(r) * cfg.Interval)
		if due.Sub(begin) >= cfg.Duration || !sleepUntil(ctx, nil, due) {
			break
		}
		ts := base + int64(r)*step
		payload, err := soakRequest(cfg.Series, ts, r)
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
			break
		}
		code, _, _, errText, _ := push(ctx, client, &wcfg, cfg.Tenant, payload, int64(cfg.Series))
		if code == 0 && ctx.Err() != nil {
			break // canceled: this round was not the server's to answer
		}
		ok := code/100 == 2
		acked = append(acked, ok)
		if ok {
			nAcked.Add(1)
		} else {
			nFailed.Add(1)
			lastErr.Store("(last error: " + errText + ")")
		}
	}
	close(stopProgress)
	wg.Wait()
	rep.Rounds = len(acked)
	rep.RoundsAcked = int(nAcked.Load())
	rep.RoundsFailed = int(nFailed.Load())
	rep.FirstTimestamp = base
	rep.LastTimestamp = base + int64(max(len(acked)-1, 0))*step
	if len(acked) == 0 {
		rep.Elapsed = time.Since(begin).Seconds()
		return rep, nil
	}

	fmt.Fprintf(progress, "pushed %d rounds (%d acknowledged); reading back after %s\n", rep.Rounds, rep.RoundsAcked, cfg.Settle)
	if !sleepUntil(ctx, nil, time.Now().Add(cfg.Settle)) {
		rep.Errors = append(rep.Errors, "canceled before the read-back")
	}
	endpoint := strings.TrimSuffix(cfg.QueryURL, "/") + "/api/v1/query"
	for g := 0; g*soakGroupSize < cfg.Series; g++ {
		got := map[int][]soakPoint{}
		readOK := true
		for end := rep.LastTimestamp; end >= base; end -= cfg.Window.Milliseconds() {
			rep.ReadQueries++
			err := readGroup(ctx, client, endpoint, cfg.Tenant, g, end, cfg.Window, got)
			if err != nil {
				rep.ReadFailures++
				readOK = false
				if len(rep.Errors) < maxErrorSamples {
					rep.Errors = append(rep.Errors, err.Error())
				}
			}
		}
		for s := g * soakGroupSize; s < min((g+1)*soakGroupSize, cfg.Series); s++ {
			if !readOK {
				for _, ok := range acked {
					if ok {
						rep.Counts.Unverified++
					}
				}
				continue
			}
			accountSeries(&rep.Counts, s, acked, base, step, got[s])
			delete(got, s)
		}
		if len(got) > 0 && readOK {
			rep.Errors = append(rep.Errors, fmt.Sprintf("group %d: %d series never pushed were returned", g, len(got)))
			for _, pts := range got {
				rep.Counts.Unexpected += int64(len(pts))
			}
		}
	}
	rep.Elapsed = time.Since(begin).Seconds()
	return rep, nil
}

// readGroup reads the samples of the accounting series of group g in
// (end-window, end] (a range selector evaluated at end answers raw samples)
// and appends them to got by series number. A failed query is retried a few
// times: the read-back must not fail because of one slow answer.
func readGroup(ctx context.Context, client *http.Client, endpoint, tenant string, g int, end int64, window time.Duration, got map[int][]soakPoint) error {
	q := url.Values{}
	q.Set("query", fmt.Sprintf(`%s{group="%d"}[%dms]`, SoakMetric, g, window.Milliseconds()))
	q.Set("time", strconv.FormatFloat(float64(end)/1000, 'f', -1, 64))
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 && !sleepUntil(ctx, nil, time.Now().Add(time.Duration(attempt)*2*time.Second)) {
			break
		}
		var res soakMatrix
		if res, err = getMatrix(ctx, client, endpoint+"?"+q.Encode(), tenant); err == nil {
			return res.appendTo(got)
		}
	}
	return fmt.Errorf("cannot read group %d up to %d: %w", g, end, err)
}

// soakMatrix is the data of a query answer with a matrix result.
type soakMatrix struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string    `json:"metric"`
		Values [][2]json.RawMessage `json:"values"`
	} `json:"result"`
}

// appendTo adds the samples of m to got by their series label. A series
// returned twice (say, with an extra label) adds its samples twice, which the
// accounting counts as duplicates.
func (m soakMatrix) appendTo(got map[int][]soakPoint) error {
	if m.ResultType != "matrix" {
		return fmt.Errorf("result type %q, want matrix", m.ResultType)
	}
	for _, s := range m.Result {
		n, err := strconv.Atoi(s.Metric["series"])
		if err != nil || s.Metric["__name__"] != SoakMetric || len(s.Metric) != 3 {
			return fmt.Errorf("unexpected series %v", s.Metric)
		}
		for _, p := range s.Values {
			var sec float64
			var val string
			if err := json.Unmarshal(p[0], &sec); err != nil {
				return fmt.Errorf("cannot decode timestamp %s: %w", p[0], err)
			}
			if err := json.Unmarshal(p[1], &val); err != nil {
				return fmt.Errorf("cannot decode value %s: %w", p[1], err)
			}
			v, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return fmt.Errorf("cannot parse value %q: %w", val, err)
			}
			got[n] = append(got[n], soakPoint{ts: int64(math.Round(sec * 1000)), v: v})
		}
	}
	return nil
}

// getMatrix runs one instant query and returns its matrix.
func getMatrix(ctx context.Context, client *http.Client, u, tenant string) (soakMatrix, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return soakMatrix{}, err
	}
	req.Header.Set("User-Agent", "weft-load/1")
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := client.Do(req)
	if err != nil {
		return soakMatrix{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return soakMatrix{}, errors.New(readErrorBody(resp.StatusCode, resp.Body))
	}
	var body struct {
		Status string     `json:"status"`
		Error  string     `json:"error"`
		Data   soakMatrix `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return soakMatrix{}, fmt.Errorf("cannot decode answer: %w", err)
	}
	if body.Status != "success" {
		return soakMatrix{}, fmt.Errorf("status %q: %s", body.Status, body.Error)
	}
	return body.Data, nil
}
