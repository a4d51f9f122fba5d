package remotewrite

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/wire"
)

// The reference for every comparison is prompb: its generated Unmarshal and
// its own conversions (ToIntHistogram, ToFloatHistogram, ToMetadata). The
// only deliberate difference is that labels are not sorted, so the expected
// labels are built in the order sent.

func marshalV1(t testing.TB, req *prompb.WriteRequest) []byte {
	t.Helper()
	b, err := req.Marshal()
	require.NoError(t, err)
	return b
}

func marshalV2(t testing.TB, req *writev2.Request) []byte {
	t.Helper()
	b, err := req.Marshal()
	require.NoError(t, err)
	return b
}

// wantV1 is what Decode must return for req, computed with prompb.
func wantV1(req *prompb.WriteRequest) *wire.PushRequest {
	sb := labels.NewScratchBuilder(0)
	toLabels := func(ls []prompb.Label) labels.Labels {
		sb.Reset()
		for _, l := range ls {
			sb.Add(l.Name, l.Value)
		}
		return sb.Labels()
	}
	out := &wire.PushRequest{}
	for _, ts := range req.Timeseries {
		s := wire.Series{Labels: toLabels(ts.Labels)}
		for _, smp := range ts.Samples {
			s.Samples = append(s.Samples, wire.Sample{T: smp.Timestamp, V: smp.Value})
		}
		for _, h := range ts.Histograms {
			wh := wire.Histogram{T: h.Timestamp}
			if h.IsFloatHistogram() {
				wh.FH = h.ToFloatHistogram()
			} else {
				wh.H = h.ToIntHistogram()
			}
			s.Histograms = append(s.Histograms, wh)
		}
		for _, e := range ts.Exemplars {
			s.Exemplars = append(s.Exemplars, wire.Exemplar{Labels: toLabels(e.Labels), T: e.Timestamp, V: e.Value})
		}
		out.Series = append(out.Series, s)
	}
	for _, m := range req.Metadata {
		typ, ok := prompb.MetricMetadata_MetricType_name[int32(m.Type)]
		if !ok {
			typ = "unknown"
		}
		out.Metadata = append(out.Metadata, wire.Metadata{
			MetricFamily: m.MetricFamilyName,
			Type:         strings.ToLower(typ),
			Help:         m.Help,
			Unit:         m.Unit,
		})
	}
	return out
}

// wantV2 is what Decode must return for req, computed with writev2, or the
// error Decode must return.
func wantV2(req *writev2.Request) (*wire.PushRequest, error) {
	sb := labels.NewScratchBuilder(0)
	toLabels := func(refs []uint32) (labels.Labels, error) {
		if len(refs)%2 != 0 {
			return labels.EmptyLabels(), fmt.Errorf("odd refs")
		}
		sb.Reset()
		for i := 0; i < len(refs); i += 2 {
			if int(refs[i]) >= len(req.Symbols) || int(refs[i+1]) >= len(req.Symbols) {
				return labels.EmptyLabels(), fmt.Errorf("ref out of range")
			}
			sb.Add(req.Symbols[refs[i]], req.Symbols[refs[i+1]])
		}
		return sb.Labels(), nil
	}
	out := &wire.PushRequest{}
	for _, ts := range req.Timeseries {
		ls, err := toLabels(ts.LabelsRefs)
		if err != nil {
			return nil, err
		}
		s := wire.Series{Labels: ls}
		for _, smp := range ts.Samples {
			s.Samples = append(s.Samples, wire.Sample{T: smp.Timestamp, V: smp.Value, ST: smp.StartTimestamp})
		}
		for _, h := range ts.Histograms {
			wh := wire.Histogram{T: h.Timestamp, ST: h.StartTimestamp}
			if h.IsFloatHistogram() {
				wh.FH = h.ToFloatHistogram()
			} else {
				wh.H = h.ToIntHistogram()
			}
			s.Histograms = append(s.Histograms, wh)
		}
		// The generated code does not know the legacy created_timestamp
		// (field 6) but keeps it among the unknown fields.
		if ct := legacyCreatedTimestamp(ts.XXX_unrecognized); ct != 0 {
			for i := range s.Samples {
				if s.Samples[i].ST == 0 {
					s.Samples[i].ST = ct
				}
			}
			for i := range s.Histograms {
				if s.Histograms[i].ST == 0 {
					s.Histograms[i].ST = ct
				}
			}
		}
		for _, e := range ts.Exemplars {
			els, err := toLabels(e.LabelsRefs)
			if err != nil {
				return nil, err
			}
			s.Exemplars = append(s.Exemplars, wire.Exemplar{Labels: els, T: e.Timestamp, V: e.Value})
		}
		out.Series = append(out.Series, s)
		if ts.Metadata.Type == 0 && ts.Metadata.HelpRef == 0 && ts.Metadata.UnitRef == 0 {
			continue
		}
		md, err := ts.ToMetadata(req.Symbols)
		if err != nil {
			return nil, err
		}
		name := ""
		for i := len(ts.LabelsRefs) - 2; i >= 0; i -= 2 { // the first __name__ wins
			if req.Symbols[ts.LabelsRefs[i]] == labels.MetricName {
				name = req.Symbols[ts.LabelsRefs[i+1]]
			}
		}
		if name == "" {
			continue
		}
		m := wire.Metadata{MetricFamily: name, Type: string(md.Type), Help: md.Help, Unit: md.Unit}
		if n := len(out.Metadata); n > 0 && out.Metadata[n-1] == m {
			continue
		}
		out.Metadata = append(out.Metadata, m)
	}
	return out, nil
}

// requireEqualPush compares two requests, treating empty and nil slices of
// series, samples, histograms, exemplars and metadata as equal (a reused
// PushRequest has empty ones); inside histograms nil and empty must match
// exactly.
func requireEqualPush(t testing.TB, want, got *wire.PushRequest) {
	t.Helper()
	norm := func(r *wire.PushRequest) wire.PushRequest {
		n := wire.PushRequest{}
		for _, s := range r.Series {
			c := wire.Series{Labels: s.Labels}
			if len(s.Samples) > 0 {
				c.Samples = s.Samples
			}
			if len(s.Histograms) > 0 {
				c.Histograms = s.Histograms
			}
			if len(s.Exemplars) > 0 {
				c.Exemplars = s.Exemplars
			}
			n.Series = append(n.Series, c)
		}
		if len(r.Metadata) > 0 {
			n.Metadata = r.Metadata
		}
		return n
	}
	w, g := norm(want), norm(got)
	require.Equal(t, len(w.Series), len(g.Series), "number of series")
	// Labels are compared as strings, which is a clearer failure message and
	// works for every labels implementation (dedupelabels values refer to a
	// symbol table), and then left out of the comparison of the rest.
	noLabels := func(s wire.Series) wire.Series {
		s.Labels = labels.EmptyLabels()
		if s.Exemplars != nil {
			ex := append([]wire.Exemplar(nil), s.Exemplars...)
			for i := range ex {
				ex[i].Labels = labels.EmptyLabels()
			}
			s.Exemplars = ex
		}
		return s
	}
	for i := range w.Series {
		require.Equal(t, w.Series[i].Labels.String(), g.Series[i].Labels.String(), "series %d labels", i)
		require.Equal(t, len(w.Series[i].Exemplars), len(g.Series[i].Exemplars), "series %d exemplars", i)
		for j := range w.Series[i].Exemplars {
			require.Equal(t, w.Series[i].Exemplars[j].Labels.String(), g.Series[i].Exemplars[j].Labels.String(), "series %d exemplar %d labels", i, j)
		}
		require.Equal(t, noLabels(w.Series[i]), noLabels(g.Series[i]), "series %d", i)
	}
	require.Equal(t, w.Metadata, g.Metadata, "metadata")
}

// gen builds random but valid requests.
type gen struct {
	r *rand.Rand
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed*7+1))} }

func (g *gen) str(alphabet string, maxLen int) string {
	n := g.r.IntN(maxLen + 1)
	var b strings.Builder
	for range n {
		b.WriteByte(alphabet[g.r.IntN(len(alphabet))])
	}
	return b.String()
}

// float avoids NaN, which require.Equal cannot compare; NaN payloads are
// tested on their own.
func (g *gen) float() float64 {
	switch g.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return math.Inf(1 - 2*g.r.IntN(2))
	case 2:
		return float64(g.r.Int64N(1000))
	default:
		return g.r.NormFloat64() * 1e6
	}
}

func (g *gen) int64() int64 {
	switch g.r.IntN(4) {
	case 0:
		return 0
	case 1:
		return -g.r.Int64()
	default:
		return g.r.Int64()
	}
}

const nameChars = "abcdefghijklmnopqrstuvwxyz_ABC0123456789"

// labelPairs returns name/value pairs; usually sorted with unique names as
// a well-behaved sender sends them, sometimes not, which must pass through.
func (g *gen) labelPairs() [][2]string {
	n := g.r.IntN(12)
	var pairs [][2]string
	if g.r.IntN(3) > 0 {
		pairs = append(pairs, [2]string{"__name__", "metric_" + g.str(nameChars, 10)})
	}
	for range n {
		pairs = append(pairs, [2]string{g.str(nameChars, 8), g.str(nameChars+" ü{}\"=\n", 20)})
	}
	if g.r.IntN(4) > 0 {
		b := labels.NewScratchBuilder(len(pairs))
		for _, p := range pairs {
			b.Add(p[0], p[1])
		}
		b.Sort()
		pairs = pairs[:0]
		b.Labels().Range(func(l labels.Label) { pairs = append(pairs, [2]string{l.Name, l.Value}) })
	}
	return pairs
}

func (g *gen) spans() []prompb.BucketSpan {
	var s []prompb.BucketSpan
	for range g.r.IntN(4) {
		s = append(s, prompb.BucketSpan{Offset: int32(g.r.IntN(20)) - 10, Length: uint32(g.r.IntN(5))})
	}
	return s
}

func (g *gen) int64s() []int64 {
	var v []int64
	for range g.r.IntN(6) {
		v = append(v, g.r.Int64N(200)-100)
	}
	return v
}

func (g *gen) floats() []float64 {
	var v []float64
	for range g.r.IntN(6) {
		v = append(v, g.float())
	}
	return v
}

// histogramV1 returns a random histogram: integer or float count, and
// (on purpose) sometimes the "wrong" kind of zero count or of buckets, which
// the conversion must ignore as prompb does.
func (g *gen) histogramV1() prompb.Histogram {
	h := prompb.Histogram{
		Sum:            g.float(),
		Schema:         int32(g.r.IntN(20)) - 10,
		ZeroThreshold:  g.float(),
		NegativeSpans:  g.spans(),
		NegativeDeltas: g.int64s(),
		NegativeCounts: g.floats(),
		PositiveSpans:  g.spans(),
		PositiveDeltas: g.int64s(),
		PositiveCounts: g.floats(),
		ResetHint:      prompb.Histogram_ResetHint(g.r.IntN(4)),
		Timestamp:      g.int64(),
	}
	switch g.r.IntN(3) {
	case 0:
		h.Count = &prompb.Histogram_CountInt{CountInt: g.r.Uint64()}
	case 1:
		h.Count = &prompb.Histogram_CountFloat{CountFloat: g.float()}
	}
	switch g.r.IntN(3) {
	case 0:
		h.ZeroCount = &prompb.Histogram_ZeroCountInt{ZeroCountInt: g.r.Uint64()}
	case 1:
		h.ZeroCount = &prompb.Histogram_ZeroCountFloat{ZeroCountFloat: g.float()}
	}
	if g.r.IntN(3) == 0 {
		h.CustomValues = g.floats()
	}
	return h
}

func (g *gen) requestV1() *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for range g.r.IntN(20) {
		ts := prompb.TimeSeries{}
		for _, p := range g.labelPairs() {
			ts.Labels = append(ts.Labels, prompb.Label{Name: p[0], Value: p[1]})
		}
		for range g.r.IntN(4) {
			ts.Samples = append(ts.Samples, prompb.Sample{Value: g.float(), Timestamp: g.int64()})
		}
		for range g.r.IntN(3) * g.r.IntN(2) {
			ts.Histograms = append(ts.Histograms, g.histogramV1())
		}
		for range g.r.IntN(3) * g.r.IntN(2) {
			e := prompb.Exemplar{Value: g.float(), Timestamp: g.int64()}
			for range g.r.IntN(3) {
				e.Labels = append(e.Labels, prompb.Label{Name: g.str(nameChars, 8), Value: g.str(nameChars, 16)})
			}
			ts.Exemplars = append(ts.Exemplars, e)
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	for range g.r.IntN(5) {
		req.Metadata = append(req.Metadata, prompb.MetricMetadata{
			Type:             prompb.MetricMetadata_MetricType(g.r.IntN(9)), // 8: not a known type
			MetricFamilyName: g.str(nameChars, 12),
			Help:             g.str(nameChars+" .", 40),
			Unit:             g.str(nameChars, 5),
		})
	}
	return req
}

// toV2Histogram converts a random 1.0 histogram into the same 2.0 one; the
// two messages are identical up to start_timestamp.
func toV2Histogram(h prompb.Histogram, st int64) writev2.Histogram {
	out := writev2.Histogram{
		Sum:            h.Sum,
		Schema:         h.Schema,
		ZeroThreshold:  h.ZeroThreshold,
		NegativeDeltas: h.NegativeDeltas,
		NegativeCounts: h.NegativeCounts,
		PositiveDeltas: h.PositiveDeltas,
		PositiveCounts: h.PositiveCounts,
		ResetHint:      writev2.Histogram_ResetHint(h.ResetHint),
		Timestamp:      h.Timestamp,
		CustomValues:   h.CustomValues,
		StartTimestamp: st,
	}
	for _, s := range h.NegativeSpans {
		out.NegativeSpans = append(out.NegativeSpans, writev2.BucketSpan{Offset: s.Offset, Length: s.Length})
	}
	for _, s := range h.PositiveSpans {
		out.PositiveSpans = append(out.PositiveSpans, writev2.BucketSpan{Offset: s.Offset, Length: s.Length})
	}
	switch c := h.Count.(type) {
	case *prompb.Histogram_CountInt:
		out.Count = &writev2.Histogram_CountInt{CountInt: c.CountInt}
	case *prompb.Histogram_CountFloat:
		out.Count = &writev2.Histogram_CountFloat{CountFloat: c.CountFloat}
	}
	switch c := h.ZeroCount.(type) {
	case *prompb.Histogram_ZeroCountInt:
		out.ZeroCount = &writev2.Histogram_ZeroCountInt{ZeroCountInt: c.ZeroCountInt}
	case *prompb.Histogram_ZeroCountFloat:
		out.ZeroCount = &writev2.Histogram_ZeroCountFloat{ZeroCountFloat: c.ZeroCountFloat}
	}
	return out
}

func (g *gen) requestV2() *writev2.Request {
	st := writev2.NewSymbolTable()
	refs := func(pairs [][2]string) []uint32 {
		var r []uint32
		for _, p := range pairs {
			r = append(r, st.Symbolize(p[0]), st.Symbolize(p[1]))
		}
		return r
	}
	req := &writev2.Request{}
	for range g.r.IntN(20) {
		ts := writev2.TimeSeries{LabelsRefs: refs(g.labelPairs())}
		for range g.r.IntN(4) {
			smp := writev2.Sample{Value: g.float(), Timestamp: g.int64()}
			if g.r.IntN(2) == 0 {
				smp.StartTimestamp = g.int64()
			}
			ts.Samples = append(ts.Samples, smp)
		}
		for range g.r.IntN(3) * g.r.IntN(2) {
			ts.Histograms = append(ts.Histograms, toV2Histogram(g.histogramV1(), g.int64()*int64(g.r.IntN(2))))
		}
		for range g.r.IntN(3) * g.r.IntN(2) {
			var pairs [][2]string
			for range g.r.IntN(3) {
				pairs = append(pairs, [2]string{g.str(nameChars, 8), g.str(nameChars, 16)})
			}
			ts.Exemplars = append(ts.Exemplars, writev2.Exemplar{LabelsRefs: refs(pairs), Value: g.float(), Timestamp: g.int64()})
		}
		if g.r.IntN(4) == 0 {
			// The legacy series-wide created timestamp.
			ts.XXX_unrecognized = appendVarintField(nil, v2SeriesCreatedTimestamp, uint64(g.int64()))
		}
		if g.r.IntN(2) == 0 {
			ts.Metadata = writev2.Metadata{
				Type:    writev2.Metadata_MetricType(g.r.IntN(9)),
				HelpRef: st.Symbolize(g.str(nameChars+" .", 40)),
				UnitRef: st.Symbolize(g.str(nameChars, 3)),
			}
		}
		req.Timeseries = append(req.Timeseries, ts)
		// Series of one family in a row, as Prometheus sends them.
		if g.r.IntN(3) == 0 {
			dup := ts
			dup.Samples = []writev2.Sample{{Value: 1, Timestamp: 2}}
			req.Timeseries = append(req.Timeseries, dup)
		}
	}
	req.Symbols = st.Symbols()
	return req
}

// Raw protobuf building, for messages the generated code cannot produce
// (unknown fields in chosen places, fields out of order, bad refs).

func appendTag(b []byte, num int, wt protowire.Type) []byte {
	return binary.AppendUvarint(b, uint64(num)<<3|uint64(wt))
}

func appendVarintField(b []byte, num int, v uint64) []byte {
	return binary.AppendUvarint(appendTag(b, num, protowire.VarintType), v)
}

func appendBytesField(b []byte, num int, v []byte) []byte {
	b = binary.AppendUvarint(appendTag(b, num, protowire.BytesType), uint64(len(v)))
	return append(b, v...)
}

func appendDoubleField(b []byte, num int, v float64) []byte {
	return binary.LittleEndian.AppendUint64(appendTag(b, num, protowire.Fixed64Type), math.Float64bits(v))
}

// unknownFields returns one unknown field of every wire type, including a
// nested group, numbered from num up.
func unknownFields(num int) []byte {
	var b []byte
	b = appendVarintField(b, num, 12345)
	b = binary.LittleEndian.AppendUint64(appendTag(b, num+1, protowire.Fixed64Type), 42)
	b = appendBytesField(b, num+2, []byte("future"))
	b = binary.LittleEndian.AppendUint32(appendTag(b, num+3, protowire.Fixed32Type), 7)
	b = appendTag(b, num+4, protowire.StartGroupType)
	b = appendVarintField(b, 1, 1)
	b = appendTag(b, 2, protowire.StartGroupType)
	b = appendBytesField(b, 3, []byte("x"))
	b = appendTag(b, 2, protowire.EndGroupType)
	b = appendTag(b, num+4, protowire.EndGroupType)
	return b
}

// legacyCreatedTimestamp returns the last varint field 6 in a TimeSeries'
// unknown fields: the series-wide created timestamp of 2.0's experimental
// period. A field 6 of another wire type is just an unknown field.
func legacyCreatedTimestamp(unknown []byte) int64 {
	var ct int64
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return ct
		}
		unknown = unknown[n:]
		if num == v2SeriesCreatedTimestamp && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(unknown)
			if m < 0 {
				return ct
			}
			ct = int64(v)
		}
		if n = protowire.ConsumeFieldValue(num, typ, unknown); n < 0 {
			return ct
		}
		unknown = unknown[n:]
	}
	return ct
}
