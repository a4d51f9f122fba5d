package protocodec

import (
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of Histogram and BucketSpan, the same in both remote-write
// versions; start_timestamp is 2.0's, which weft's Push message also uses.
const (
	histCountInt       = 1
	histCountFloat     = 2
	histSum            = 3
	histSchema         = 4
	histZeroThreshold  = 5
	histZeroCountInt   = 6
	histZeroCountFloat = 7
	histNegativeSpans  = 8
	histNegativeDeltas = 9
	histNegativeCounts = 10
	histPositiveSpans  = 11
	histPositiveDeltas = 12
	histPositiveCounts = 13
	histResetHint      = 14
	histTimestamp      = 15
	histCustomValues   = 16
	histStartTimestamp = 17

	spanOffset = 1
	spanLength = 2
)

// Which member of a oneof was set last (the one that counts, as in every
// protobuf implementation).
const (
	oneofUnset = iota
	oneofInt
	oneofFloat
)

// histScratch collects the repeated fields of one histogram before they are
// copied into slices of exactly the right size.
type histScratch struct {
	posSpans, negSpans   []histogram.Span
	posDeltas, negDeltas []int64
	posCounts, negCounts []float64
	custom               []float64
}

// DecodeHistogram decodes a Histogram message of either remote-write version
// into a freshly allocated histogram.Histogram (integer count) or
// histogram.FloatHistogram (float count), converted as prompb's
// ToIntHistogram and ToFloatHistogram do (see SeriesOptions.SpansAlwaysSet
// for the one difference). h.ST is the start_timestamp when startTimestamp
// is set (2.0, or weft's Push message), and always 0 otherwise, field 17
// being unknown to 1.0.
func (d *SeriesDecoder) DecodeHistogram(b []byte, startTimestamp bool) (h Histogram, err error) {
	var (
		countKind, zeroKind   int
		countInt, zeroInt     uint64
		countFloat, zeroFloat float64
		sum, zeroThreshold    float64
		schema, resetHint     int32
		sc                    = &d.hist
	)
	sc.posSpans, sc.negSpans = sc.posSpans[:0], sc.negSpans[:0]
	sc.posDeltas, sc.negDeltas = sc.posDeltas[:0], sc.negDeltas[:0]
	sc.posCounts, sc.negCounts = sc.posCounts[:0], sc.negCounts[:0]
	sc.custom = sc.custom[:0]

	for i := 0; i < len(b); {
		num, wt, next, err := ConsumeTag(b, i)
		if err != nil {
			return h, err
		}
		i = next
		var v uint64
		switch num {
		case histCountInt, histZeroCountInt, histSchema, histResetHint, histTimestamp:
			if wt != protowire.VarintType {
				return h, WireTypeError(histFieldName(num), wt)
			}
			if v, i, err = ConsumeVarint(b, i); err != nil {
				return h, err
			}
			switch num {
			case histCountInt:
				countKind, countInt = oneofInt, v
			case histZeroCountInt:
				zeroKind, zeroInt = oneofInt, v
			case histSchema:
				schema = DecodeZigZag32(v)
			case histResetHint:
				resetHint = int32(v)
			default:
				h.T = int64(v)
			}
		case histStartTimestamp:
			if !startTimestamp {
				if i, err = SkipField(b, i, wt); err != nil {
					return h, err
				}
				continue
			}
			if wt != protowire.VarintType {
				return h, WireTypeError(histFieldName(num), wt)
			}
			if v, i, err = ConsumeVarint(b, i); err != nil {
				return h, err
			}
			h.ST = int64(v)
		case histCountFloat, histSum, histZeroThreshold, histZeroCountFloat:
			if wt != protowire.Fixed64Type {
				return h, WireTypeError(histFieldName(num), wt)
			}
			var f float64
			if f, i, err = ConsumeDouble(b, i); err != nil {
				return h, err
			}
			switch num {
			case histCountFloat:
				countKind, countFloat = oneofFloat, f
			case histZeroCountFloat:
				zeroKind, zeroFloat = oneofFloat, f
			case histSum:
				sum = f
			default:
				zeroThreshold = f
			}
		case histNegativeSpans, histPositiveSpans:
			if wt != protowire.BytesType {
				return h, WireTypeError(histFieldName(num), wt)
			}
			var msg []byte
			if msg, i, err = ConsumeBytes(b, i); err != nil {
				return h, err
			}
			span, err := decodeSpan(msg)
			if err != nil {
				return h, fmt.Errorf("%s: %w", histFieldName(num), err)
			}
			if num == histNegativeSpans {
				sc.negSpans = append(sc.negSpans, span)
			} else {
				sc.posSpans = append(sc.posSpans, span)
			}
		case histNegativeDeltas:
			sc.negDeltas, i, err = ConsumeRepeatedSint64(sc.negDeltas, b, i, wt)
		case histPositiveDeltas:
			sc.posDeltas, i, err = ConsumeRepeatedSint64(sc.posDeltas, b, i, wt)
		case histNegativeCounts:
			sc.negCounts, i, err = ConsumeRepeatedDouble(sc.negCounts, b, i, wt)
		case histPositiveCounts:
			sc.posCounts, i, err = ConsumeRepeatedDouble(sc.posCounts, b, i, wt)
		case histCustomValues:
			sc.custom, i, err = ConsumeRepeatedDouble(sc.custom, b, i, wt)
		default:
			i, err = SkipField(b, i, wt)
		}
		if err != nil {
			return h, fmt.Errorf("%s: %w", histFieldName(num), err)
		}
	}

	// What prompb's conversions produce, field for field: spans are always
	// non-nil (unless the options say otherwise), bucket slices and custom
	// values nil when absent, and a oneof member that is not the one set
	// counts as zero.
	posSpans, negSpans := cloneSpans(sc.posSpans, sc.negSpans, d.opts.SpansAlwaysSet)
	var custom []float64
	if len(sc.custom) > 0 {
		custom = slices.Clone(sc.custom)
	}
	if countKind == oneofFloat {
		fh := &histogram.FloatHistogram{
			CounterResetHint: histogram.CounterResetHint(resetHint),
			Schema:           schema,
			ZeroThreshold:    zeroThreshold,
			Count:            countFloat,
			Sum:              sum,
			PositiveSpans:    posSpans,
			NegativeSpans:    negSpans,
			CustomValues:     custom,
		}
		if zeroKind == oneofFloat {
			fh.ZeroCount = zeroFloat
		}
		fh.PositiveBuckets, fh.NegativeBuckets = clonePair(sc.posCounts, sc.negCounts)
		h.FH = fh
		return h, nil
	}
	ih := &histogram.Histogram{
		CounterResetHint: histogram.CounterResetHint(resetHint),
		Schema:           schema,
		ZeroThreshold:    zeroThreshold,
		Count:            countInt,
		Sum:              sum,
		PositiveSpans:    posSpans,
		NegativeSpans:    negSpans,
		CustomValues:     custom,
	}
	if zeroKind == oneofInt {
		ih.ZeroCount = zeroInt
	}
	ih.PositiveBuckets, ih.NegativeBuckets = clonePair(sc.posDeltas, sc.negDeltas)
	h.H = ih
	return h, nil
}

// cloneSpans copies both span lists into one allocation; the capacity of
// each is capped so that appending to one cannot overwrite the other. An
// empty list is nil unless alwaysSet.
func cloneSpans(pos, neg []histogram.Span, alwaysSet bool) (p, n []histogram.Span) {
	all := make([]histogram.Span, len(pos)+len(neg))
	copy(all, pos)
	copy(all[len(pos):], neg)
	p, n = all[:len(pos):len(pos)], all[len(pos):]
	if !alwaysSet {
		if len(pos) == 0 {
			p = nil
		}
		if len(neg) == 0 {
			n = nil
		}
	}
	return p, n
}

// clonePair copies two bucket lists into one allocation, leaving an empty
// list nil.
func clonePair[T int64 | float64](pos, neg []T) (p, n []T) {
	if len(pos)+len(neg) == 0 {
		return nil, nil
	}
	all := make([]T, len(pos)+len(neg))
	copy(all, pos)
	copy(all[len(pos):], neg)
	if len(pos) > 0 {
		p = all[:len(pos):len(pos)]
	}
	if len(neg) > 0 {
		n = all[len(pos):]
	}
	return p, n
}

func decodeSpan(b []byte) (s histogram.Span, err error) {
	for i := 0; i < len(b); {
		num, wt, next, err := ConsumeTag(b, i)
		if err != nil {
			return s, err
		}
		i = next
		switch num {
		case spanOffset, spanLength:
			if wt != protowire.VarintType {
				return s, WireTypeError("span", wt)
			}
			var v uint64
			if v, i, err = ConsumeVarint(b, i); err != nil {
				return s, err
			}
			if num == spanOffset {
				s.Offset = DecodeZigZag32(v)
			} else {
				s.Length = uint32(v)
			}
		default:
			if i, err = SkipField(b, i, wt); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}

// histFieldName names a Histogram field in error messages.
func histFieldName(num protowire.Number) string {
	switch num {
	case histCountInt:
		return "count_int"
	case histCountFloat:
		return "count_float"
	case histSum:
		return "sum"
	case histSchema:
		return "schema"
	case histZeroThreshold:
		return "zero_threshold"
	case histZeroCountInt:
		return "zero_count_int"
	case histZeroCountFloat:
		return "zero_count_float"
	case histNegativeSpans:
		return "negative_spans"
	case histNegativeDeltas:
		return "negative_deltas"
	case histNegativeCounts:
		return "negative_counts"
	case histPositiveSpans:
		return "positive_spans"
	case histPositiveDeltas:
		return "positive_deltas"
	case histPositiveCounts:
		return "positive_counts"
	case histResetHint:
		return "reset_hint"
	case histTimestamp:
		return "timestamp"
	case histCustomValues:
		return "custom_values"
	case histStartTimestamp:
		return "start_timestamp"
	default:
		return fmt.Sprintf("field %d", num)
	}
}
