package integration

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/prometheus/prompb"
)

// metadataEntry is one entry of /api/v1/metadata's answer.
type metadataEntry struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// Metadata returns /api/v1/metadata's answer: metric name to entries.
func (c *apiClient) Metadata(ctx context.Context) (map[string][]metadataEntry, error) {
	var out map[string][]metadataEntry
	err := c.get(ctx, "/metadata", nil, &out)
	return out, err
}

// exemplarEntry is one exemplar of /api/v1/query_exemplars' answer,
// flattened with its series.
type exemplarEntry struct {
	Series string
	Labels string
	Value  string
	TS     float64
}

// Exemplars returns /api/v1/query_exemplars' answer for query over
// [start, end], sorted by series then time.
func (c *apiClient) Exemplars(ctx context.Context, query string, start, end time.Time) ([]exemplarEntry, error) {
	var data []struct {
		SeriesLabels map[string]string `json:"seriesLabels"`
		Exemplars    []struct {
			Labels    map[string]string `json:"labels"`
			Value     string            `json:"value"`
			Timestamp float64           `json:"timestamp"`
		} `json:"exemplars"`
	}
	params := url.Values{"query": {query}, "start": {formatTime(start)}, "end": {formatTime(end)}}
	if err := c.get(ctx, "/query_exemplars", params, &data); err != nil {
		return nil, err
	}
	var out []exemplarEntry
	for _, s := range data {
		for _, e := range s.Exemplars {
			out = append(out, exemplarEntry{Series: fmt.Sprint(s.SeriesLabels), Labels: fmt.Sprint(e.Labels), Value: e.Value, TS: e.Timestamp})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Series != out[j].Series {
			return out[i].Series < out[j].Series
		}
		return out[i].TS < out[j].TS
	})
	return out, nil
}

// metaData is what the metadata tests push: nSeries series of one counter
// over span, one sample a minute, an exemplar every tenth sample, a series
// of two other families, and the metadata of the three families in a
// request of its own, as remote write 1.0 sends it.
type metaData struct {
	base    time.Time
	span    time.Duration
	nSeries int
}

func (d metaData) requests() []*prompb.WriteRequest {
	var out []*prompb.WriteRequest
	const perPush = 60
	n := int(d.span / time.Minute)
	for r := 0; r < n; r += perPush {
		req := &prompb.WriteRequest{}
		for s := 0; s < d.nSeries; s++ {
			ts := prompb.TimeSeries{Labels: lbls("meta_requests_total", "job", "api", "instance", strconv.Itoa(s))}
			for i := r; i < min(r+perPush, n); i++ {
				t := d.base.Add(time.Duration(i) * time.Minute).UnixMilli()
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: t, Value: float64(i)})
				if i%10 == 0 {
					ts.Exemplars = append(ts.Exemplars, prompb.Exemplar{
						Labels: []prompb.Label{{Name: "trace_id", Value: fmt.Sprintf("t%d-%d", s, i)}}, Value: float64(i), Timestamp: t,
					})
				}
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		// The other families have one series each, a histogram's by its
		// _count series, so that the bucket keeps their metadata too.
		for _, name := range []string{"meta_temperature", "meta_latency_seconds_count"} {
			ts := prompb.TimeSeries{Labels: lbls(name, "job", "api")}
			for i := r; i < min(r+perPush, n); i++ {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: d.base.Add(time.Duration(i) * time.Minute).UnixMilli(), Value: float64(i)})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		out = append(out, req)
	}
	out = append(out, &prompb.WriteRequest{Metadata: []prompb.MetricMetadata{
		{MetricFamilyName: "meta_requests_total", Type: prompb.MetricMetadata_COUNTER, Help: "Requests served.", Unit: "requests"},
		{MetricFamilyName: "meta_temperature", Type: prompb.MetricMetadata_GAUGE, Help: "Temperature."},
		{MetricFamilyName: "meta_latency_seconds", Type: prompb.MetricMetadata_HISTOGRAM, Help: "Latency.", Unit: "seconds"},
	}})
	return out
}

func (d metaData) wantMetadata() map[string][]metadataEntry {
	return map[string][]metadataEntry{
		"meta_requests_total":  {{Type: "counter", Help: "Requests served.", Unit: "requests"}},
		"meta_temperature":     {{Type: "gauge", Help: "Temperature."}},
		"meta_latency_seconds": {{Type: "histogram", Help: "Latency.", Unit: "seconds"}},
	}
}

func (d metaData) exemplarCount() int {
	n := int(d.span / time.Minute)
	return d.nSeries * ((n + 9) / 10)
}

func (d metaData) push(t *testing.T, ctx context.Context, cl *apiClient) {
	t.Helper()
	for _, req := range d.requests() {
		if err := cl.Push(ctx, req); err != nil {
			t.Fatalf("push: %v", err)
		}
	}
}

// check compares what weft answers with what was pushed.
func (d metaData) check(ctx context.Context, cl *apiClient) error {
	md, err := cl.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("cannot read metadata: %w", err)
	}
	if diff := cmp.Diff(d.wantMetadata(), md); diff != "" {
		return fmt.Errorf("metadata differs (-want +got):\n%s", diff)
	}
	ex, err := cl.Exemplars(ctx, "meta_requests_total", d.base.Add(-time.Minute), d.base.Add(d.span))
	if err != nil {
		return fmt.Errorf("cannot read exemplars: %w", err)
	}
	if len(ex) != d.exemplarCount() {
		return fmt.Errorf("got %d exemplars, want %d", len(ex), d.exemplarCount())
	}
	seen := map[string]bool{}
	for _, e := range ex {
		k := e.Series + e.Labels
		if seen[k] {
			return fmt.Errorf("exemplar %v is answered twice", e)
		}
		seen[k] = true
	}
	return nil
}

// Metric metadata and exemplars survive a kill -9 of the all-in-one: the
// metadata from the ingester's metadata log, the exemplars from the WAL.
func TestMetadataAndExemplarsSurviveKill9(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	w := startWeft(t, weftOptions{})
	d := metaData{base: time.Now().Add(-30 * time.Minute).Truncate(time.Minute), span: 30 * time.Minute, nSeries: 5}
	cl := w.Client("meta")
	d.push(t, ctx, cl)
	if err := d.check(ctx, cl); err != nil {
		t.Fatalf("before the kill: %v", err)
	}
	w.Kill()
	w.Restart()
	if err := d.check(ctx, w.Client("meta")); err != nil {
		t.Fatalf("after kill -9 and a restart: %v", err)
	}
}

// Once the blocks are in the bucket, metadata and exemplars are answered
// from there (the store-gateway) even when the ingester's disk is wiped.
func TestMetadataAndExemplarsAfterAWipe(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	w := startWeft(t, weftOptions{Args: []string{"-ingester.flush-on-shutdown=true"}})
	d := metaData{base: time.Now().Add(-5 * time.Hour).Truncate(time.Minute), span: 4 * time.Hour, nSeries: 5}
	cl := w.Client("meta")
	d.push(t, ctx, cl)
	if err := d.check(ctx, cl); err != nil {
		t.Fatalf("before the restart: %v", err)
	}
	w.Stop()
	if n := len(bucketBlocks(t, w.BucketDir, "meta")); n == 0 {
		t.Fatal("the shutdown flush shipped no block")
	}
	if err := os.RemoveAll(w.DataDir); err != nil {
		t.Fatal(err)
	}
	w.Restart()
	if fileExists(filepath.Join(w.DataDir, "ingester", "tsdb", "meta")) {
		t.Fatal("the fresh ingester should hold nothing of the tenant")
	}
	if err := d.check(ctx, w.Client("meta")); err != nil {
		t.Fatalf("after a restart on an empty disk: %v", err)
	}
}

// The same in the distributed build, in one cluster: the ingester process
// is killed with -9 and comes back with its metadata; then it ships its
// head on shutdown and comes back on an empty disk, and the querier gets
// the metadata and exemplars from the store-gateway (weft.Store/Metadata
// and weft.Store/Exemplars over gRPC).
func TestMetadataAndExemplarsDistributed(t *testing.T) {
	const tenant = "meta"
	ctx := testContext(t, 4*time.Minute)
	c, ing, dq := startHistoryCluster(t)

	d := metaData{base: time.Now().Add(-5 * time.Hour).Truncate(time.Minute), span: 4 * time.Hour, nSeries: 5}
	cl := dq.Client(tenant)
	d.push(t, ctx, cl)
	if err := d.check(ctx, cl); err != nil {
		t.Fatalf("before the restarts: %v", err)
	}

	ing.Kill()
	ing.Restart()
	waitRing(t, 30*time.Second, "the ingester ACTIVE after kill -9", allActive("ing-1"), dq)
	eventually(t, 30*time.Second, 500*time.Millisecond, "metadata and exemplars after kill -9", func() error {
		return d.check(ctx, cl)
	})

	ing.Stop()
	if n := len(bucketBlocks(t, c.bucket, tenant)); n == 0 {
		t.Fatal("the shutdown flush shipped no block")
	}
	if err := os.RemoveAll(ing.DataDir); err != nil {
		t.Fatal(err)
	}
	ing.Restart()
	waitRing(t, 30*time.Second, "the ingester ACTIVE on an empty disk", allActive("ing-1"), dq)
	eventually(t, 30*time.Second, 500*time.Millisecond, "metadata and exemplars from the store-gateway", func() error {
		return d.check(ctx, cl)
	})
}
