package protocodec

import (
	"bytes"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestConsumeVarint(t *testing.T) {
	f := func(v uint64) {
		t.Helper()
		b := append([]byte{0xff}, AppendVarint(nil, v)...) // at an offset
		got, next, err := ConsumeVarint(b, 1)
		require.NoError(t, err)
		require.Equal(t, v, got)
		require.Equal(t, len(b), next)
		// Every shorter prefix is truncated.
		for n := 1; n < len(b); n++ {
			_, _, err := ConsumeVarint(b[:n], 1)
			require.ErrorIs(t, err, ErrTruncated, "%d of %d bytes", n, len(b))
		}
	}
	f(0)
	f(1)
	f(127)
	f(128)
	f(300)
	f(1<<32 + 1)
	f(math.MaxInt64)
	f(math.MaxUint64)

	// Eleven bytes never end a varint.
	_, _, err := ConsumeVarint(bytes.Repeat([]byte{0x80}, 11), 0)
	require.ErrorIs(t, err, ErrVarintOverflow)
	// Bits past the 64th in the tenth byte are dropped, as the generated
	// gogo code (prompb) does; protowire refuses them.
	tenth := append(bytes.Repeat([]byte{0xff}, 9), 0x7f)
	got, next, err := ConsumeVarint(tenth, 0)
	require.NoError(t, err)
	require.Equal(t, uint64(math.MaxUint64), got)
	require.Equal(t, len(tenth), next)
}

func TestConsumeTag(t *testing.T) {
	f := func(num protowire.Number, wt protowire.Type) {
		t.Helper()
		b := AppendTag(nil, num, wt)
		gotNum, gotType, next, err := ConsumeTag(b, 0)
		require.NoError(t, err)
		require.Equal(t, num, gotNum)
		require.Equal(t, wt, gotType)
		require.Equal(t, len(b), next)
	}
	f(1, protowire.VarintType)
	f(15, protowire.BytesType) // the last one-byte tag
	f(16, protowire.Fixed64Type)
	f(maxFieldNumber, protowire.Fixed32Type)

	bad := func(b []byte, want error) {
		t.Helper()
		_, _, _, err := ConsumeTag(b, 0)
		require.ErrorIs(t, err, want)
	}
	bad([]byte{0x02}, ErrFieldNumber) // field 0
	bad(protowire.AppendVarint(nil, uint64(maxFieldNumber+1)<<3), ErrFieldNumber)
	bad(nil, ErrTruncated)
	bad([]byte{0x80}, ErrTruncated)
}

func TestConsumeBytes(t *testing.T) {
	f := func(n int) {
		t.Helper()
		payload := bytes.Repeat([]byte{'x'}, n)
		b := AppendBytes(nil, payload)
		got, next, err := ConsumeBytes(b, 0)
		require.NoError(t, err)
		require.Equal(t, payload, got)
		require.Equal(t, len(b), next)
		require.Equal(t, len(got), cap(got), "the payload must not give access to what follows")
		_, _, err = ConsumeBytes(b[:len(b)-1], 0)
		require.ErrorIs(t, err, ErrTruncated)
	}
	f(1)
	f(127)
	f(128)
	f(100000)
}

// A message holding one field of every wire type, an unknown group with a
// nested group among them.
func everyWireType() []byte {
	var b []byte
	b = AppendVarintField(b, 1, 300)
	b = AppendDoubleField(b, 2, 1.5)
	b = AppendStringField(b, 3, "abc")
	b = protowire.AppendFixed32(AppendTag(b, 4, protowire.Fixed32Type), 7)
	b = AppendTag(b, 5, protowire.StartGroupType)
	b = AppendVarintField(b, 1, 1)
	b = AppendTag(b, 2, protowire.StartGroupType)
	b = AppendStringField(b, 3, "x")
	b = AppendTag(b, 2, protowire.EndGroupType)
	b = AppendTag(b, 5, protowire.EndGroupType)
	b = AppendVarintField(b, 6, 9)
	return b
}

func TestNextFieldAndSkipField(t *testing.T) {
	b := everyWireType()
	var (
		f   Field
		got []Field
		err error
	)
	for m := b; len(m) > 0; {
		m, err = NextField(m, &f)
		require.NoError(t, err)
		got = append(got, f)
	}
	require.Equal(t, []Field{
		{Num: 1, Type: protowire.VarintType, U: 300},
		{Num: 2, Type: protowire.Fixed64Type, U: math.Float64bits(1.5)},
		{Num: 3, Type: protowire.BytesType, B: []byte("abc")},
		{Num: 4, Type: protowire.Fixed32Type, U: 7},
		{Num: 5, Type: protowire.StartGroupType},
		{Num: 6, Type: protowire.VarintType, U: 9},
	}, got)

	// SkipField consumes what protowire does.
	for i := 0; i < len(b); {
		num, wt, next, err := ConsumeTag(b, i)
		require.NoError(t, err)
		end, err := SkipField(b, next, wt)
		require.NoError(t, err)
		require.Equal(t, protowire.ConsumeFieldValue(num, wt, b[next:]), end-next)
		i = end
	}

	// Groups nest only so deep, and end only where they start.
	deep := bytes.Repeat(AppendTag(nil, 1, protowire.StartGroupType), maxGroupDepth+2)
	_, err = NextField(deep, &f)
	require.ErrorIs(t, err, ErrGroupDepth)
	_, err = NextField(AppendTag(nil, 1, protowire.EndGroupType), &f)
	require.ErrorIs(t, err, ErrGroupEnd)
}

func TestBeginEndMessage(t *testing.T) {
	f := func(n int) {
		t.Helper()
		b, start := BeginMessage([]byte("prefix"), 7)
		body := bytes.Repeat([]byte{'y'}, n)
		b = EndMessage(append(b, body...), start)
		want := protowire.AppendBytes(AppendTag([]byte("prefix"), 7, protowire.BytesType), body)
		require.Equal(t, want, b)
	}
	f(0)
	f(127)
	f(128) // the length needs a second byte: the body is shifted
	f(20000)
}

func TestRepeatedPackedAndNot(t *testing.T) {
	// Packed, then one unpacked value: both append.
	b := AppendPackedSint64(nil, 1, []int64{-2, 0, 300})
	b = AppendSint64Field(b, 1, -5)
	var ints []int64
	for i := 0; i < len(b); {
		_, wt, next, err := ConsumeTag(b, i)
		require.NoError(t, err)
		ints, i, err = ConsumeRepeatedSint64(ints, b, next, wt)
		require.NoError(t, err)
	}
	require.Equal(t, []int64{-2, 0, 300, -5}, ints)

	b = AppendPackedDouble(nil, 1, []float64{1.5, -0.5})
	_, wt, next, err := ConsumeTag(b, 0)
	require.NoError(t, err)
	floats, _, err := ConsumeRepeatedDouble(nil, b, next, wt)
	require.NoError(t, err)
	require.Equal(t, []float64{1.5, -0.5}, floats)

	// A packed double field whose length is not a multiple of 8.
	_, _, err = ConsumeRepeatedDouble(nil, []byte{3, 1, 2, 3}, 0, protowire.BytesType)
	require.ErrorIs(t, err, ErrPackedLength)
	_, _, err = ConsumeRepeatedUint32(nil, []byte{1, 2, 3, 4}, 0, protowire.Fixed32Type)
	require.ErrorIs(t, err, ErrPackedWireType)
}

// The series layout is remote write 1.0's TimeSeries: what the generated
// prompb code marshals decodes as prompb's conversions give it.
func TestDecodeSeriesIsATimeSeries(t *testing.T) {
	h := tsdbutil.GenerateTestCustomBucketsHistogram(1) // no negative spans
	fh := tsdbutil.GenerateTestFloatHistogram(2)
	ts := prompb.TimeSeries{
		// Unsorted and duplicated: handed over as sent.
		Labels:     []prompb.Label{{Name: "job", Value: "x"}, {Name: "__name__", Value: "m"}, {Name: "job", Value: "x"}},
		Samples:    []prompb.Sample{{Value: 1.5, Timestamp: 10}, {Value: -2, Timestamp: 20}},
		Exemplars:  []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "t"}}, Value: 0.5, Timestamp: 15}},
		Histograms: []prompb.Histogram{prompb.FromIntHistogram(30, h), prompb.FromFloatHistogram(40, fh)},
	}
	b, err := ts.Marshal()
	require.NoError(t, err)

	f := func(opts SeriesOptions, wantNegSpans []histogram.Span) {
		t.Helper()
		d := NewSeriesDecoder(opts)
		var ss []Series
		s := NextSeries(&ss)
		require.NoError(t, d.DecodeSeries(s, b))
		require.Equal(t, `{job="x", __name__="m", job="x"}`, s.Labels.String())
		require.Equal(t, []Sample{{T: 10, V: 1.5}, {T: 20, V: -2}}, s.Samples)
		require.Len(t, s.Exemplars, 1)
		require.Equal(t, labels.FromStrings("trace_id", "t"), s.Exemplars[0].Labels)
		require.Equal(t, Exemplar{Labels: s.Exemplars[0].Labels, T: 15, V: 0.5}, s.Exemplars[0])
		require.Len(t, s.Histograms, 2)
		require.Equal(t, int64(30), s.Histograms[0].T)
		require.True(t, h.Equals(s.Histograms[0].H))
		require.Equal(t, wantNegSpans, s.Histograms[0].H.NegativeSpans)
		require.Equal(t, int64(40), s.Histograms[1].T)
		require.True(t, fh.Equals(s.Histograms[1].FH))

		// Decoding again into the reused series leaves nothing stale.
		ss = ss[:0]
		s = NextSeries(&ss)
		require.NoError(t, d.DecodeSeries(s, b))
		require.Len(t, s.Samples, 2)
		require.Len(t, s.Histograms, 2)
	}
	f(SeriesOptions{SpansAlwaysSet: true}, []histogram.Span{})
	f(SeriesOptions{}, nil)
}

// Start timestamps are read only when the options say the layout has them.
func TestDecodeSampleStartTimestamp(t *testing.T) {
	b := AppendDoubleField(nil, sampleValue, 2)
	b = AppendInt64Field(b, sampleTimestamp, 2000)
	b = AppendInt64Field(b, sampleStartTimestamp, -5)
	f := func(startTimestamp bool, want Sample) {
		t.Helper()
		got, err := DecodeSample(b, startTimestamp)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	f(true, Sample{T: 2000, V: 2, ST: -5})
	f(false, Sample{T: 2000, V: 2})
}

func TestDecodeMetricMetadata(t *testing.T) {
	b := AppendVarintField(nil, metadataType, 2)
	b = AppendStringField(b, metadataFamilyName, "up")
	b = AppendStringField(b, metadataHelp, "Up.")
	b = AppendVarintField(b, metadataTypeName, 1) // not a type name: skipped
	m, err := DecodeMetricMetadata(b)
	require.NoError(t, err)
	require.Equal(t, MetricMetadata{Type: 2, FamilyName: []byte("up"), Help: []byte("Up.")}, m)
	require.Equal(t, "gauge", MetricTypeName(m.Type))

	m, err = DecodeMetricMetadata(AppendStringField(nil, metadataTypeName, "something-new"))
	require.NoError(t, err)
	require.Equal(t, "something-new", string(m.TypeName))
	require.Equal(t, "unknown", MetricTypeName(m.Type))

	require.Equal(t, "unknown", MetricTypeName(-1))
	require.Equal(t, "unknown", MetricTypeName(8))
	for i := range int32(8) {
		n, ok := MetricTypeNumber(MetricTypeName(i))
		require.True(t, ok)
		require.Equal(t, i, n)
	}
	_, ok := MetricTypeNumber("something-new")
	require.False(t, ok)
}

// AppendLabels writes what prompb's Label messages are.
func TestAppendLabels(t *testing.T) {
	ls := labels.FromStrings("__name__", "m", "empty", "", "job", "x")
	var want []byte
	ls.Range(func(l labels.Label) {
		p := prompb.Label{Name: l.Name, Value: l.Value}
		m, err := p.Marshal()
		require.NoError(t, err)
		want = protowire.AppendBytes(AppendTag(want, 1, protowire.BytesType), m)
	})
	require.Equal(t, want, AppendLabels(nil, 1, ls))

	sb := labels.NewScratchBuilder(0)
	for b := want; len(b) > 0; {
		var (
			f   Field
			err error
		)
		b, err = NextField(b, &f)
		require.NoError(t, err)
		require.NoError(t, AddLabel(&sb, f.B))
	}
	require.Equal(t, ls, sb.Labels())
}

// FuzzNextField checks the consume primitives against protowire: what
// protowire accepts, NextField accepts too and consumes alike, except field
// numbers above the 2^29-1 that protobuf allows and groups nested deeper
// than NextField skips. It is laxer in one way only: like the generated
// gogo code, it drops the bits of a ten-byte varint past the 64th where
// protowire refuses the varint.
func FuzzNextField(f *testing.F) {
	f.Add(everyWireType())
	f.Add([]byte{0x0a, 0x80, 0x01})
	f.Add(bytes.Repeat([]byte{0xff}, 12))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fl Field
		rest, err := NextField(b, &fl)
		num, wt, n := protowire.ConsumeField(b)
		if n < 0 {
			return
		}
		if err != nil {
			if wt == protowire.StartGroupType || num > maxFieldNumber {
				return
			}
			t.Fatalf("protowire accepts what NextField refuses: %v", err)
		}
		require.Equal(t, num, fl.Num)
		require.Equal(t, wt, fl.Type)
		require.Equal(t, len(b)-n, len(rest))
	})
}
