package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FairnessConfig configures RunFairness: a probe tenant runs one query at a
// time, alone and while a flood tenant floods heavy queries, in rounds that
// alternate the two phases so that both see the same machine.
type FairnessConfig struct {
	// URL is the base of the Prometheus query API.
	URL string
	// FloodTenant and ProbeTenant are the two tenants' X-Scope-OrgID.
	FloodTenant, ProbeTenant string
	// FloodExpr and ProbeExpr are the tenants' range queries.
	FloodExpr, ProbeExpr string
	// FloodClients is the flood's concurrent clients (closed loop).
	FloodClients int
	// Phase is the length of each measured phase; Warmup the time the
	// flood runs before its phase is measured.
	Phase, Warmup time.Duration
	// Rounds is how many times the two phases alternate.
	Rounds int
	// Range and Step are those of every query (Step 0: AutoStep).
	Range, Step time.Duration
	// Series is the write mode's series count, to pick "$instance".
	Series int
}

// RegisterFlags registers the fairness flags with their defaults on f.
func (c *FairnessConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.URL, "url", "http://127.0.0.1:9009/prometheus", "base URL of the Prometheus query API")
	f.StringVar(&c.FloodTenant, "flood-tenant", "tenant-0", "X-Scope-OrgID of the flooding tenant")
	f.StringVar(&c.ProbeTenant, "probe-tenant", "tenant-1", "X-Scope-OrgID of the tenant whose latency is measured")
	f.StringVar(&c.FloodExpr, "flood-expr", DefaultQueries[0], "the flood's range query")
	f.StringVar(&c.ProbeExpr, "probe-expr", `sum by (job) (rate(node_network_receive_bytes_total[5m]))`, "the probe's range query")
	f.IntVar(&c.FloodClients, "flood-clients", 1000, "concurrent clients of the flood")
	f.DurationVar(&c.Phase, "phase", 10*time.Second, "length of each measured phase")
	f.DurationVar(&c.Warmup, "warmup", 3*time.Second, "how long the flood runs before its phase is measured")
	f.IntVar(&c.Rounds, "rounds", 3, "alternations of the two phases")
	f.DurationVar(&c.Range, "range", time.Hour, "time range of each query, ending now")
	f.DurationVar(&c.Step, "step", 0, "query resolution; 0 = auto: range/250, at least 15s")
	f.IntVar(&c.Series, "series", 100000, "series count used in write mode (to pick existing instances)")
}

// Validate checks the configuration.
func (c *FairnessConfig) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("invalid fairness config: url is empty")
	case c.FloodClients <= 0 || c.Rounds <= 0 || c.Phase <= 0 || c.Warmup < 0 || c.Range <= 0 || c.Series <= 0:
		return errors.New("invalid fairness config: flood-clients, rounds, phase, range and series must be > 0, warmup >= 0")
	}
	return nil
}

// PhaseStats is the probe's latency in one kind of phase, every round
// pooled, and the time its queries waited in the query-scheduler (from
// the query-frontend's Server-Timing "queue" entry, or the scheduler's
// X-Weft-Queue-Time header, when the server sends one).
type PhaseStats struct {
	Queries   int64          `json:"queries"`
	Failed    int64          `json:"failed"`
	Latency   LatencySummary `json:"latency"`
	QueueTime LatencySummary `json:"queue_time"`
}

// FairnessReport is the outcome of RunFairness.
type FairnessReport struct {
	Alone   PhaseStats `json:"alone"`
	Flooded PhaseStats `json:"flooded"`
	// P99Ratio is the probe's p99 flooded over alone.
	P99Ratio float64 `json:"p99_ratio"`
	// Flood: queries answered, refused with 429, and cut by the end of
	// their phase (cancelled by the client, queued or running).
	FloodOK        int64            `json:"flood_ok"`
	FloodStatus    map[string]int64 `json:"flood_status_codes"`
	FloodCancelled int64            `json:"flood_cancelled"`
	Errors         []string         `json:"errors,omitempty"`
}

// WriteText writes the report for people.
func (r *FairnessReport) WriteText(w io.Writer) {
	line := func(name string, p PhaseStats) {
		fmt.Fprintf(w, "  probe %-8s %6d ok %3d failed  latency %s  queue time p99 %s\n", name, p.Queries-p.Failed, p.Failed, p.Latency, p.QueueTime.P99)
	}
	line("alone", r.Alone)
	line("flooded", r.Flooded)
	fmt.Fprintf(w, "  flood: %d answered, %d cut at the end of their phase, status codes %s\n", r.FloodOK, r.FloodCancelled, sortedStatus(r.FloodStatus))
	fmt.Fprintf(w, "  probe p99 flooded / alone: %.2fx\n", r.P99Ratio)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

// JSON returns the report as indented JSON.
func (r *FairnessReport) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

// phaseHist collects one kind of phase.
type phaseHist struct {
	lat, queue      latencyHist
	queries, failed int64
}

func (h *phaseHist) stats() PhaseStats {
	return PhaseStats{Queries: h.queries, Failed: h.failed, Latency: h.lat.summary(), QueueTime: h.queue.summary()}
}

// RunFairness measures how much a flood of one tenant's queries slows
// another tenant's: cfg.Rounds times, the probe runs alone for a phase,
// then the flood starts, and after its warmup the probe runs again for a
// phase; the flood's clients then give up, their queued queries with them.
func RunFairness(ctx context.Context, cfg FairnessConfig, progress io.Writer) (FairnessReport, error) {
	if err := cfg.Validate(); err != nil {
		return FairnessReport{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	step := cfg.Step
	if step == 0 {
		step = AutoStep(cfg.Range)
	}
	numInst := NewSeriesSet(cfg.Series).Instances()
	endpoint := strings.TrimSuffix(cfg.URL, "/") + "/api/v1/query_range"
	probeClient := newHTTPClient(1, 0)
	defer probeClient.CloseIdleConnections()
	floodClient := newHTTPClient(cfg.FloodClients, 0)
	defer floodClient.CloseIdleConnections()
	expr := func(e string, i uint64) string {
		return strings.ReplaceAll(e, "$instance", InstanceName(int(mix(i)%uint64(numInst))))
	}

	rep := FairnessReport{FloodStatus: map[string]int64{}}
	var alone, flooded phaseHist
	probe := func(h *phaseHist) {
		deadline := time.Now().Add(cfg.Phase)
		for i := uint64(0); time.Now().Before(deadline) && ctx.Err() == nil; i++ {
			end := time.Now().Truncate(step)
			var queue time.Duration
			code, _, _, d, errText := rangeQuery(ctx, probeClient, endpoint, cfg.ProbeTenant, expr(cfg.ProbeExpr, i), end.Add(-cfg.Range), end, step, func(h http.Header) {
				queue = queueTime(h)
			})
			if code == 0 && ctx.Err() != nil {
				return
			}
			h.queries++
			if errText != "" {
				h.failed++
				if len(rep.Errors) < 10 {
					rep.Errors = append(rep.Errors, errText)
				}
				continue
			}
			h.lat.observe(d)
			h.queue.observe(queue)
		}
	}
	var (
		mu        sync.Mutex
		cancelled atomic.Int64
	)
	for round := 1; round <= cfg.Rounds && ctx.Err() == nil; round++ {
		probe(&alone)
		fctx, stopFlood := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for c := range cfg.FloodClients {
			wg.Go(func() {
				for i := uint64(c); fctx.Err() == nil; i += uint64(cfg.FloodClients) {
					end := time.Now().Truncate(step)
					code, _, _, _, _ := rangeQuery(fctx, floodClient, endpoint, cfg.FloodTenant, expr(cfg.FloodExpr, i), end.Add(-cfg.Range), end, step, nil)
					if code == 0 && fctx.Err() != nil {
						cancelled.Add(1)
						return
					}
					mu.Lock()
					rep.FloodStatus[statusKey(code)]++
					if code == http.StatusOK {
						rep.FloodOK++
					}
					mu.Unlock()
					if code == http.StatusTooManyRequests {
						// Back off as Prometheus clients do.
						select {
						case <-fctx.Done():
						case <-time.After(100 * time.Millisecond):
						}
					}
				}
			})
		}
		select {
		case <-ctx.Done():
		case <-time.After(cfg.Warmup):
		}
		probe(&flooded)
		stopFlood()
		wg.Wait()
		fmt.Fprintf(progress, "round %d: probe alone p99 %s, flooded p99 %s\n", round, alone.lat.summary().P99, flooded.lat.summary().P99)
	}
	rep.Alone, rep.Flooded = alone.stats(), flooded.stats()
	rep.FloodCancelled = cancelled.Load()
	if rep.Alone.Latency.P99 > 0 {
		rep.P99Ratio = float64(rep.Flooded.Latency.P99) / float64(rep.Alone.Latency.P99)
	}
	return rep, nil
}

// queueTime is the time a query waited in weft's query-scheduler: the
// "queue" entry of the frontend's Server-Timing header (milliseconds), or
// the scheduler's own X-Weft-Queue-Time (seconds) without a frontend.
func queueTime(h http.Header) time.Duration {
	for _, v := range h.Values("Server-Timing") {
		for _, m := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(m), ";")
			if name != "queue" {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				if d, ok := strings.CutPrefix(strings.TrimSpace(p), "dur="); ok {
					if ms, err := strconv.ParseFloat(d, 64); err == nil {
						return time.Duration(ms * float64(time.Millisecond))
					}
				}
			}
		}
	}
	if s, err := strconv.ParseFloat(h.Get("X-Weft-Queue-Time"), 64); err == nil {
		return time.Duration(s * float64(time.Second))
	}
	return 0
}
