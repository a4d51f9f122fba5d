package remotewrite

import (
	"errors"
	"math"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

func TestParseContentType(t *testing.T) {
	f := func(ct string, want Version) {
		t.Helper()
		v, err := ParseContentType(ct)
		require.NoError(t, err, ct)
		require.Equal(t, want, v, ct)
	}
	f("", V1)
	f("  ", V1)
	f("application/x-protobuf", V1)
	f("Application/X-Protobuf", V1)
	f("application/x-protobuf;proto=prometheus.WriteRequest", V1)
	f("application/x-protobuf; proto=prometheus.WriteRequest", V1)
	f("application/x-protobuf;proto=io.prometheus.write.v2.Request", V2)
	f("application/x-protobuf ; Proto = io.prometheus.write.v2.Request ", V2)
	f(`application/x-protobuf;proto="io.prometheus.write.v2.Request"`, V2)
	f("application/x-protobuf;charset=utf-8;proto=io.prometheus.write.v2.Request", V2)

	bad := func(ct string) {
		t.Helper()
		_, err := ParseContentType(ct)
		require.ErrorIs(t, err, ErrUnsupportedContentType, ct)
	}
	bad("application/json")
	bad("application/x-protobuf-foo")
	bad("text/plain;proto=prometheus.WriteRequest")
	bad("application/x-protobuf;proto=io.prometheus.write.v3.Request")
	bad("application/x-protobuf;proto=")
	bad("application/x-protobuf;proto=IO.PROMETHEUS.WRITE.V2.REQUEST")
}

// decodeRaw snappy-encodes a marshaled request and decodes it.
func decodeRaw(d *Decoder, dst *wire.PushRequest, pb []byte, v Version) error {
	return d.Decode(dst, snappy.Encode(nil, pb), v, 0)
}

func TestDecodeV1RoundTrip(t *testing.T) {
	d := NewDecoder()
	var dst wire.PushRequest // reused on purpose: stale contents must not leak
	for seed := range uint64(300) {
		req := newGen(seed).requestV1()
		require.NoError(t, decodeRaw(d, &dst, marshalV1(t, req), V1), "seed %d", seed)
		requireEqualPush(t, wantV1(req), &dst)
	}
}

func TestDecodeV2RoundTrip(t *testing.T) {
	d := NewDecoder()
	var dst wire.PushRequest
	for seed := range uint64(300) {
		req := newGen(seed).requestV2()
		want, err := wantV2(req)
		require.NoError(t, err)
		require.NoError(t, decodeRaw(d, &dst, marshalV2(t, req), V2), "seed %d", seed)
		requireEqualPush(t, want, &dst)
	}
}

// Both versions in turn on one Decoder and one PushRequest, as a pooled
// Decoder sees them.
func TestDecodeAlternatingVersions(t *testing.T) {
	d := NewDecoder()
	var dst wire.PushRequest
	for seed := range uint64(100) {
		g := newGen(seed)
		r1, r2 := g.requestV1(), g.requestV2()
		require.NoError(t, decodeRaw(d, &dst, marshalV1(t, r1), V1))
		requireEqualPush(t, wantV1(r1), &dst)
		want2, err := wantV2(r2)
		require.NoError(t, err)
		require.NoError(t, decodeRaw(d, &dst, marshalV2(t, r2), V2))
		requireEqualPush(t, want2, &dst)
	}
}

// The decoded request must not alias the Decoder's buffer: decoding the next
// request into another PushRequest leaves the first intact.
func TestDecodeResultOutlivesBuffer(t *testing.T) {
	d := NewDecoder()
	var first, second wire.PushRequest
	r1, r2 := newGen(1).requestV2(), newGen(2).requestV2()
	want, err := wantV2(r1)
	require.NoError(t, err)
	require.NoError(t, decodeRaw(d, &first, marshalV2(t, r1), V2))
	require.NoError(t, decodeRaw(d, &second, marshalV2(t, r2), V2))
	requireEqualPush(t, want, &first)

	m1, m2 := newGen(3).requestV1(), newGen(4).requestV1()
	require.NoError(t, decodeRaw(d, &first, marshalV1(t, m1), V1))
	require.NoError(t, decodeRaw(d, &second, marshalV1(t, m2), V1))
	requireEqualPush(t, wantV1(m1), &first)
}

func TestDecodeV1LabelsAsSent(t *testing.T) {
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels: []prompb.Label{
			{Name: "job", Value: "a"}, {Name: "__name__", Value: "up"}, {Name: "job", Value: "b"}, {Name: "", Value: ""},
		},
		Samples: []prompb.Sample{{Value: 1, Timestamp: 2}},
	}}}
	var dst wire.PushRequest
	require.NoError(t, decodeRaw(NewDecoder(), &dst, marshalV1(t, req), V1))
	var got [][2]string
	dst.Series[0].Labels.Range(func(l labels.Label) { got = append(got, [2]string{l.Name, l.Value}) })
	require.Equal(t, [][2]string{{"job", "a"}, {"__name__", "up"}, {"job", "b"}, {"", ""}}, got)
}

func TestDecodeV2LabelsAsSent(t *testing.T) {
	req := &writev2.Request{
		Symbols: []string{"", "job", "a", "__name__", "up", "b"},
		Timeseries: []writev2.TimeSeries{{
			LabelsRefs: []uint32{1, 2, 3, 4, 1, 5},
			Samples:    []writev2.Sample{{Value: 1, Timestamp: 2}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER},
		}},
	}
	var dst wire.PushRequest
	require.NoError(t, decodeRaw(NewDecoder(), &dst, marshalV2(t, req), V2))
	var got [][2]string
	dst.Series[0].Labels.Range(func(l labels.Label) { got = append(got, [2]string{l.Name, l.Value}) })
	require.Equal(t, [][2]string{{"job", "a"}, {"__name__", "up"}, {"job", "b"}}, got)
	// The family is found although the labels are not sorted.
	require.Equal(t, []wire.Metadata{{MetricFamily: "up", Type: "counter"}}, dst.Metadata)
}

// Float values travel bit for bit, NaN payloads included: the staleness
// marker is a NaN that must stay distinguishable from other NaNs.
func TestDecodeNaNPayloads(t *testing.T) {
	vals := []float64{math.Float64frombits(value.StaleNaN), math.NaN(), math.Float64frombits(0x7ff0000000000123)}
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: []prompb.Label{{Name: "__name__", Value: "x"}}}}}
	for i, v := range vals {
		req.Timeseries[0].Samples = append(req.Timeseries[0].Samples, prompb.Sample{Value: v, Timestamp: int64(i)})
	}
	var dst wire.PushRequest
	require.NoError(t, decodeRaw(NewDecoder(), &dst, marshalV1(t, req), V1))
	for i, v := range vals {
		require.Equal(t, math.Float64bits(v), math.Float64bits(dst.Series[0].Samples[i].V))
	}
}

// A later protocol revision may add fields anywhere; they must be skipped.
func TestDecodeSkipsUnknownFields(t *testing.T) {
	u := unknownFields(100)
	t.Run("v1", func(t *testing.T) {
		h := newGen(7).histogramV1()
		h.XXX_unrecognized = u
		h.PositiveSpans = append(h.PositiveSpans, prompb.BucketSpan{Offset: 1, Length: 2, XXX_unrecognized: u})
		// Field 17 is start_timestamp in 2.0 and unknown in 1.0.
		h.XXX_unrecognized = appendVarintField(append([]byte(nil), u...), 17, 99)
		req := &prompb.WriteRequest{
			Timeseries: []prompb.TimeSeries{{
				Labels:           []prompb.Label{{Name: "__name__", Value: "up", XXX_unrecognized: u}},
				Samples:          []prompb.Sample{{Value: 1, Timestamp: 2, XXX_unrecognized: appendVarintField(append([]byte(nil), u...), 3, 77)}},
				Exemplars:        []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "abc", XXX_unrecognized: u}}, Value: 3, Timestamp: 4, XXX_unrecognized: u}},
				Histograms:       []prompb.Histogram{h},
				XXX_unrecognized: u,
			}},
			Metadata:         []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "up", Help: "h", Unit: "u", XXX_unrecognized: u}},
			XXX_unrecognized: append(appendBytesField(nil, 2, []byte("reserved")), u...),
		}
		var dst wire.PushRequest
		require.NoError(t, decodeRaw(NewDecoder(), &dst, marshalV1(t, req), V1))
		requireEqualPush(t, wantV1(req), &dst)
	})
	t.Run("v2", func(t *testing.T) {
		h := toV2Histogram(newGen(8).histogramV1(), 5)
		h.XXX_unrecognized = u
		req := &writev2.Request{
			Symbols: []string{"", "__name__", "up", "trace_id", "abc", "help", "unit"},
			Timeseries: []writev2.TimeSeries{{
				LabelsRefs:       []uint32{1, 2},
				Samples:          []writev2.Sample{{Value: 1, Timestamp: 2, XXX_unrecognized: u}},
				Exemplars:        []writev2.Exemplar{{LabelsRefs: []uint32{3, 4}, Value: 3, Timestamp: 4, XXX_unrecognized: u}},
				Histograms:       []writev2.Histogram{h},
				Metadata:         writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: 5, UnitRef: 6, XXX_unrecognized: u},
				XXX_unrecognized: u,
			}},
			// Fields 1 to 3 are reserved for the 1.0 message.
			XXX_unrecognized: append(appendBytesField(nil, 1, []byte("not a series")), u...),
		}
		want, err := wantV2(req)
		require.NoError(t, err)
		var dst wire.PushRequest
		require.NoError(t, decodeRaw(NewDecoder(), &dst, marshalV2(t, req), V2))
		requireEqualPush(t, want, &dst)
		require.Equal(t, []wire.Metadata{{MetricFamily: "up", Type: "counter", Help: "help", Unit: "unit"}}, dst.Metadata)
	})
}

// Field order is free in protobuf: symbols may follow the series, labels may
// follow samples, repeated scalars may be packed or not.
func TestDecodeV2FieldOrder(t *testing.T) {
	var sample []byte
	sample = appendDoubleField(sample, 1, 1.5)
	sample = appendVarintField(sample, 2, 1000)
	sample = appendVarintField(sample, 3, 900)
	var ts []byte
	ts = appendBytesField(ts, 2, sample)
	ts = appendVarintField(ts, 1, 1) // unpacked labels_refs
	ts = appendVarintField(ts, 1, 2)
	ts = appendBytesField(ts, 1, []byte{3, 4}) // packed
	ts = appendBytesField(ts, 5, appendVarintField(nil, 1, 2))
	ts = appendBytesField(ts, 5, appendVarintField(nil, 3, 5)) // merged into the first
	var req []byte
	req = appendBytesField(req, 5, ts)
	for _, s := range []string{"", "__name__", "up", "job", "j", "help"} {
		req = appendBytesField(req, 4, []byte(s))
	}
	var dst wire.PushRequest
	require.NoError(t, decodeRaw(NewDecoder(), &dst, req, V2))
	require.Equal(t, `{__name__="up", job="j"}`, dst.Series[0].Labels.String())
	require.Equal(t, []wire.Sample{{T: 1000, V: 1.5, ST: 900}}, dst.Series[0].Samples)
	require.Equal(t, []wire.Metadata{{MetricFamily: "up", Type: "gauge", Help: "help"}}, dst.Metadata)
}

// Each sample and histogram keeps its own start timestamp; the legacy
// series-wide created timestamp fills in those that have none, wherever it
// comes in the series.
func TestDecodeV2StartTimestamps(t *testing.T) {
	type sts struct{ samples, histograms []int64 }
	f := func(ts writev2.TimeSeries, legacy int64, want sts) {
		t.Helper()
		ts.LabelsRefs = []uint32{1, 2}
		if legacy != 0 {
			ts.XXX_unrecognized = appendVarintField(nil, v2SeriesCreatedTimestamp, uint64(legacy))
		}
		req := &writev2.Request{Symbols: []string{"", "__name__", "x"}, Timeseries: []writev2.TimeSeries{ts}}
		var dst wire.PushRequest
		require.NoError(t, decodeRaw(NewDecoder(), &dst, marshalV2(t, req), V2))
		var got sts
		for _, s := range dst.Series[0].Samples {
			got.samples = append(got.samples, s.ST)
		}
		for _, h := range dst.Series[0].Histograms {
			got.histograms = append(got.histograms, h.ST)
		}
		require.Equal(t, want, got)
	}
	h := toV2Histogram(prompb.FromIntHistogram(0, tsdbutil.GenerateTestHistogram(1)), 0)
	hST := func(ts, st int64) writev2.Histogram { c := h; c.Timestamp, c.StartTimestamp = ts, st; return c }
	f(writev2.TimeSeries{Samples: []writev2.Sample{{Timestamp: 10}}}, 0, sts{samples: []int64{0}})
	f(writev2.TimeSeries{Samples: []writev2.Sample{{Timestamp: 10, StartTimestamp: 5}}}, 0, sts{samples: []int64{5}})
	// A reset within the request, and a negative start timestamp.
	f(writev2.TimeSeries{Samples: []writev2.Sample{{Timestamp: 10}, {Timestamp: 20, StartTimestamp: 7}, {Timestamp: 30, StartTimestamp: 25}, {Timestamp: 40, StartTimestamp: -3}}}, 0,
		sts{samples: []int64{0, 7, 25, -3}})
	f(writev2.TimeSeries{Histograms: []writev2.Histogram{hST(10, 3), hST(20, 0), hST(30, 21)}}, 0, sts{histograms: []int64{3, 0, 21}})
	// The legacy field fills in what the samples do not say.
	f(writev2.TimeSeries{Samples: []writev2.Sample{{Timestamp: 10}, {Timestamp: 20, StartTimestamp: 8}}, Histograms: []writev2.Histogram{hST(30, 0)}}, 4,
		sts{samples: []int64{4, 8}, histograms: []int64{4}})

	// Field 6 before the samples, a field 6 that is not a varint (not the
	// legacy field: skipped), and a sample with its fields in reverse order.
	var sample, reversed, ts, req []byte
	sample = appendDoubleField(sample, 1, 1)
	sample = appendVarintField(sample, 2, 50)
	reversed = appendVarintField(reversed, 3, 55)
	reversed = appendVarintField(reversed, 2, 60)
	reversed = appendDoubleField(reversed, 1, 2)
	ts = appendVarintField(ts, v2SeriesCreatedTimestamp, 40)
	ts = appendBytesField(ts, v2SeriesCreatedTimestamp, []byte("x"))
	ts = appendBytesField(ts, 1, []byte{1, 2})
	ts = appendBytesField(ts, 2, sample)
	ts = appendBytesField(ts, 2, reversed)
	req = appendBytesField(req, 5, ts)
	for _, s := range []string{"", "__name__", "x"} {
		req = appendBytesField(req, 4, []byte(s))
	}
	var dst wire.PushRequest
	require.NoError(t, decodeRaw(NewDecoder(), &dst, req, V2))
	require.Equal(t, []wire.Sample{{T: 50, V: 1, ST: 40}, {T: 60, V: 2, ST: 55}}, dst.Series[0].Samples)

	// 1.0 has no start timestamps: Sample field 3 and Histogram field 17
	// are unknown fields there.
	sample = appendVarintField(sample, 3, 45)
	var v1ts []byte
	v1ts = appendBytesField(v1ts, 1, appendBytesField(appendBytesField(nil, 1, []byte("__name__")), 2, []byte("x")))
	v1ts = appendBytesField(v1ts, 2, sample)
	v1ts = appendBytesField(v1ts, 4, appendVarintField(nil, 17, 45))
	v1 := appendBytesField(nil, 1, v1ts)
	require.NoError(t, decodeRaw(NewDecoder(), &dst, v1, V1))
	require.Equal(t, []wire.Sample{{T: 50, V: 1}}, dst.Series[0].Samples)
	require.Zero(t, dst.Series[0].Histograms[0].ST)
}

func TestDecodeV2MetadataPerFamily(t *testing.T) {
	md := writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_HISTOGRAM, HelpRef: 5}
	req := &writev2.Request{
		Symbols: []string{"", "__name__", "a", "b", "job", "help"},
		Timeseries: []writev2.TimeSeries{
			{LabelsRefs: []uint32{1, 2, 4, 2}, Metadata: md},
			{LabelsRefs: []uint32{1, 2, 4, 3}, Metadata: md}, // same family: collapsed
			{LabelsRefs: []uint32{1, 3}},                     // no metadata
			{LabelsRefs: []uint32{1, 3}, Metadata: writev2.Metadata{UnitRef: 4}},
			{LabelsRefs: []uint32{4, 3}, Metadata: md}, // no name: no family
			{LabelsRefs: []uint32{1, 2}, Metadata: md}, // not consecutive: kept
		},
	}
	var dst wire.PushRequest
	require.NoError(t, decodeRaw(NewDecoder(), &dst, marshalV2(t, req), V2))
	require.Equal(t, []wire.Metadata{
		{MetricFamily: "a", Type: "histogram", Help: "help"},
		{MetricFamily: "b", Type: "unknown", Unit: "job"},
		{MetricFamily: "a", Type: "histogram", Help: "help"},
	}, dst.Metadata)
	require.Len(t, dst.Series, 6)
}

func TestDecodeV1MetadataTypes(t *testing.T) {
	want := map[prompb.MetricMetadata_MetricType]string{
		0: "unknown", 1: "counter", 2: "gauge", 3: "histogram", 4: "gaugehistogram",
		5: "summary", 6: "info", 7: "stateset", 8: "unknown", -1: "unknown",
	}
	for typ, name := range want {
		req := &prompb.WriteRequest{Metadata: []prompb.MetricMetadata{{Type: typ, MetricFamilyName: "f"}}}
		var dst wire.PushRequest
		require.NoError(t, decodeRaw(NewDecoder(), &dst, marshalV1(t, req), V1))
		require.Equal(t, []wire.Metadata{{MetricFamily: "f", Type: name}}, dst.Metadata)
	}
}

func TestDecodeV2BadRefs(t *testing.T) {
	f := func(req *writev2.Request, wantMsg string) {
		t.Helper()
		var dst wire.PushRequest
		err := decodeRaw(NewDecoder(), &dst, marshalV2(t, req), V2)
		require.ErrorIs(t, err, ErrBadProto)
		require.ErrorContains(t, err, "cannot decode remote-write 2.0 request")
		require.ErrorContains(t, err, wantMsg)
		require.Empty(t, dst.Series, "reset on error")
	}
	syms := []string{"", "__name__", "up"}
	f(&writev2.Request{Symbols: syms, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{1, 99}}}}, "label value ref 99")
	f(&writev2.Request{Symbols: syms, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{77, 2}}}}, "label name ref 77")
	f(&writev2.Request{Symbols: syms, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{1, 2, 1}}}}, "odd number of refs")
	f(&writev2.Request{Symbols: syms, Timeseries: []writev2.TimeSeries{
		{LabelsRefs: []uint32{1, 2}},
		{LabelsRefs: []uint32{1, 2}, Exemplars: []writev2.Exemplar{{LabelsRefs: []uint32{1, 3}}}},
	}}, "timeseries 1: exemplars 0: labels_refs: label value ref 3")
	f(&writev2.Request{Symbols: syms, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{1, 2}, Metadata: writev2.Metadata{HelpRef: 50}}}}, "help_ref 50")
	f(&writev2.Request{Symbols: syms, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{1, 2}, Metadata: writev2.Metadata{UnitRef: 60}}}}, "unit_ref 60")
	f(&writev2.Request{Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{0, 0}}}}, "outside of symbols table (size 0)")
}

func TestDecodeErrors(t *testing.T) {
	d := NewDecoder()
	f := func(body []byte, v Version, max int, wantErr error) {
		t.Helper()
		var dst wire.PushRequest
		err := d.Decode(&dst, body, v, max)
		require.ErrorIs(t, err, wantErr)
		require.Empty(t, dst.Series)
	}
	valid := snappy.Encode(nil, marshalV1(t, newGen(3).requestV1()))

	f(nil, V1, 0, ErrBadSnappy)
	f([]byte("not snappy at all, just text"), V1, 0, ErrBadSnappy)
	f([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, V1, 0, ErrBadSnappy)
	f(valid[:len(valid)-1], V1, 0, ErrBadSnappy)
	f(valid, V1, 10, ErrTooLarge)
	// A header announcing 4 GiB is refused before anything is allocated.
	f([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, V2, 1<<20, ErrTooLarge)
	f(valid, Version(3), 0, ErrUnsupportedContentType)
	f(snappy.Encode(nil, []byte{0x0a, 0x05, 1}), V1, 0, ErrBadProto)          // length past the end
	f(snappy.Encode(nil, []byte{0x00}), V1, 0, ErrBadProto)                   // field number 0
	f(snappy.Encode(nil, []byte{0x0f}), V1, 0, ErrBadProto)                   // wire type 7
	f(snappy.Encode(nil, []byte{0x0c}), V1, 0, ErrBadProto)                   // group end without start
	f(snappy.Encode(nil, []byte{0x08, 0x01}), V1, 0, ErrBadProto)             // timeseries as a varint
	f(snappy.Encode(nil, []byte{0x2a, 0x02, 0x08, 0x01}), V2, 0, ErrBadProto) // one label ref: not a pair
}

func TestDecodeExactLimit(t *testing.T) {
	pb := marshalV1(t, newGen(5).requestV1())
	var dst wire.PushRequest
	require.NoError(t, NewDecoder().Decode(&dst, snappy.Encode(nil, pb), V1, len(pb)))
	require.ErrorIs(t, NewDecoder().Decode(&dst, snappy.Encode(nil, pb), V1, len(pb)-1), ErrTooLarge)
}

// Every prefix of a valid request either decodes (it ended on a field
// boundary, and then it must decode to what prompb makes of it) or fails
// with ErrBadProto; nothing panics.
func TestDecodeTruncated(t *testing.T) {
	d := NewDecoder()
	var dst wire.PushRequest
	for seed := range uint64(20) {
		g := newGen(seed)
		pb1 := marshalV1(t, g.requestV1())
		for n := range pb1 {
			err := decodeRaw(d, &dst, pb1[:n], V1)
			var ref prompb.WriteRequest
			if refErr := ref.Unmarshal(pb1[:n]); refErr == nil {
				require.NoError(t, err, "seed %d prefix %d", seed, n)
				requireEqualPush(t, wantV1(&ref), &dst)
			} else {
				require.ErrorIs(t, err, ErrBadProto, "seed %d prefix %d", seed, n)
			}
		}
		pb2 := marshalV2(t, g.requestV2())
		for n := range pb2 {
			err := decodeRaw(d, &dst, pb2[:n], V2)
			var ref writev2.Request
			if refErr := ref.Unmarshal(pb2[:n]); refErr == nil {
				if want, wantErr := wantV2(&ref); wantErr == nil {
					require.NoError(t, err, "seed %d prefix %d", seed, n)
					requireEqualPush(t, want, &dst)
					continue
				}
			}
			require.ErrorIs(t, err, ErrBadProto, "seed %d prefix %d", seed, n)
		}
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	errs := []error{ErrUnsupportedContentType, ErrBadSnappy, ErrBadProto, ErrTooLarge}
	for i, a := range errs {
		for j, b := range errs {
			require.Equal(t, i == j, errors.Is(a, b))
		}
	}
}
