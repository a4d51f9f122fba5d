package integration

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/prometheus/prompb"
)

// prometheus3Env names Prometheus 3.16 (v0.316.0), the version whose
// engine weft embeds: scripts/test.sh builds it once (go install
// github.com/prometheus/prometheus/cmd/prometheus@v0.316.0, without
// service discovery, which the test does not use) and sets it.
const prometheus3Env = "WEFT_PROMETHEUS3"

// prometheus3Binary is the binary of prometheus3Env, or where
// scripts/test.sh puts it.
func prometheus3Binary() string {
	if p := os.Getenv(prometheus3Env); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "weft", "prometheus-v0.316.0", "prometheus")
}

// startPrometheus3 starts Prometheus 3.16 with nothing to scrape, taking
// remote write (/api/v1/write) and reporting the samples of each step
// for stats=all, as weft does.
func startPrometheus3(t *testing.T) string {
	t.Helper()
	bin := prometheus3Binary()
	if !fileExists(bin) {
		msg := bin + " is missing: scripts/test.sh builds it, or set " + prometheus3Env + " to a binary of go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte("global:\n  scrape_interval: 15s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.enable-remote-write-receiver",
		"--enable-feature=promql-per-step-stats",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			dumpLog(t, "prometheus", logPath)
		}
	})
	eventually(t, 60*time.Second, 100*time.Millisecond, "prometheus ready", func() error {
		select {
		case <-exited:
			t.Fatalf("prometheus exited before it was ready: %s", tail(logPath, 3000))
		default:
		}
		_, err := httpGet(context.Background(), "http://"+addr+"/-/ready")
		return err
	})
	return addr
}

// shape describes a JSON value by its keys and the kinds of its values, so
// that two answers compare by their fields and not by their timings.
func shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = shape(x)
		}
		return out
	case []any:
		kinds := map[string]bool{}
		for _, x := range v {
			kinds[fmt.Sprint(shape(x))] = true
		}
		var out []string
		for k := range kinds {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	case float64:
		return "number"
	case string:
		return "string"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// samplesOf returns the stats' samples section without peakSamples (the
// peak depends on how the engine batches, which is the same engine but not
// a promise).
func samplesOf(stats map[string]any) map[string]any {
	s, _ := stats["samples"].(map[string]any)
	out := map[string]any{}
	for k, v := range s {
		if k != "peakSamples" {
			out[k] = v
		}
	}
	return out
}

// TestQueryStatsLikePrometheus pushes the same series to weft and to a real
// Prometheus 3.16 and asks both the same instant and range queries with
// stats=all and stats=true: the stats must have the same fields, and, over
// the same samples, the same counts of samples read (in total and per
// step).
func TestQueryStatsLikePrometheus(t *testing.T) {
	t.Parallel()
	prom := startPrometheus3(t)
	w := startWeft(t, weftOptions{})
	ctx := testContext(t, 3*time.Minute)
	const tenant = "stats"

	// Five series with a sample every 15s over the last 10 minutes.
	end := time.Now().Truncate(time.Minute)
	var req prompb.WriteRequest
	for i := range 5 {
		ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "stats_metric"}, {Name: "i", Value: strconv.Itoa(i)}}}
		for at := end.Add(-10 * time.Minute); !at.After(end); at = at.Add(15 * time.Second) {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: at.UnixMilli(), Value: float64(at.Unix() % 1000)})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	wc := w.Client(tenant)
	if err := wc.Push(ctx, &req); err != nil {
		t.Fatalf("push to weft: %v", err)
	}
	pw := newAPIClient("http://"+prom, "http://"+prom+"/api/v1", "")
	pw.pushURL = "http://" + prom + "/api/v1/write"
	if err := pw.Push(ctx, &req); err != nil {
		t.Fatalf("push to prometheus: %v", err)
	}

	type call struct {
		path   string
		params url.Values
	}
	at := formatTime(end.Add(-30 * time.Second))
	calls := []call{
		{"/query", url.Values{"query": {"sum(rate(stats_metric[5m]))"}, "time": {at}}},
		{"/query", url.Values{"query": {`stats_metric{i="1"}[2m]`}, "time": {at}}},
		{"/query_range", url.Values{"query": {"rate(stats_metric[1m])"}, "start": {formatTime(end.Add(-6 * time.Minute))}, "end": {at}, "step": {"60"}}},
		{"/query_range", url.Values{"query": {"max_over_time(stats_metric[2m:30s])"}, "start": {formatTime(end.Add(-5 * time.Minute))}, "end": {at}, "step": {"30"}}},
	}
	for _, c := range calls {
		for _, stats := range []string{"all", "true"} {
			params := url.Values{"stats": {stats}}
			for k, v := range c.params {
				params[k] = v
			}
			var pd, wd map[string]any
			if err := pw.get(ctx, c.path, params, &pd); err != nil {
				t.Fatalf("prometheus %s %v: %v", c.path, params, err)
			}
			if err := wc.get(ctx, c.path, params, &wd); err != nil {
				t.Fatalf("weft %s %v: %v", c.path, params, err)
			}
			ps, _ := pd["stats"].(map[string]any)
			ws, _ := wd["stats"].(map[string]any)
			if ps == nil || ws == nil {
				t.Fatalf("%s %v: stats of prometheus %v, of weft %v", c.path, params, pd["stats"], wd["stats"])
			}
			if diff := cmp.Diff(shape(ps), shape(ws)); diff != "" {
				t.Errorf("%s stats=%s %s: the fields of weft's stats differ from prometheus' (-prometheus +weft):\n%s", c.path, stats, params.Get("query"), diff)
			}
			if diff := cmp.Diff(samplesOf(ps), samplesOf(ws)); diff != "" {
				t.Errorf("%s stats=%s %s: weft read other samples than prometheus (-prometheus +weft):\n%s", c.path, stats, params.Get("query"), diff)
			}
			if n, _ := samplesOf(ws)["totalQueryableSamples"].(float64); n <= 0 {
				t.Errorf("%s stats=%s %s: weft read no samples: %v", c.path, stats, params.Get("query"), ws)
			}
			if _, perStep := samplesOf(ws)["totalQueryableSamplesPerStep"]; perStep != (stats == "all") {
				t.Errorf("%s stats=%s: per-step samples present: %v", c.path, stats, perStep)
			}
		}
	}
	// Without the parameter there are no stats, in either.
	var pd, wd map[string]any
	params := url.Values{"query": {"sum(stats_metric)"}, "time": {at}}
	if err := pw.get(ctx, "/query", params, &pd); err != nil {
		t.Fatal(err)
	}
	if err := wc.get(ctx, "/query", params, &wd); err != nil {
		t.Fatal(err)
	}
	if _, ok := wd["stats"]; ok || pd["stats"] != nil {
		t.Errorf("stats without stats=: prometheus %v, weft %v", pd["stats"], wd["stats"])
	}
}
