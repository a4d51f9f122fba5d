package frontend

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// The query API's JSON, and so Result, holds native histograms as their
// non-empty buckets with their bounds, not their schema: ToPromQL rebuilds
// the schema from the bounds, for a step (query sharding) that combines
// results with PromQL's own values. FromPromQL writes what the JSON holds.

// FromPromQL returns m as the query API writes it: floats as they are,
// histograms as their count, sum and non-empty buckets.
func FromPromQL(m promql.Matrix) model.Matrix {
	out := make(model.Matrix, 0, len(m))
	for _, s := range m {
		ss := &model.SampleStream{Metric: make(model.Metric, s.Metric.Len())}
		s.Metric.Range(func(l labels.Label) { ss.Metric[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		if len(s.Floats) > 0 {
			ss.Values = make([]model.SamplePair, len(s.Floats))
			for i, p := range s.Floats {
				ss.Values[i] = model.SamplePair{Timestamp: model.Time(p.T), Value: model.SampleValue(p.F)}
			}
		}
		if len(s.Histograms) > 0 {
			ss.Histograms = make([]model.SampleHistogramPair, len(s.Histograms))
			for i, p := range s.Histograms {
				ss.Histograms[i] = model.SampleHistogramPair{Timestamp: model.Time(p.T), Histogram: sampleHistogram(p.H)}
			}
		}
		out = append(out, ss)
	}
	return out
}

func sampleHistogram(h *histogram.FloatHistogram) *model.SampleHistogram {
	sh := &model.SampleHistogram{Count: model.FloatString(h.Count), Sum: model.FloatString(h.Sum)}
	it := h.AllBucketIterator()
	for it.Next() {
		b := it.At()
		if b.Count == 0 {
			continue
		}
		sh.Buckets = append(sh.Buckets, &model.HistogramBucket{Boundaries: boundaries(b), Lower: model.FloatString(b.Lower), Upper: model.FloatString(b.Upper), Count: model.FloatString(b.Count)})
	}
	return sh
}

// boundaries is the query API's code of which bounds a bucket includes.
func boundaries(b histogram.Bucket[float64]) int32 {
	switch {
	case b.LowerInclusive && b.UpperInclusive:
		return 3
	case b.LowerInclusive:
		return 1
	case b.UpperInclusive:
		return 0
	}
	return 2
}

// ToPromQL returns m as PromQL values. A histogram whose schema its
// buckets do not give (one bucket only, next to the zero bucket) is an
// error; counter reset hints, which the JSON does not carry, are unknown.
func ToPromQL(m model.Matrix) (promql.Matrix, error) {
	out := make(promql.Matrix, 0, len(m))
	b := labels.NewScratchBuilder(0)
	for _, s := range m {
		b.Reset()
		for n, v := range s.Metric {
			b.Add(string(n), string(v))
		}
		b.Sort()
		ps := promql.Series{Metric: b.Labels()}
		if len(s.Values) > 0 {
			ps.Floats = make([]promql.FPoint, len(s.Values))
			for i, v := range s.Values {
				ps.Floats[i] = promql.FPoint{T: int64(v.Timestamp), F: float64(v.Value)}
			}
		}
		for _, h := range s.Histograms {
			fh, err := floatHistogram(h.Histogram)
			if err != nil {
				return nil, fmt.Errorf("cannot convert the histogram of %s at %d: %w", s.Metric, h.Timestamp, err)
			}
			ps.Histograms = append(ps.Histograms, promql.HPoint{T: int64(h.Timestamp), H: fh})
		}
		out = append(out, ps)
	}
	return out, nil
}

var errNoSchema = errors.New("the buckets do not give the schema")

// floatHistogram rebuilds a histogram from its JSON form, and checks that
// it writes the same buckets back.
func floatHistogram(sh *model.SampleHistogram) (*histogram.FloatHistogram, error) {
	if sh == nil {
		return nil, errors.New("no histogram")
	}
	fh := &histogram.FloatHistogram{Count: float64(sh.Count), Sum: float64(sh.Sum)}
	var rest []*model.HistogramBucket
	for _, b := range sh.Buckets {
		if b.Boundaries == 3 && b.Lower <= 0 && b.Upper >= 0 && -b.Lower == b.Upper {
			fh.ZeroThreshold, fh.ZeroCount = float64(b.Upper), float64(b.Count)
			continue
		}
		rest = append(rest, b)
	}
	custom := false
	for _, b := range rest {
		if math.IsInf(float64(b.Lower), -1) || math.IsInf(float64(b.Upper), 1) {
			custom = true
		}
	}
	var err error
	if !custom {
		err = exponentialBuckets(fh, rest)
	}
	if custom || err != nil {
		fh = &histogram.FloatHistogram{Count: fh.Count, Sum: fh.Sum, ZeroThreshold: fh.ZeroThreshold, ZeroCount: fh.ZeroCount}
		if cerr := customBuckets(fh, rest); cerr != nil {
			if err == nil {
				err = cerr
			}
			return nil, err
		}
	}
	if !slices.EqualFunc(sampleHistogram(fh).Buckets, sh.Buckets, func(a, b *model.HistogramBucket) bool { return *a == *b }) {
		return nil, errNoSchema
	}
	return fh, nil
}

// exponentialBuckets sets the schema and buckets of fh from bs: the
// schema from a bucket with both bounds its own (a bucket next to the zero
// bucket has one bound set to the zero threshold), each index from the
// bound that is always its own.
func exponentialBuckets(fh *histogram.FloatHistogram, bs []*model.HistogramBucket) error {
	schema, found := int32(0), len(bs) == 0
	for _, b := range bs {
		lo, hi := math.Abs(float64(b.Lower)), math.Abs(float64(b.Upper))
		if lo > hi {
			lo, hi = hi, lo
		}
		if lo <= fh.ZeroThreshold || lo == 0 {
			continue
		}
		s := -math.Log2(math.Log2(hi / lo))
		r := math.Round(s)
		if math.Abs(s-r) > 1e-6 || r < float64(histogram.ExponentialSchemaMin) || r > float64(histogram.ExponentialSchemaMax) {
			return errNoSchema
		}
		schema, found = int32(r), true
		break
	}
	if !found {
		return errNoSchema
	}
	fh.Schema = schema
	var pos, neg []indexed
	for _, b := range bs {
		switch {
		case b.Lower >= 0:
			pos = append(pos, indexed{bucketIndex(float64(b.Upper), schema), float64(b.Count)})
		case b.Upper <= 0:
			neg = append(neg, indexed{bucketIndex(-float64(b.Lower), schema), float64(b.Count)})
		default:
			return errNoSchema
		}
	}
	fh.PositiveSpans, fh.PositiveBuckets = spans(pos)
	fh.NegativeSpans, fh.NegativeBuckets = spans(neg)
	return nil
}

// bucketIndex is the index of the bucket whose upper bound is bound.
func bucketIndex(bound float64, schema int32) int32 {
	return int32(math.Round(math.Log2(bound) * math.Exp2(float64(schema))))
}

// customBuckets gives fh custom buckets (NHCB) whose bounds are those of
// bs. Empty buckets are not in the JSON: their bounds are lost, so the
// result may have fewer custom values than the histogram it was written
// from.
func customBuckets(fh *histogram.FloatHistogram, bs []*model.HistogramBucket) error {
	if fh.ZeroCount != 0 || fh.ZeroThreshold != 0 {
		return errNoSchema
	}
	var bounds []float64
	for _, b := range bs {
		for _, v := range []float64{float64(b.Lower), float64(b.Upper)} {
			if !math.IsInf(v, 0) {
				bounds = append(bounds, v)
			}
		}
	}
	sort.Float64s(bounds)
	bounds = slices.Compact(bounds)
	var pos []indexed
	for _, b := range bs {
		idx := len(bounds)
		if !math.IsInf(float64(b.Upper), 1) {
			idx, _ = slices.BinarySearch(bounds, float64(b.Upper))
		}
		pos = append(pos, indexed{int32(idx), float64(b.Count)})
	}
	fh.Schema, fh.CustomValues = histogram.CustomBucketsSchema, bounds
	fh.PositiveSpans, fh.PositiveBuckets = spans(pos)
	return nil
}

type indexed struct {
	idx   int32
	count float64
}

// spans encodes buckets sorted by index as spans and counts.
func spans(bs []indexed) ([]histogram.Span, []float64) {
	if len(bs) == 0 {
		return nil, nil
	}
	slices.SortFunc(bs, func(a, b indexed) int { return int(a.idx) - int(b.idx) })
	var ss []histogram.Span
	var counts []float64
	next := int32(0)
	for i, b := range bs {
		switch {
		case i == 0:
			ss = append(ss, histogram.Span{Offset: b.idx, Length: 1})
		case b.idx == next:
			ss[len(ss)-1].Length++
		default:
			ss = append(ss, histogram.Span{Offset: b.idx - next, Length: 1})
		}
		counts = append(counts, b.count)
		next = b.idx + 1
	}
	return ss, counts
}
