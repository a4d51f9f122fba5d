package wire

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
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
	sb := labels.NewScratchBuilder(0)
	tenant, err := decodePushRequest(b, &got, &sb)
	require.NoError(t, err)
	require.Equal(t, "tenant", tenant) // gogo keeps the unknown field
	require.Equal(t, req, &got)
}
