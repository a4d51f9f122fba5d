package app

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/tenant"
)

// remoteReadPost sends one remote read of the series named name in
// [mint, maxt], accepting typ, through rt as tenant id, and returns the
// answer's Content-Type and body after checking it is a 200.
func remoteReadPost(t *testing.T, rt http.RoundTripper, id string, typ prompb.ReadRequest_ResponseType, mint, maxt int64, name string) (string, []byte) {
	t.Helper()
	q, err := remote.ToQuery(mint, maxt, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, name)}, nil)
	require.NoError(t, err)
	raw, err := (&prompb.ReadRequest{Queries: []*prompb.Query{q}, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{typ}}).Marshal()
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "http://frontend/prometheus/api/v1/read", bytes.NewReader(snappy.Encode(nil, raw)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set(tenant.Header, id)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return resp.Header.Get("Content-Type"), body
}

// remoteReadSeries returns the one series named name in [mint, maxt] as a
// SAMPLES answer carries it.
func remoteReadSeries(t *testing.T, rt http.RoundTripper, id string, mint, maxt int64, name string) *prompb.TimeSeries {
	t.Helper()
	ct, body := remoteReadPost(t, rt, id, prompb.ReadRequest_SAMPLES, mint, maxt, name)
	require.Equal(t, "application/x-protobuf", ct)
	b, err := snappy.Decode(nil, body)
	require.NoError(t, err)
	var rr prompb.ReadResponse
	require.NoError(t, rr.Unmarshal(b))
	require.Len(t, rr.Results, 1)
	require.Len(t, rr.Results[0].Timeseries, 1)
	return rr.Results[0].Timeseries[0]
}

// remoteReadVia sends one remote read of the series named name in
// [mint, maxt], accepting typ, through rt as tenant id, and returns their
// float samples by series (none for a series of histograms).
func remoteReadVia(t *testing.T, rt http.RoundTripper, id string, typ prompb.ReadRequest_ResponseType, mint, maxt int64, name string) map[string][]float64 {
	t.Helper()
	ct, body := remoteReadPost(t, rt, id, typ, mint, maxt, name)
	out := map[string][]float64{}
	add := func(ls labels.Labels, it chunkenc.Iterator) {
		if _, ok := out[ls.String()]; !ok {
			out[ls.String()] = nil // a series of histograms only
		}
		for it.Next() == chunkenc.ValFloat {
			_, v := it.At()
			out[ls.String()] = append(out[ls.String()], v)
		}
		require.NoError(t, it.Err())
	}
	if typ == prompb.ReadRequest_SAMPLES {
		require.Equal(t, "application/x-protobuf", ct)
		b, err := snappy.Decode(nil, body)
		require.NoError(t, err)
		var rr prompb.ReadResponse
		require.NoError(t, rr.Unmarshal(b))
		set := remote.FromQueryResult(false, rr.Results[0])
		for set.Next() {
			add(set.At().Labels(), set.At().Iterator(nil))
		}
		require.NoError(t, set.Err())
		return out
	}
	require.Equal(t, "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse", ct)
	cr := remote.NewChunkedReader(bytes.NewReader(body), 1<<20, nil)
	for {
		var res prompb.ChunkedReadResponse
		err := cr.NextProto(&res)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		for _, s := range res.ChunkedSeries {
			b := labels.NewScratchBuilder(len(s.Labels))
			ls := s.ToLabels(&b, nil)
			for _, c := range s.Chunks {
				require.Contains(t, []prompb.Chunk_Encoding{prompb.Chunk_XOR, prompb.Chunk_HISTOGRAM, prompb.Chunk_FLOAT_HISTOGRAM}, c.Type, "no start-timestamp encodings, which Prometheus 2 cannot read")
				chk, err := chunkenc.FromData(chunkenc.Encoding(c.Type), c.Data)
				require.NoError(t, err)
				add(ls, chk.Iterator(nil))
			}
		}
	}
}
