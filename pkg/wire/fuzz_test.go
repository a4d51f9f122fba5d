package wire

import (
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
)

// Kinds of message FuzzMessages decodes, one per decoder of a message that
// crosses the network.
const (
	fuzzPushRequest = iota
	fuzzPushResult
	fuzzSelectRequest
	fuzzLabelsRequest
	fuzzMetadataRequest
	fuzzExemplarsRequest
	fuzzExemplarResults
	fuzzHeldBlocksRequest
	fuzzTSDBStatus
	fuzzCardinalityRequest
	fuzzLabelCardinality
	fuzzChunk
	fuzzMetadata
	fuzzKinds
)

// fuzzRoundTrip decodes b as message kind and, if it decodes, encodes it
// again. ok is false when b does not decode.
func fuzzRoundTrip(t *testing.T, kind int, b []byte) (out []byte, ok bool) {
	switch kind {
	case fuzzPushRequest:
		var req PushRequest
		tenant, err := decodePushRequest(b, &req, newPushDecoder())
		if err != nil {
			return nil, false
		}
		return appendPushRequest(nil, tenant, &req), true
	case fuzzPushResult:
		r, err := decodePushResult(b)
		if err != nil {
			return nil, false
		}
		return appendPushResult(nil, r), true
	case fuzzSelectRequest:
		r, err := decodeSelectRequest(b)
		if err != nil {
			return nil, false
		}
		return appendSelectRequest(nil, r), true
	case fuzzLabelsRequest:
		r, err := decodeLabelsRequest(b)
		if err != nil {
			return nil, false
		}
		return appendLabelsRequest(nil, r), true
	case fuzzMetadataRequest:
		tenant, metric, limit, err := decodeMetadataRequest(b)
		if err != nil {
			return nil, false
		}
		return appendMetadataRequest(nil, tenant, metric, limit), true
	case fuzzExemplarsRequest:
		r, err := decodeExemplarsRequest(b)
		if err != nil {
			return nil, false
		}
		return appendExemplarsRequest(nil, r), true
	case fuzzExemplarResults:
		r, err := decodeExemplarResults(b)
		if err != nil {
			return nil, false
		}
		return appendExemplarResults(nil, r), true
	case fuzzHeldBlocksRequest:
		tenant, err := decodeHeldBlocksRequest(b)
		if err != nil {
			return nil, false
		}
		return appendHeldBlocksRequest(nil, tenant), true
	case fuzzTSDBStatus:
		s, err := decodeTSDBStatus(b)
		if err != nil {
			return nil, false
		}
		return appendTSDBStatus(nil, s), true
	case fuzzCardinalityRequest:
		tenant, r, err := decodeCardinalityRequest(b)
		if err != nil {
			return nil, false
		}
		return appendCardinalityRequest(nil, tenant, r), true
	case fuzzLabelCardinality:
		lc, err := decodeLabelCardinality(b)
		if err != nil {
			return nil, false
		}
		return appendLabelCardinality(nil, lc), true
	case fuzzChunk:
		meta, err := decodeChunk(b)
		if err != nil {
			return nil, false
		}
		// A hostile chunk must iterate without panicking; what it holds is
		// not checked (the chunk encodings have no checksum).
		it := meta.Chunk.Iterator(nil)
		for i := 0; i < 1<<12 && it.Next() != chunkenc.ValNone; i++ {
		}
		_ = it.Err()
		return nil, true
	case fuzzMetadata:
		var m Metadata
		if err := decodeMetadata(b, &m); err != nil {
			return nil, false
		}
		return appendMetadata(nil, &m), true
	}
	return nil, false
}

// FuzzMessages decodes arbitrary bytes as each message of weft's gRPC
// protocol. Decoding must never panic, and what decodes must be stable:
// encoding it and decoding that again gives the same encoding (comparing
// encodings rather than values keeps NaN samples comparable).
func FuzzMessages(f *testing.F) {
	m := []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "up"),
		labels.MustNewMatcher(labels.MatchRegexp, "job", "a|b.*"),
	}
	lbls := labels.FromStrings(labels.MetricName, "up", "job", "a")
	push := &PushRequest{Metadata: []Metadata{{MetricFamily: "up", Help: "h", Unit: "u"}}}
	push.Series = append(push.Series, Series{Labels: lbls})
	push.Series[0].Samples = append(push.Series[0].Samples, Sample{T: 1, V: 2})
	f.Add(uint8(fuzzPushRequest), appendPushRequest(nil, "t", push))
	f.Add(uint8(fuzzPushResult), appendPushResult(nil, PushResult{Samples: 3, Histograms: 1, Exemplars: 2}))
	f.Add(uint8(fuzzSelectRequest), appendSelectRequest(nil, &selectRequest{tenant: "t", mint: 1, maxt: 2, matchers: m,
		hints: &storage.SelectHints{Start: 1, End: 2, Step: 3, Func: "rate", Grouping: []string{"job"}, By: true}, sort: true}))
	f.Add(uint8(fuzzLabelsRequest), appendLabelsRequest(nil, &labelsRequest{tenant: "t", mint: 1, maxt: 2, matchers: m, name: "job", hints: &storage.LabelHints{Limit: 5}}))
	f.Add(uint8(fuzzMetadataRequest), appendMetadataRequest(nil, "t", "up", 10))
	f.Add(uint8(fuzzExemplarsRequest), appendExemplarsRequest(nil, &exemplarsRequest{tenant: "t", start: 1, end: 2, matchers: [][]*labels.Matcher{m}}))
	f.Add(uint8(fuzzExemplarResults), appendExemplarResults(nil, []exemplar.QueryResult{{SeriesLabels: lbls,
		Exemplars: []exemplar.Exemplar{{Labels: labels.FromStrings("trace_id", "x"), Value: 1, Ts: 2, HasTs: true}}}}))
	f.Add(uint8(fuzzHeldBlocksRequest), appendHeldBlocksRequest(nil, "t"))
	f.Add(uint8(fuzzTSDBStatus), appendTSDBStatus(nil, &TSDBStatus{NumSeries: 2, MinTime: 1, MaxTime: 2, SeriesCountByMetricName: []Stat{{Name: "up", Value: 2}}}))
	f.Add(uint8(fuzzCardinalityRequest), appendCardinalityRequest(nil, "t", &CardinalityRequest{Matchers: m, LabelNames: []string{"job"}}))
	f.Add(uint8(fuzzLabelCardinality), appendLabelCardinality(nil, &LabelCardinality{SeriesCount: 2, Labels: []LabelStats{{Name: "job", SeriesCount: 2, ValueHashes: []uint64{1, 2}, Values: []Stat{{Name: "a", Value: 1}}}}}))
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	require.NoError(f, err)
	for i := range int64(5) {
		app.Append(0, i, float64(i))
	}
	f.Add(uint8(fuzzChunk), appendChunkForFuzz(c))
	f.Add(uint8(fuzzMetadata), appendMetadata(nil, &Metadata{MetricFamily: "up", Help: "h"}))

	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		k := int(kind) % fuzzKinds
		once, ok := fuzzRoundTrip(t, k, b)
		if !ok || once == nil {
			return
		}
		twice, ok := fuzzRoundTrip(t, k, once)
		require.True(t, ok, "the encoding of a decoded message does not decode")
		require.Equal(t, once, twice)
	})
}

// appendChunkForFuzz encodes c as the Chunk message of a streamed series.
func appendChunkForFuzz(c chunkenc.Chunk) []byte {
	b := protocodec.AppendInt64Field(nil, 1, 0)
	b = protocodec.AppendInt64Field(b, 2, 4)
	b = protocodec.AppendVarintField(b, 3, uint64(c.Encoding()))
	b = protocodec.AppendTag(b, 4, protowire.BytesType)
	return protocodec.AppendBytes(b, c.Bytes())
}
