package protocodec

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"
)

// Sample is one float sample.
type Sample struct {
	T int64   // milliseconds since epoch
	V float64 // value
	// ST is the sample's start timestamp in milliseconds (remote write 2.0
	// start_timestamp): when the counter or delta that V measures started
	// accumulating. 0 means unknown, as in remote write; PromQL then falls
	// back to counter-reset detection and extrapolation.
	ST int64
}

// Histogram is one native histogram sample: exactly one of H and FH is set.
type Histogram struct {
	T  int64
	H  *histogram.Histogram
	FH *histogram.FloatHistogram
	ST int64 // start timestamp in milliseconds, as Sample.ST; 0 is unknown
}

// Exemplar is one exemplar attached to a series.
type Exemplar struct {
	Labels labels.Labels
	T      int64
	V      float64
}

// Series is one series with its samples in the order they were sent.
type Series struct {
	Labels     labels.Labels
	Samples    []Sample
	Histograms []Histogram
	Exemplars  []Exemplar
}

// Field numbers of prometheus.TimeSeries and prometheus.Exemplar
// (prompb/types.proto). weft's Push message lays its series out the same
// way.
const (
	seriesLabels     = 1
	seriesSamples    = 2
	seriesExemplars  = 3
	seriesHistograms = 4

	exemplarLabels    = 1
	exemplarValue     = 2
	exemplarTimestamp = 3
)

// Field numbers of Sample, the same in remote write 1.0 and 2.0;
// start_timestamp is 2.0's, which weft's Push message also uses.
const (
	sampleValue          = 1
	sampleTimestamp      = 2
	sampleStartTimestamp = 3
)

// SeriesDecoder decodes series in the layout of remote write 1.0's
// TimeSeries, and the Histogram messages of both versions, reusing its
// scratch space from one message to the next. A SeriesDecoder is not safe
// for concurrent use. Create one with NewSeriesDecoder (the labels
// implementations other than the default need their scratch builders
// initialized).
type SeriesDecoder struct {
	opts SeriesOptions

	// SB and ESB build the labels of series and exemplars (kept apart,
	// since an exemplar's labels may come between a series' labels). A
	// caller that decodes another series layout, such as remote write
	// 2.0's symbol references, may use them between calls.
	SB, ESB labels.ScratchBuilder

	hist histScratch
}

// SeriesOptions are the differences between the producers of the layout
// that a SeriesDecoder reads.
type SeriesOptions struct {
	// StartTimestamps makes DecodeSeries read start timestamps where remote
	// write 2.0 has them (Sample field 3, Histogram field 17), as weft's
	// Push message carries them. Remote write 1.0 has no such fields:
	// without this option they are skipped as unknown fields.
	StartTimestamps bool
	// SpansAlwaysSet makes a histogram's span lists non-nil even when the
	// message has none, as prompb's ToIntHistogram and ToFloatHistogram
	// give them, which is what Prometheus' own remote-write receiver hands
	// its TSDB. Without it an absent list is nil, as Go code builds it
	// before encoding, so that a weft push decodes exactly as it was sent.
	SpansAlwaysSet bool
}

// NewSeriesDecoder returns a SeriesDecoder with empty scratch space; it
// grows to fit the largest series seen and is kept.
func NewSeriesDecoder(opts SeriesOptions) *SeriesDecoder {
	return &SeriesDecoder{
		opts: opts,
		SB:   labels.NewScratchBuilder(16),
		ESB:  labels.NewScratchBuilder(4),
	}
}

// NextSeries extends *ss by one series and returns it, reusing the element
// (and its slices) left in the backing array by an earlier request. The
// series is empty.
func NextSeries(ss *[]Series) *Series {
	if len(*ss) < cap(*ss) {
		*ss = (*ss)[:len(*ss)+1]
	} else {
		*ss = append(*ss, Series{})
	}
	s := &(*ss)[len(*ss)-1]
	s.Labels = labels.EmptyLabels()
	s.Samples = s.Samples[:0]
	s.Histograms = s.Histograms[:0]
	s.Exemplars = s.Exemplars[:0]
	return s
}

// DecodeSeries decodes the TimeSeries message b into s, appending to its
// (empty) slices. The labels are built freshly, in the order sent, neither
// sorted nor deduplicated: the caller validates them as sent. Nothing in s
// refers to b afterwards. Unknown fields are skipped.
func (d *SeriesDecoder) DecodeSeries(s *Series, b []byte) error {
	d.SB.Reset()
	for i := 0; i < len(b); {
		num, wt, next, err := ConsumeTag(b, i)
		if err != nil {
			return err
		}
		i = next
		switch num {
		case seriesLabels:
			if wt != protowire.BytesType {
				return WireTypeError("labels", wt)
			}
			var msg []byte
			if msg, i, err = ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("labels: %w", err)
			}
			// AddLabel by hand: it is too big to inline, and this is the
			// hottest loop of the push path.
			name, value, err := DecodeLabel(msg)
			if err != nil {
				return fmt.Errorf("labels: %w", err)
			}
			d.SB.Add(LabelString(name), LabelString(value))
		case seriesSamples:
			if wt != protowire.BytesType {
				return WireTypeError("samples", wt)
			}
			var msg []byte
			if msg, i, err = ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("samples %d: %w", len(s.Samples), err)
			}
			smp, err := DecodeSample(msg, d.opts.StartTimestamps)
			if err != nil {
				return fmt.Errorf("samples %d: %w", len(s.Samples), err)
			}
			s.Samples = append(s.Samples, smp)
		case seriesExemplars:
			if wt != protowire.BytesType {
				return WireTypeError("exemplars", wt)
			}
			var msg []byte
			if msg, i, err = ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("exemplars %d: %w", len(s.Exemplars), err)
			}
			e, err := d.decodeExemplar(msg)
			if err != nil {
				return fmt.Errorf("exemplars %d: %w", len(s.Exemplars), err)
			}
			s.Exemplars = append(s.Exemplars, e)
		case seriesHistograms:
			if wt != protowire.BytesType {
				return WireTypeError("histograms", wt)
			}
			var msg []byte
			if msg, i, err = ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("histograms %d: %w", len(s.Histograms), err)
			}
			h, err := d.DecodeHistogram(msg, d.opts.StartTimestamps)
			if err != nil {
				return fmt.Errorf("histograms %d: %w", len(s.Histograms), err)
			}
			s.Histograms = append(s.Histograms, h)
		default:
			if i, err = SkipField(b, i, wt); err != nil {
				return err
			}
		}
	}
	s.Labels = d.SB.Labels()
	return nil
}

// DecodeSample decodes a Sample message of either remote-write version;
// s.ST is its start_timestamp when startTimestamp is set (2.0, or weft's
// Push message), and always 0 otherwise, field 3 being unknown to 1.0.
func DecodeSample(b []byte, startTimestamp bool) (s Sample, err error) {
	// Fast path for value, timestamp and, with start timestamps, start
	// timestamp in that order and nothing else, as every sender produces
	// them.
	if len(b) >= 11 && b[0] == sampleValue<<3|byte(protowire.Fixed64Type) && b[9] == sampleTimestamp<<3|byte(protowire.VarintType) {
		if t, next, err := ConsumeVarint(b, 10); err == nil {
			if next == len(b) {
				s.V = math.Float64frombits(binary.LittleEndian.Uint64(b[1:]))
				s.T = int64(t)
				return s, nil
			}
			if startTimestamp && b[next] == sampleStartTimestamp<<3|byte(protowire.VarintType) {
				if st, end, err := ConsumeVarint(b, next+1); err == nil && end == len(b) {
					s.V = math.Float64frombits(binary.LittleEndian.Uint64(b[1:]))
					s.T, s.ST = int64(t), int64(st)
					return s, nil
				}
			}
		}
	}
	for i := 0; i < len(b); {
		num, wt, next, err := ConsumeTag(b, i)
		if err != nil {
			return Sample{}, err
		}
		i = next
		switch {
		case num == sampleValue:
			if wt != protowire.Fixed64Type {
				return Sample{}, WireTypeError("value", wt)
			}
			if s.V, i, err = ConsumeDouble(b, i); err != nil {
				return Sample{}, err
			}
		case num == sampleTimestamp:
			if wt != protowire.VarintType {
				return Sample{}, WireTypeError("timestamp", wt)
			}
			var v uint64
			if v, i, err = ConsumeVarint(b, i); err != nil {
				return Sample{}, err
			}
			s.T = int64(v)
		case num == sampleStartTimestamp && startTimestamp:
			if wt != protowire.VarintType {
				return Sample{}, WireTypeError("start_timestamp", wt)
			}
			var v uint64
			if v, i, err = ConsumeVarint(b, i); err != nil {
				return Sample{}, err
			}
			s.ST = int64(v)
		default:
			if i, err = SkipField(b, i, wt); err != nil {
				return Sample{}, err
			}
		}
	}
	return s, nil
}

// decodeExemplar decodes a prometheus.Exemplar message.
func (d *SeriesDecoder) decodeExemplar(b []byte) (e Exemplar, err error) {
	d.ESB.Reset()
	for i := 0; i < len(b); {
		num, wt, next, err := ConsumeTag(b, i)
		if err != nil {
			return e, err
		}
		i = next
		switch num {
		case exemplarLabels:
			if wt != protowire.BytesType {
				return e, WireTypeError("labels", wt)
			}
			var msg []byte
			if msg, i, err = ConsumeBytes(b, i); err != nil {
				return e, fmt.Errorf("labels: %w", err)
			}
			name, value, err := DecodeLabel(msg)
			if err != nil {
				return e, fmt.Errorf("labels: %w", err)
			}
			d.ESB.Add(LabelString(name), LabelString(value))
		case exemplarValue:
			if wt != protowire.Fixed64Type {
				return e, WireTypeError("value", wt)
			}
			if e.V, i, err = ConsumeDouble(b, i); err != nil {
				return e, err
			}
		case exemplarTimestamp:
			if wt != protowire.VarintType {
				return e, WireTypeError("timestamp", wt)
			}
			var v uint64
			if v, i, err = ConsumeVarint(b, i); err != nil {
				return e, err
			}
			e.T = int64(v)
		default:
			if i, err = SkipField(b, i, wt); err != nil {
				return e, err
			}
		}
	}
	e.Labels = d.ESB.Labels()
	return e, nil
}
