package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MaxBackfill bounds how far in the past the default start time may lie. A TSDB
// refuses samples older than about half a block range (1h) behind its newest sample
// ("out of bounds" / "too old"), so the generated history stays within 50 minutes.
const MaxBackfill = 50 * time.Minute

// WriteConfig configures RunWrite.
type WriteConfig struct {
	// URL is the remote-write endpoint.
	URL string
	// Series is the number of active series, split evenly over Tenants.
	Series int
	// Tenants is the number of tenants; tenant k is named
	// "tenant-<TenantOffset+k>".
	Tenants int
	// TenantOffset shifts the tenants' names, so that two runs can write
	// different tenants (tenant-0, then tenant-1) with the same series.
	TenantOffset int
	// TenantHeaderOff sends no X-Scope-OrgID header.
	TenantHeaderOff bool
	// SamplesPerRequest is the number of series (one sample each) per request.
	SamplesPerRequest int
	// Concurrency is the number of concurrent senders. Sender w always sends the
	// requests (tenant chunks) w, w+Concurrency, ... of every round, in round order,
	// so each series' samples arrive in timestamp order.
	Concurrency int
	// Interval is the sample-time distance between rounds (one sample per series
	// per round).
	Interval time.Duration
	// Rate is the target total samples/s; 0 sends as fast as possible.
	Rate float64
	// Realtime sets Rate to Series/Interval and the default start time to now, like
	// real scrapes: sample timestamps follow the wall clock.
	Realtime bool
	// Duration stops the run after this long (0: no limit; then Rounds is required).
	Duration time.Duration
	// Rounds stops the run after this many rounds (0: no limit).
	Rounds int
	// StartTime is the timestamp of the first round; round r has StartTime +
	// r*Interval, however fast the run goes. Zero picks now - (rounds-1)*Interval,
	// never earlier than now - MaxBackfill (rounds is estimated from Rate and
	// Duration when Rounds is 0, and assumed to cover MaxBackfill when running
	// as fast as possible for a Duration; later rounds then lie in the future).
	StartTime time.Time
	// Protocol is the remote-write protocol version.
	Protocol Protocol
	// Timeout bounds each request.
	Timeout time.Duration
	// ReportInterval is the progress-line period (0: no progress lines).
	ReportInterval time.Duration
}

// RegisterFlags registers the write flags with their defaults on f.
func (c *WriteConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.URL, "url", "http://127.0.0.1:9009/api/v1/push", "remote-write endpoint URL")
	f.IntVar(&c.Series, "series", 100000, "number of active series (split evenly over tenants)")
	f.IntVar(&c.Tenants, "tenants", 1, "number of tenants (tenant-0 .. tenant-K-1 in X-Scope-OrgID)")
	f.IntVar(&c.TenantOffset, "tenant-offset", 0, "number of the first tenant: the tenants are tenant-<offset> .. tenant-<offset+K-1>")
	f.BoolVar(&c.TenantHeaderOff, "tenant-header-off", false, "send no X-Scope-OrgID header")
	f.IntVar(&c.SamplesPerRequest, "samples-per-request", 2000, "series (one sample each) per request")
	f.IntVar(&c.Concurrency, "concurrency", 4, "concurrent senders")
	f.DurationVar(&c.Interval, "interval", 15*time.Second, "sample-time distance between rounds (one sample per series per round)")
	f.Float64Var(&c.Rate, "rate", 0, "target samples/s over all senders; 0 = as fast as possible")
	f.BoolVar(&c.Realtime, "realtime", false, "pace like real scrapes: rate = series/interval, first timestamp = now")
	f.DurationVar(&c.Duration, "duration", time.Minute, "stop after this long (ignored when -rounds is set and -duration is not)")
	f.IntVar(&c.Rounds, "rounds", 0, "stop after this many rounds (0 = until -duration)")
	f.Func("start-time", "timestamp of the first round: RFC 3339, unix seconds, or a negative duration relative to now (e.g. -30m); default now-(rounds-1)*interval, at most "+MaxBackfill.String()+" ago", func(s string) error {
		t, err := ParseTime(s, time.Now())
		c.StartTime = t
		return err
	})
	f.Func("protocol", "remote-write protocol: v1 (1.0) or v2 (2.0)", func(s string) error {
		switch Protocol(s) {
		case ProtocolV1, ProtocolV2:
			c.Protocol = Protocol(s)
			return nil
		}
		return fmt.Errorf("unknown protocol %q (want v1 or v2)", s)
	})
	c.Protocol = ProtocolV1
	f.DurationVar(&c.Timeout, "timeout", 30*time.Second, "timeout of one request")
	f.DurationVar(&c.ReportInterval, "report-interval", 10*time.Second, "progress line period on stderr (0 = none)")
}

// Validate checks the configuration.
func (c *WriteConfig) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("invalid write config: url is empty")
	case c.Series <= 0:
		return errors.New("invalid write config: series must be > 0")
	case c.TenantOffset < 0:
		return errors.New("invalid write config: tenant-offset must be >= 0")
	case c.Tenants <= 0 || c.Tenants > c.Series:
		return fmt.Errorf("invalid write config: tenants must be in [1, series=%d]", c.Series)
	case c.SamplesPerRequest <= 0:
		return errors.New("invalid write config: samples-per-request must be > 0")
	case c.Concurrency <= 0:
		return errors.New("invalid write config: concurrency must be > 0")
	case c.Interval <= 0 || c.Interval%time.Millisecond != 0:
		return errors.New("invalid write config: interval must be a positive whole number of milliseconds")
	case c.Rate < 0:
		return errors.New("invalid write config: rate must be >= 0")
	case c.Duration <= 0 && c.Rounds <= 0:
		return errors.New("invalid write config: set duration or rounds")
	case c.Rounds < 0:
		return errors.New("invalid write config: rounds must be >= 0")
	case c.Protocol != ProtocolV1 && c.Protocol != ProtocolV2:
		return fmt.Errorf("invalid write config: unknown protocol %q", c.Protocol)
	}
	return nil
}

// ParseTime parses an RFC 3339 time, unix seconds (possibly fractional), or a
// duration relative to now (like "-30m").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("cannot parse time %q: want RFC 3339, unix seconds or a duration like -30m", s)
}

// defaultStart implements WriteConfig.StartTime's default.
func (c *WriteConfig) defaultStart(now time.Time, rate float64) time.Time {
	if c.Realtime {
		return now
	}
	var rounds int64
	switch {
	case c.Rounds > 0:
		rounds = int64(c.Rounds)
	case rate > 0:
		rounds = int64(math.Ceil(rate * c.Duration.Seconds() / float64(c.Series)))
	default:
		rounds = math.MaxInt64 / int64(c.Interval) // unknown: as far back as allowed
	}
	back := time.Duration(max(rounds-1, 0)) * c.Interval
	if back > MaxBackfill || back < 0 {
		back = MaxBackfill
	}
	return now.Add(-back)
}

// WriteReport is the outcome of RunWrite.
type WriteReport struct {
	URL             string           `json:"url"`
	Protocol        Protocol         `json:"protocol"`
	Series          int              `json:"series"`
	Tenants         int              `json:"tenants"`
	Elapsed         float64          `json:"elapsed_seconds"`
	RoundsCompleted int              `json:"rounds_completed"`
	Requests        int64            `json:"requests"`
	RequestsOK      int64            `json:"requests_ok"`
	RequestsFailed  int64            `json:"requests_failed"`
	StatusCodes     map[string]int64 `json:"status_codes"`
	SamplesSent     int64            `json:"samples_sent"`
	SamplesAccepted int64            `json:"samples_accepted"`
	// AcceptedPerSec is SamplesAccepted / Elapsed.
	AcceptedPerSec float64 `json:"accepted_samples_per_second"`
	BytesSent      int64   `json:"bytes_sent"`
	// FirstTimestamp and LastTimestamp are the sample timestamps (ms) of the first
	// and of the last round sent.
	FirstTimestamp int64          `json:"first_timestamp_ms"`
	LastTimestamp  int64          `json:"last_timestamp_ms"`
	Latency        LatencySummary `json:"latency"`
	// V2WithoutWrittenHeader counts successful 2.0 pushes whose response lacked
	// X-Prometheus-Remote-Write-Samples-Written. Remote write 2.0 receivers must send
	// it; a 1.0-only receiver (such as Prometheus before 3.0) answers 2.0 payloads with
	// 204 while writing nothing, so a non-zero count means "probably not written".
	// Such pushes count as fully accepted.
	V2WithoutWrittenHeader int64    `json:"v2_without_written_header,omitempty"`
	Errors                 []string `json:"errors,omitempty"`
}

// WriteText writes the report for people.
func (r *WriteReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "write %s (remote write %s): %d series, %d tenants, %d rounds in %.1fs\n",
		r.URL, r.Protocol, r.Series, r.Tenants, r.RoundsCompleted, r.Elapsed)
	fmt.Fprintf(w, "  requests: %d ok, %d failed (%s)\n", r.RequestsOK, r.RequestsFailed, sortedStatus(r.StatusCodes))
	fmt.Fprintf(w, "  samples: %d sent, %d accepted, %.0f accepted samples/s, %.1f bytes/sample on the wire\n",
		r.SamplesSent, r.SamplesAccepted, r.AcceptedPerSec, float64(r.BytesSent)/math.Max(1, float64(r.SamplesSent)))
	if r.LastTimestamp != 0 {
		fmt.Fprintf(w, "  sample time: %s .. %s\n", time.UnixMilli(r.FirstTimestamp).UTC().Format(time.RFC3339),
			time.UnixMilli(r.LastTimestamp).UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "  push latency: %s\n", r.Latency)
	if r.V2WithoutWrittenHeader > 0 {
		fmt.Fprintf(w, "  WARNING: %d remote write 2.0 responses had no X-Prometheus-Remote-Write-Samples-Written header: the receiver may not support 2.0 and may have written nothing\n", r.V2WithoutWrittenHeader)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

// JSON returns the report as indented JSON.
func (r *WriteReport) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

type chunk struct {
	tenant     string
	start, end int
}

// RunWrite pushes cfg.Series series to cfg.URL until cfg.Rounds or cfg.Duration is
// reached or ctx ends, writes progress lines to progress (which may be nil) every
// cfg.ReportInterval, and returns the report. A failed request is counted, not
// retried; the error return is for invalid configurations only.
func RunWrite(ctx context.Context, cfg WriteConfig, progress io.Writer) (WriteReport, error) {
	if err := cfg.Validate(); err != nil {
		return WriteReport{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	rate := cfg.Rate
	if cfg.Realtime {
		rate = float64(cfg.Series) / cfg.Interval.Seconds()
	}
	now := time.Now()
	startTime := cfg.StartTime
	if startTime.IsZero() {
		startTime = cfg.defaultStart(now, rate)
	}
	startMs := startTime.UnixMilli()
	intervalMs := cfg.Interval.Milliseconds()

	set := NewSeriesSet(cfg.Series)
	var chunks []chunk
	for t := 0; t < cfg.Tenants; t++ {
		lo, hi := t*cfg.Series/cfg.Tenants, (t+1)*cfg.Series/cfg.Tenants
		name := "tenant-" + strconv.Itoa(cfg.TenantOffset+t)
		if cfg.TenantHeaderOff {
			name = ""
		}
		for s := lo; s < hi; s += cfg.SamplesPerRequest {
			chunks = append(chunks, chunk{tenant: name, start: s, end: min(s+cfg.SamplesPerRequest, hi)})
		}
	}
	senders := min(cfg.Concurrency, len(chunks))
	fmt.Fprintf(progress, "weft-load write: %s; %d requests per round, %d senders, protocol %s, first timestamp %s\n",
		set.Describe(), len(chunks), senders, cfg.Protocol, startTime.UTC().Format(time.RFC3339))

	client := newHTTPClient(senders, cfg.Timeout)
	defer client.CloseIdleConnections()
	st := newStats()
	var sent, accepted, bytesSent, v2NoHeader atomic.Int64
	var reserved atomic.Int64 // samples reserved by the pacer
	stop := make(chan struct{})
	begin := time.Now()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = begin.Add(cfg.Duration)
		timer := time.AfterFunc(cfg.Duration, func() { close(stop) })
		defer timer.Stop()
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		case <-ctx.Done():
			return true
		default:
			return false
		}
	}

	roundsDone := make([]int, senders)
	lastTs := make([]int64, senders) // timestamp of each sender's last request
	var wg sync.WaitGroup
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := set.NewBuilder()
			for round := 0; cfg.Rounds == 0 || round < cfg.Rounds; round++ {
				ts := startMs + int64(round)*intervalMs
				for c := w; c < len(chunks); c += senders {
					if stopped() {
						return
					}
					ch := chunks[c]
					n := int64(ch.end - ch.start)
					if rate > 0 {
						due := begin.Add(time.Duration(float64(reserved.Add(n)-n) / rate * float64(time.Second)))
						if !deadline.IsZero() && due.After(deadline) {
							return
						}
						if !sleepUntil(ctx, stop, due) {
							return
						}
					}
					payload, err := b.Build(cfg.Protocol, ch.start, ch.end, round, ts)
					if err != nil { // cannot happen for a valid range; report it as a failure
						st.mu.Lock()
						st.recordLocked(0, false, 0, err.Error())
						st.mu.Unlock()
						continue
					}
					code, acc, d, errText, noHeader := push(ctx, client, &cfg, ch.tenant, payload, n)
					if noHeader {
						v2NoHeader.Add(1)
					}
					if code == 0 && ctx.Err() != nil {
						return // the run was canceled: not the server's failure
					}
					lastTs[w] = ts
					sent.Add(n)
					bytesSent.Add(int64(len(payload)))
					accepted.Add(acc)
					st.mu.Lock()
					st.recordLocked(code, code/100 == 2, d, errText)
					st.mu.Unlock()
				}
				roundsDone[w] = round + 1
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
	last, lastAcc := begin, int64(0)
loop:
	for {
		select {
		case <-done:
			break loop
		case now := <-tick:
			st.mu.Lock()
			ok, failed, lat := st.takeIntervalLocked()
			st.mu.Unlock()
			acc := accepted.Load()
			fmt.Fprintf(progress, "%6.0fs: %d requests ok, %d failed, %.0f accepted samples/s (total %d), latency %s\n",
				now.Sub(begin).Seconds(), ok, failed, float64(acc-lastAcc)/now.Sub(last).Seconds(), acc, lat)
			last, lastAcc = now, acc
		}
	}
	elapsed := time.Since(begin)

	rep := WriteReport{
		URL: cfg.URL, Protocol: cfg.Protocol, Series: cfg.Series, Tenants: cfg.Tenants,
		Elapsed:                elapsed.Seconds(),
		SamplesSent:            sent.Load(),
		SamplesAccepted:        accepted.Load(),
		BytesSent:              bytesSent.Load(),
		V2WithoutWrittenHeader: v2NoHeader.Load(),
		RoundsCompleted:        math.MaxInt,
		StatusCodes:            map[string]int64{},
	}
	for _, r := range roundsDone {
		rep.RoundsCompleted = min(rep.RoundsCompleted, r)
	}
	if rep.SamplesSent > 0 {
		rep.FirstTimestamp = startMs
		rep.LastTimestamp = slices.Max(lastTs)
	}
	st.mu.Lock()
	rep.RequestsOK, rep.RequestsFailed = st.ok, st.failed
	rep.Requests = st.ok + st.failed
	for k, v := range st.byStatus {
		rep.StatusCodes[k] = v
	}
	rep.Errors = append([]string(nil), st.errs...)
	rep.Latency = st.lat.summary()
	st.mu.Unlock()
	if elapsed > 0 {
		rep.AcceptedPerSec = float64(rep.SamplesAccepted) / elapsed.Seconds()
	}
	return rep, nil
}

// push sends one payload and returns the status code (0 for a transport error), the
// samples accepted, the latency, on failure an error description, and whether a
// successful 2.0 push lacked the samples-written header.
func push(ctx context.Context, client *http.Client, cfg *WriteConfig, tenant string, payload []byte, n int64) (code int, acc int64, d time.Duration, errText string, noHeader bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, 0, 0, err.Error(), false
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", cfg.Protocol.ContentType())
	req.Header.Set("X-Prometheus-Remote-Write-Version", cfg.Protocol.Version())
	req.Header.Set("User-Agent", "weft-load/1")
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, time.Since(t0), err.Error(), false
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		text := readErrorBody(resp.StatusCode, resp.Body)
		return resp.StatusCode, 0, time.Since(t0), text, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	d = time.Since(t0)
	acc = n
	// Remote write 2.0 receivers say how much they wrote.
	if cfg.Protocol == ProtocolV2 {
		h := resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written")
		if v, err := strconv.ParseInt(h, 10, 64); err == nil {
			acc = v
		} else {
			noHeader = true
		}
	}
	return resp.StatusCode, acc, d, "", noHeader
}
