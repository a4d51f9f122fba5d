package wire

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/protocodec"
)

// The Push body is a remote-write 1.0 WriteRequest: Prometheus' own
// decoder reads the same series, histograms, exemplars and metadata.
func TestPushRequestIsAWriteRequest(t *testing.T) {
	fh := tsdbutil.GenerateTestFloatHistogram(2)
	req := &PushRequest{
		Series: []Series{{
			Labels:     labels.FromStrings("__name__", "h", "job", "x"),
			Samples:    []Sample{{T: 1, V: 2.5}},
			Histograms: []Histogram{{T: 2, H: tsdbutil.GenerateTestHistogram(1)}, {T: 3, FH: fh}, {T: 4, H: tsdbutil.GenerateTestCustomBucketsHistogram(3)}},
			Exemplars:  []Exemplar{{Labels: labels.FromStrings("trace_id", "t"), T: 1, V: 0.5}},
		}},
		Metadata: []Metadata{{MetricFamily: "h", Type: "gaugehistogram", Help: "H.", Unit: "bytes"}},
	}
	var wr prompb.WriteRequest
	require.NoError(t, wr.Unmarshal(appendPushRequest(nil, "tenant", req)))
	require.Len(t, wr.Timeseries, 1)
	ts := wr.Timeseries[0]
	require.Equal(t, []prompb.Sample{{Timestamp: 1, Value: 2.5}}, ts.Samples)
	require.True(t, req.Series[0].Histograms[0].H.Equals(ts.Histograms[0].ToIntHistogram()))
	require.True(t, fh.Equals(ts.Histograms[1].ToFloatHistogram()))
	require.True(t, req.Series[0].Histograms[2].H.Equals(ts.Histograms[2].ToIntHistogram()))
	require.Equal(t, []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "t"}}, Value: 0.5, Timestamp: 1}}, ts.Exemplars)
	require.Equal(t, []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGEHISTOGRAM, MetricFamilyName: "h", Help: "H.", Unit: "bytes"}}, wr.Metadata)

	// And the other way round: a WriteRequest decodes as a PushRequest.
	b, err := wr.Marshal()
	require.NoError(t, err)
	var got PushRequest
	tenant, err := decodePushRequest(b, &got, newPushDecoder())
	require.NoError(t, err)
	require.Equal(t, "tenant", tenant) // gogo keeps the unknown field
	require.Equal(t, req, &got)
}

// Start timestamps travel in the fields remote write 2.0 gives them, so a
// Sample or Histogram message decodes as 2.0's with its start_timestamp.
func TestStartTimestampsAreRemoteWrite2Fields(t *testing.T) {
	h := tsdbutil.GenerateTestHistogram(3)
	s := Series{
		Labels:     labels.FromStrings("__name__", "c"),
		Samples:    []Sample{{T: 2000, V: 7, ST: 1500}},
		Histograms: []Histogram{{T: 3000, H: h, ST: -20}},
	}
	var (
		f, g    protocodec.Field
		err     error
		samples []writev2.Sample
		hists   []writev2.Histogram
	)
	b := AppendSeriesMessage(nil, &s)
	_, err = protocodec.NextField(b, &f)
	require.NoError(t, err)
	for m := f.B; len(m) > 0; {
		m, err = protocodec.NextField(m, &g)
		require.NoError(t, err)
		switch g.Num {
		case 2:
			var smp writev2.Sample
			require.NoError(t, smp.Unmarshal(g.B))
			samples = append(samples, smp)
		case 4:
			var wh writev2.Histogram
			require.NoError(t, wh.Unmarshal(g.B))
			hists = append(hists, wh)
		}
	}
	require.Equal(t, []writev2.Sample{{Value: 7, Timestamp: 2000, StartTimestamp: 1500}}, samples)
	require.Len(t, hists, 1)
	require.Equal(t, int64(-20), hists[0].StartTimestamp)
	require.Equal(t, int64(3000), hists[0].Timestamp)
	require.True(t, h.Equals(hists[0].ToIntHistogram()))

	// An older distributor sends no start timestamps but a series-wide
	// created timestamp in field 15, which is ignored: the samples' start
	// timestamps stay unknown.
	s.Samples[0].ST, s.Histograms[0].ST = 0, 0
	_, err = protocodec.NextField(AppendSeriesMessage(nil, &s), &f)
	require.NoError(t, err)
	old, pos := protocodec.BeginMessage(nil, 1)
	old = append(old, f.B...)
	old = protocodec.AppendInt64Field(old, 15, 1234)
	old = protocodec.EndMessage(old, pos)
	var got PushRequest
	_, err = decodePushRequest(old, &got, newPushDecoder())
	require.NoError(t, err)
	require.Equal(t, []Series{s}, got.Series)
}
