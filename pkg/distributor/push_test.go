package distributor

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/golang/snappy"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// capturePusher keeps a copy of the last request: the distributor reuses
// its requests once Push returns.
type capturePusher struct{ last wire.PushRequest }

func (p *capturePusher) Push(_ context.Context, _ string, req *wire.PushRequest) (wire.PushResult, error) {
	p.last = wire.PushRequest{Metadata: slices.Clone(req.Metadata)}
	for _, s := range req.Series {
		s.Samples, s.Histograms, s.Exemplars = slices.Clone(s.Samples), slices.Clone(s.Histograms), slices.Clone(s.Exemplars)
		p.last.Series = append(p.last.Series, s)
	}
	s, h, e := req.Counts()
	return wire.PushResult{Samples: s, Histograms: h, Exemplars: e}, nil
}

// Start timestamps of remote write 2.0 reach the ingesters sample by
// sample, also when validation drops other samples of the same series.
func TestPushKeepsStartTimestamps(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	p := &capturePusher{}
	d, err := New(cfg, limits.NewOverrides(*defaultLimits(t), nil), p, tenant.Resolver{MultiTenancy: true}, nil, nil)
	require.NoError(t, err)

	now := time.Now().UnixMilli()
	tooOld := now - 2*time.Hour.Milliseconds() // past the 1h grace period
	req := &writev2.Request{
		Symbols: []string{"", "__name__", "requests_total", "latency"},
		Timeseries: []writev2.TimeSeries{
			{
				LabelsRefs: []uint32{1, 2},
				Samples: []writev2.Sample{
					{Value: 1, Timestamp: tooOld, StartTimestamp: tooOld - 1000},
					{Value: 5, Timestamp: now - 1000, StartTimestamp: now - 60_000},
					{Value: 2, Timestamp: now, StartTimestamp: now - 500}, // a reset
				},
			},
			{
				LabelsRefs: []uint32{1, 3},
				Histograms: []writev2.Histogram{{
					Count: &writev2.Histogram_CountInt{CountInt: 2}, ZeroCount: &writev2.Histogram_ZeroCountInt{ZeroCountInt: 2},
					Timestamp: now, StartTimestamp: now - 30_000,
				}},
			},
		},
	}
	pb, err := req.Marshal()
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "/api/v1/push", bytes.NewReader(snappy.Encode(nil, pb)))
	r.Header.Set("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set(tenant.Header, "t")
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	require.Equal(t, http.StatusBadRequest, w.Code, "the too-old sample is reported")
	require.Equal(t, "2", w.Header().Get("X-Prometheus-Remote-Write-Samples-Written"))

	require.Len(t, p.last.Series, 2)
	require.Equal(t, []wire.Sample{{T: now - 1000, V: 5, ST: now - 60_000}, {T: now, V: 2, ST: now - 500}}, p.last.Series[0].Samples)
	require.Len(t, p.last.Series[1].Histograms, 1)
	require.Equal(t, now-30_000, p.last.Series[1].Histograms[0].ST)
}
