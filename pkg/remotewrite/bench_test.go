package remotewrite

import (
	"fmt"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/protocodec"
	"github.com/weft-io/weft/pkg/wire"
)

// The benchmark request is what one Prometheus shard sends when scraping
// node exporters: 2,000 series of one sample each, 10 labels per series.
const benchSeries = 2000

var benchModes = []string{"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"}

func nodeExporterLabels(i int) [][2]string {
	return [][2]string{
		{"__name__", "node_cpu_seconds_total"},
		{"cluster", "eu-west-1"},
		{"cpu", fmt.Sprint(i % 64)},
		{"env", "production"},
		{"instance", fmt.Sprintf("node-%04d.example.com:9100", i/256)},
		{"job", "node"},
		{"mode", benchModes[i/64%len(benchModes)]},
		{"namespace", "monitoring"},
		{"pod", fmt.Sprintf("node-exporter-%05d", i/256)},
		{"region", "eu-west"},
	}
}

func benchRequestV1(n int) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for i := range n {
		ts := prompb.TimeSeries{Samples: []prompb.Sample{{Value: float64(i) * 1.5, Timestamp: 1_760_000_000_000 + int64(i)}}}
		for _, p := range nodeExporterLabels(i) {
			ts.Labels = append(ts.Labels, prompb.Label{Name: p[0], Value: p[1]})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Metadata = []prompb.MetricMetadata{{
		Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "node_cpu_seconds_total",
		Help: "Seconds the CPUs spent in each mode.", Unit: "seconds",
	}}
	return req
}

// benchRequestV2 is benchRequestV1 in 2.0; with startTimestamps, every
// sample carries the start timestamp of its counter, as Prometheus sends
// them when it knows the counters' creation times.
func benchRequestV2(n int, startTimestamps bool) *writev2.Request {
	st := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for i := range n {
		smp := writev2.Sample{Value: float64(i) * 1.5, Timestamp: 1_760_000_000_000 + int64(i)}
		if startTimestamps {
			smp.StartTimestamp = 1_759_000_000_000 + int64(i)
		}
		ts := writev2.TimeSeries{
			Samples: []writev2.Sample{smp},
			Metadata: writev2.Metadata{
				Type:    writev2.Metadata_METRIC_TYPE_COUNTER,
				HelpRef: st.Symbolize("Seconds the CPUs spent in each mode."),
				UnitRef: st.Symbolize("seconds"),
			},
		}
		for _, p := range nodeExporterLabels(i) {
			ts.LabelsRefs = append(ts.LabelsRefs, st.Symbolize(p[0]), st.Symbolize(p[1]))
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = st.Symbols()
	return req
}

// After one warm-up request, decoding allocates one labels.Labels per series
// and a constant handful of things per request, nothing per sample.
func TestDecodeSteadyStateAllocs(t *testing.T) {
	if protocodec.CloneLabelStrings {
		t.Skip("the slicelabels and dedupelabels builds copy every label string")
	}
	f := func(name string, body []byte, v Version) {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder()
			var dst wire.PushRequest
			require.NoError(t, d.Decode(&dst, body, v, 0))
			allocs := testing.AllocsPerRun(20, func() {
				if err := d.Decode(&dst, body, v, 0); err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%s: %.0f allocs per decode of %d series", name, allocs, benchSeries)
			require.LessOrEqual(t, allocs, float64(benchSeries+2))
		})
	}
	f("v1", snappy.Encode(nil, marshalV1(t, benchRequestV1(benchSeries))), V1)
	f("v2", snappy.Encode(nil, marshalV2(t, benchRequestV2(benchSeries, false))), V2)
	f("v2 with start timestamps", snappy.Encode(nil, marshalV2(t, benchRequestV2(benchSeries, true))), V2)
}

func benchmarkDecode(b *testing.B, body []byte, v Version) {
	d := NewDecoder()
	var dst wire.PushRequest
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := d.Decode(&dst, body, v, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchSeries)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

func BenchmarkDecodeV1(b *testing.B) {
	benchmarkDecode(b, snappy.Encode(nil, marshalV1(b, benchRequestV1(benchSeries))), V1)
}

func BenchmarkDecodeV2(b *testing.B) {
	benchmarkDecode(b, snappy.Encode(nil, marshalV2(b, benchRequestV2(benchSeries, false))), V2)
}

func BenchmarkDecodeV2StartTimestamps(b *testing.B) {
	benchmarkDecode(b, snappy.Encode(nil, marshalV2(b, benchRequestV2(benchSeries, true))), V2)
}

// BenchmarkDecodeV1Prompb is the reference: what Prometheus' own handler
// does with a 1.0 request (snappy, the generated gogo Unmarshal, and the
// labels conversion that every appender needs).
func BenchmarkDecodeV1Prompb(b *testing.B) {
	body := snappy.Encode(nil, marshalV1(b, benchRequestV1(benchSeries)))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	var buf []byte
	for b.Loop() {
		var err error
		buf, err = snappy.Decode(buf[:cap(buf)], body)
		if err != nil {
			b.Fatal(err)
		}
		var req prompb.WriteRequest
		if err := req.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
		sb := labels.NewScratchBuilder(0)
		for _, ts := range req.Timeseries {
			_ = ts.ToLabels(&sb, nil)
		}
	}
	b.ReportMetric(float64(benchSeries)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkDecodeV2Prompb is the same reference for 2.0.
func BenchmarkDecodeV2Prompb(b *testing.B) {
	body := snappy.Encode(nil, marshalV2(b, benchRequestV2(benchSeries, false)))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	var buf []byte
	for b.Loop() {
		var err error
		buf, err = snappy.Decode(buf[:cap(buf)], body)
		if err != nil {
			b.Fatal(err)
		}
		var req writev2.Request
		if err := req.Unmarshal(buf); err != nil {
			b.Fatal(err)
		}
		sb := labels.NewScratchBuilder(0)
		for _, ts := range req.Timeseries {
			if _, err := ts.ToLabels(&sb, req.Symbols); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(benchSeries)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
