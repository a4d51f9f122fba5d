package app

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/tenant"
)

// tenantRoundTripper adds the tenant header to every request.
type tenantRoundTripper struct{ id string }

func (rt tenantRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(tenant.Header, rt.id)
	return http.DefaultTransport.RoundTrip(r)
}

// sentSeries is one series as the test appends it to Prometheus' TSDB.
type sentSeries struct {
	ls   labels.Labels
	meta metadata.Metadata
	st   int64 // start timestamp of every sample; 0 for none
	// value returns sample k: a float, or an integer or a float histogram.
	value     func(k int) (float64, *histogram.Histogram, *histogram.FloatHistogram)
	exemplars bool // an exemplar on every other sample
}

// sentExemplar is the exemplar of sample k of s.
func (s sentSeries) exemplar(k int, ts int64) exemplar.Exemplar {
	return exemplar.Exemplar{Labels: labels.FromStrings("trace_id", fmt.Sprintf("%s-%d", s.ls.Get(labels.MetricName), k)), Value: float64(k) + 0.5, Ts: ts, HasTs: true}
}

// apiBuckets is how the query API shows h's buckets: its non-empty
// buckets with their boundaries (util/jsonutil.MarshalHistogram).
func apiBuckets(h *histogram.FloatHistogram) model.HistogramBuckets {
	var out model.HistogramBuckets
	it := h.AllBucketIterator()
	for it.Next() {
		b := it.At()
		if b.Count == 0 {
			continue
		}
		boundaries := 2
		switch {
		case b.LowerInclusive && b.UpperInclusive:
			boundaries = 3
		case b.LowerInclusive:
			boundaries = 1
		case b.UpperInclusive:
			boundaries = 0
		}
		out = append(out, &model.HistogramBucket{Boundaries: int32(boundaries), Lower: model.FloatString(b.Lower), Upper: model.FloatString(b.Upper), Count: model.FloatString(b.Count)})
	}
	return out
}

// TestRemoteWrite2FromPrometheusSender sends remote write 2.0 with
// Prometheus' own sending code, as Prometheus 3 runs it: samples appended
// to a TSDB (with start timestamps, exemplars and metadata WAL records)
// are read from its WAL by the queue manager's watcher and sent as
// io.prometheus.write.v2.Request. What weft stores — samples, start
// timestamps, integer and float native histograms with their exact
// buckets, exemplars, metadata — is what was sent.
func TestRemoteWrite2FromPrometheusSender(t *testing.T) {
	base := startApp(t, "-querier.promql-experimental-features")
	const id = "rw2-sender"

	// Prometheus' side: the TSDB and the remote write storage tailing its
	// WAL, configured as a protobuf_message: io.prometheus.write.v2.Request
	// remote_write.
	dir := t.TempDir()
	opts := tsdb.DefaultOptions()
	opts.EnableExemplarStorage = true
	opts.MaxExemplars = 10000
	opts.EnableMetadataWALRecords = true // RW2 sends metadata from the WAL
	opts.EnableSTStorage = true          // and start timestamps too,
	opts.FloatChunkEncoding = chunkenc.EncXOR2
	opts.EnableHistogramSTEncoding = true
	db, err := tsdb.Open(dir, nil, nil, opts, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	rws := remote.NewWriteStorage(nil, nil, dir, 10*time.Second, nil, false)
	t.Cleanup(func() { require.NoError(t, rws.Close()) })
	db.SetWriteNotified(rws) // the watcher reads each WAL write at once, as in Prometheus' main
	u, err := url.Parse(base + "/api/v1/push")
	require.NoError(t, err)
	qc := config.DefaultQueueConfig
	qc.BatchSendDeadline = model.Duration(50 * time.Millisecond)
	qc.MinBackoff = model.Duration(10 * time.Millisecond)
	require.NoError(t, rws.ApplyConfig(&config.Config{
		GlobalConfig: config.DefaultGlobalConfig,
		RemoteWriteConfigs: []*config.RemoteWriteConfig{{
			URL:                  &commoncfg.URL{URL: u},
			RemoteTimeout:        model.Duration(30 * time.Second),
			Headers:              map[string]string{tenant.Header: id},
			QueueConfig:          qc,
			MetadataConfig:       config.DefaultMetadataConfig,
			HTTPClientConfig:     commoncfg.DefaultHTTPClientConfig,
			ProtobufMessage:      remoteapi.WriteV2MessageType,
			SendExemplars:        true,
			SendNativeHistograms: true,
		}},
	}))
	// The watcher sends only samples newer than its start, which its
	// goroutine sets: the samples are a little ahead of the clock (within
	// weft's creation grace period), however late it starts.
	const n = 10
	t0 := time.Now().Add(30 * time.Second).UnixMilli()
	ts := func(k int) int64 { return t0 + int64(k)*100 }
	sent := []sentSeries{
		{
			ls:   labels.FromStrings(labels.MetricName, "rw2_requests_total", "job", "rw2", "path", "/a"),
			meta: metadata.Metadata{Type: model.MetricTypeCounter, Help: "Requests served."},
			st:   t0 - 60_000,
			value: func(k int) (float64, *histogram.Histogram, *histogram.FloatHistogram) {
				return float64(k) * 3.25, nil, nil
			},
			exemplars: true,
		},
		{
			ls:   labels.FromStrings(labels.MetricName, "rw2_temperature_celsius", "job", "rw2"),
			meta: metadata.Metadata{Type: model.MetricTypeGauge, Help: "Temperature.", Unit: "celsius"},
			value: func(k int) (float64, *histogram.Histogram, *histogram.FloatHistogram) {
				return -40 + float64(k)/8, nil, nil
			},
		},
		{
			ls:   labels.FromStrings(labels.MetricName, "rw2_latency_seconds", "job", "rw2"),
			meta: metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Latency.", Unit: "seconds"},
			st:   t0 - 30_000,
			value: func(k int) (float64, *histogram.Histogram, *histogram.FloatHistogram) {
				return 0, tsdbutil.GenerateTestHistogram(int64(k + 1)), nil
			},
			exemplars: true,
		},
		{
			// A native histogram with custom buckets (NHCB, schema -53).
			ls:   labels.FromStrings(labels.MetricName, "rw2_queue_seconds", "job", "rw2"),
			meta: metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Time queued.", Unit: "seconds"},
			st:   t0 - 10_000,
			value: func(k int) (float64, *histogram.Histogram, *histogram.FloatHistogram) {
				return 0, &histogram.Histogram{
					Schema:          histogram.CustomBucketsSchema,
					Count:           uint64(4 * (k + 1)),
					Sum:             1.5 * float64(k+1),
					PositiveSpans:   []histogram.Span{{Offset: 0, Length: 3}},
					PositiveBuckets: []int64{int64(k + 1), int64(k + 1), -int64(k + 1)}, // k+1, 2(k+1), k+1 as deltas
					CustomValues:    []float64{0.1, 0.5, 1},
				}, nil
			},
			exemplars: true,
		},
		{
			ls:   labels.FromStrings(labels.MetricName, "rw2_size_bytes", "job", "rw2"),
			meta: metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Sizes.", Unit: "bytes"},
			value: func(k int) (float64, *histogram.Histogram, *histogram.FloatHistogram) {
				return 0, nil, tsdbutil.GenerateTestFloatHistogram(int64(k + 1))
			},
		},
	}
	app := db.AppenderV2(t.Context())
	for k := range n {
		for _, s := range sent {
			o := storage.AppendV2Options{MetricFamilyName: s.ls.Get(labels.MetricName), Metadata: s.meta}
			if s.exemplars && k%2 == 0 {
				o.Exemplars = []exemplar.Exemplar{s.exemplar(k, ts(k))}
			}
			v, h, fh := s.value(k)
			_, err := app.Append(0, s.ls, s.st, ts(k), v, h, fh, o)
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())

	client, err := api.NewClient(api.Config{Address: base + "/prometheus", RoundTripper: tenantRoundTripper{id}})
	require.NoError(t, err)
	papi := promv1.NewAPI(client)
	ctx := t.Context()
	end := time.UnixMilli(ts(n - 1))
	rangeOf := func(name string) model.Value {
		v, _, _, err := papi.Query(ctx, name+"[1m]", end)
		require.NoError(t, err)
		return v
	}
	require.Eventually(t, func() bool {
		// A notification the watcher was not yet waiting for is lost
		// (it would read at its 15s timeout): notify again meanwhile.
		rws.Notify()
		v, _, _, err := papi.Query(ctx, `{job="rw2"}[1m]`, end)
		if err != nil {
			return false
		}
		m := v.(model.Matrix)
		if len(m) != len(sent) {
			return false
		}
		for _, s := range m {
			if len(s.Values)+len(s.Histograms) != n {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "weft has every sample the queue manager sent")

	for _, s := range sent {
		name := s.ls.Get(labels.MetricName)
		m := rangeOf(name).(model.Matrix)
		require.Len(t, m, 1, name)
		want := &model.SampleStream{Metric: model.Metric{}}
		s.ls.Range(func(l labels.Label) { want.Metric[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		for k := range n {
			v, h, fh := s.value(k)
			if h != nil {
				fh = h.ToFloat(nil)
			}
			if fh == nil {
				want.Values = append(want.Values, model.SamplePair{Timestamp: model.Time(ts(k)), Value: model.SampleValue(v)})
				continue
			}
			want.Histograms = append(want.Histograms, model.SampleHistogramPair{Timestamp: model.Time(ts(k)), Histogram: &model.SampleHistogram{
				Count: model.FloatString(fh.Count), Sum: model.FloatString(fh.Sum), Buckets: apiBuckets(fh),
			}})
		}
		require.Equal(t, want, m[0], name)

		// The start timestamps, sample by sample.
		for k := range n {
			v, _, _, err := papi.Query(ctx, fmt.Sprintf("start_timestamp(%s)", name), time.UnixMilli(ts(k)))
			require.NoError(t, err)
			vec := v.(model.Vector)
			if s.st == 0 {
				if len(vec) == 1 {
					require.Zero(t, vec[0].Value, "%s: no start timestamp was sent", name)
				}
				continue
			}
			require.Len(t, vec, 1, "%s sample %d", name, k)
			require.Equal(t, model.SampleValue(float64(s.st)/1000), vec[0].Value, "%s sample %d", name, k)
		}
	}

	// The histograms, exactly (schema, spans, counts), by remote read.
	var rt http.RoundTripper = rewriteHost{base}
	for _, s := range sent {
		name := s.ls.Get(labels.MetricName)
		if _, h, fh := s.value(0); h == nil && fh == nil {
			continue
		}
		got := remoteReadHistograms(t, rt, id, ts(0), ts(n-1), name)
		require.Len(t, got, n, name)
		for k := range n {
			_, h, fh := s.value(k)
			require.Equal(t, ts(k), got[k].Timestamp, name)
			if h != nil {
				gh := got[k].ToIntHistogram()
				require.True(t, h.Equals(gh), "%s sample %d: sent %s, stored %s", name, k, h, gh)
				continue
			}
			gfh := got[k].ToFloatHistogram()
			require.True(t, fh.Equals(gfh), "%s sample %d: sent %s, stored %s", name, k, fh, gfh)
		}
	}

	// Streamed remote read of series stored with start timestamps (XOR2
	// chunks in weft) answers chunks without them, in the encodings every
	// remote read client reads.
	var floats []float64
	for k := range n {
		v, _, _ := sent[0].value(k)
		floats = append(floats, v)
	}
	require.Equal(t, map[string][]float64{sent[0].ls.String(): floats},
		remoteReadVia(t, rt, id, prompb.ReadRequest_STREAMED_XOR_CHUNKS, ts(0), ts(n-1), sent[0].ls.Get(labels.MetricName)))
	// (A series of histograms has no floats: its chunks' encodings are
	// checked.)
	require.Equal(t, map[string][]float64{sent[2].ls.String(): nil},
		remoteReadVia(t, rt, id, prompb.ReadRequest_STREAMED_XOR_CHUNKS, ts(0), ts(n-1), sent[2].ls.Get(labels.MetricName)))

	// Exemplars.
	ex, err := papi.QueryExemplars(ctx, `{job="rw2"}`, time.UnixMilli(ts(0)), end)
	require.NoError(t, err)
	got := map[string][]promv1.Exemplar{}
	for _, r := range ex {
		got[string(r.SeriesLabels[model.MetricNameLabel])] = r.Exemplars
	}
	want := map[string][]promv1.Exemplar{}
	for _, s := range sent {
		if !s.exemplars {
			continue
		}
		name := s.ls.Get(labels.MetricName)
		for k := 0; k < n; k += 2 {
			e := s.exemplar(k, ts(k))
			want[name] = append(want[name], promv1.Exemplar{Labels: model.LabelSet{"trace_id": model.LabelValue(e.Labels.Get("trace_id"))}, Value: model.SampleValue(e.Value), Timestamp: model.Time(e.Ts)})
		}
	}
	require.Equal(t, want, got)

	// Metadata.
	md, err := papi.Metadata(ctx, "", "")
	require.NoError(t, err)
	wantMD := map[string][]promv1.Metadata{}
	for _, s := range sent {
		wantMD[s.ls.Get(labels.MetricName)] = []promv1.Metadata{{Type: promv1.MetricType(s.meta.Type), Help: s.meta.Help, Unit: s.meta.Unit}}
	}
	require.Equal(t, wantMD, md)
}

// rewriteHost sends requests to base's host.
type rewriteHost struct{ base string }

func (r rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	u, err := url.Parse(r.base)
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = u.Scheme, u.Host
	return http.DefaultTransport.RoundTrip(req)
}

// remoteReadHistograms returns the histograms of the one series named
// name in [mint, maxt], as remote read's SAMPLES answer carries them.
func remoteReadHistograms(t *testing.T, rt http.RoundTripper, id string, mint, maxt int64, name string) []prompb.Histogram {
	t.Helper()
	return remoteReadSeries(t, rt, id, mint, maxt, name).Histograms
}
