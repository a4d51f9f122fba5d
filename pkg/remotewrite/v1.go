package remotewrite

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/weft-io/weft/pkg/wire"
)

// Field numbers of prometheus.WriteRequest and the messages it contains
// (prompb/remote.proto and prompb/types.proto).
const (
	v1WriteRequestTimeseries = 1
	v1WriteRequestMetadata   = 3

	v1SeriesLabels     = 1
	v1SeriesSamples    = 2
	v1SeriesExemplars  = 3
	v1SeriesHistograms = 4

	v1LabelName  = 1
	v1LabelValue = 2

	v1ExemplarLabels    = 1
	v1ExemplarValue     = 2
	v1ExemplarTimestamp = 3

	v1MetadataType       = 1
	v1MetadataFamilyName = 2
	v1MetadataHelp       = 4
	v1MetadataUnit       = 5
)

// Field numbers of Sample, shared by both versions; start_timestamp is 2.0
// only.
const (
	sampleValue          = 1
	sampleTimestamp      = 2
	sampleStartTimestamp = 3
)

func (d *Decoder) decodeV1(dst *wire.PushRequest, b []byte) error {
	for i := 0; i < len(b); {
		num, wt, next, err := consumeTag(b, i)
		if err != nil {
			return err
		}
		i = next
		switch num {
		case v1WriteRequestTimeseries:
			if wt != wtBytes {
				return wireTypeError("timeseries", wt)
			}
			var msg []byte
			if msg, i, err = consumeBytes(b, i); err != nil {
				return fmt.Errorf("timeseries %d: %w", len(dst.Series), err)
			}
			if err := d.decodeSeriesV1(nextSeries(dst), msg); err != nil {
				return fmt.Errorf("timeseries %d: %w", len(dst.Series)-1, err)
			}
		case v1WriteRequestMetadata:
			if wt != wtBytes {
				return wireTypeError("metadata", wt)
			}
			var msg []byte
			if msg, i, err = consumeBytes(b, i); err != nil {
				return fmt.Errorf("metadata %d: %w", len(dst.Metadata), err)
			}
			m, err := d.decodeMetadataV1(msg)
			if err != nil {
				return fmt.Errorf("metadata %d: %w", len(dst.Metadata), err)
			}
			dst.Metadata = append(dst.Metadata, m)
		default:
			if i, err = skipField(b, i, wt); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Decoder) decodeSeriesV1(s *wire.Series, b []byte) error {
	d.sb.Reset()
	for i := 0; i < len(b); {
		num, wt, next, err := consumeTag(b, i)
		if err != nil {
			return err
		}
		i = next
		switch num {
		case v1SeriesLabels:
			if wt != wtBytes {
				return wireTypeError("labels", wt)
			}
			var msg []byte
			if msg, i, err = consumeBytes(b, i); err != nil {
				return fmt.Errorf("labels: %w", err)
			}
			name, value, err := decodeLabelV1(msg)
			if err != nil {
				return fmt.Errorf("labels: %w", err)
			}
			d.sb.Add(labelString(name), labelString(value))
		case v1SeriesSamples:
			if wt != wtBytes {
				return wireTypeError("samples", wt)
			}
			var msg []byte
			if msg, i, err = consumeBytes(b, i); err != nil {
				return fmt.Errorf("samples %d: %w", len(s.Samples), err)
			}
			smp, err := decodeSample(msg, false)
			if err != nil {
				return fmt.Errorf("samples %d: %w", len(s.Samples), err)
			}
			s.Samples = append(s.Samples, smp)
		case v1SeriesExemplars:
			if wt != wtBytes {
				return wireTypeError("exemplars", wt)
			}
			var msg []byte
			if msg, i, err = consumeBytes(b, i); err != nil {
				return fmt.Errorf("exemplars %d: %w", len(s.Exemplars), err)
			}
			e, err := d.decodeExemplarV1(msg)
			if err != nil {
				return fmt.Errorf("exemplars %d: %w", len(s.Exemplars), err)
			}
			s.Exemplars = append(s.Exemplars, e)
		case v1SeriesHistograms:
			if wt != wtBytes {
				return wireTypeError("histograms", wt)
			}
			var msg []byte
			if msg, i, err = consumeBytes(b, i); err != nil {
				return fmt.Errorf("histograms %d: %w", len(s.Histograms), err)
			}
			h, err := d.decodeHistogram(msg, false)
			if err != nil {
				return fmt.Errorf("histograms %d: %w", len(s.Histograms), err)
			}
			s.Histograms = append(s.Histograms, h)
		default:
			if i, err = skipField(b, i, wt); err != nil {
				return err
			}
		}
	}
	// Neither sorted nor deduplicated: the caller validates the labels as sent.
	s.Labels = d.sb.Labels()
	return nil
}

// decodeLabelV1 returns the name and value of a Label; both alias b.
func decodeLabelV1(b []byte) (name, value []byte, err error) {
	// Fast path for what every sender produces: name then value, each
	// shorter than 128 bytes, nothing else. Anything different takes the
	// general loop below, which gives the same result.
	if len(b) >= 4 && b[0] == v1LabelName<<3|wtBytes && b[1] < 0x80 {
		n := 2 + int(b[1])
		if n+2 <= len(b) && b[n] == v1LabelValue<<3|wtBytes && b[n+1] < 0x80 && n+2+int(b[n+1]) == len(b) {
			return b[2:n:n], b[n+2:], nil
		}
	}
	for i := 0; i < len(b); {
		num, wt, next, err := consumeTag(b, i)
		if err != nil {
			return nil, nil, err
		}
		i = next
		switch num {
		case v1LabelName:
			if wt != wtBytes {
				return nil, nil, wireTypeError("name", wt)
			}
			if name, i, err = consumeBytes(b, i); err != nil {
				return nil, nil, err
			}
		case v1LabelValue:
			if wt != wtBytes {
				return nil, nil, wireTypeError("value", wt)
			}
			if value, i, err = consumeBytes(b, i); err != nil {
				return nil, nil, err
			}
		default:
			if i, err = skipField(b, i, wt); err != nil {
				return nil, nil, err
			}
		}
	}
	return name, value, nil
}

// decodeSample decodes a Sample of either version; s.ST is its 2.0
// start_timestamp, always 0 for 1.0, where field 3 is unknown.
func decodeSample(b []byte, v2 bool) (s wire.Sample, err error) {
	// Fast path for value, timestamp and, in 2.0, start timestamp in that
	// order and nothing else, as every sender produces them.
	if len(b) >= 11 && b[0] == sampleValue<<3|wtFixed64 && b[9] == sampleTimestamp<<3|wtVarint {
		if t, next, err := consumeVarint(b, 10); err == nil {
			if next == len(b) {
				s.V = math.Float64frombits(binary.LittleEndian.Uint64(b[1:]))
				s.T = int64(t)
				return s, nil
			}
			if v2 && b[next] == sampleStartTimestamp<<3|wtVarint {
				if st, end, err := consumeVarint(b, next+1); err == nil && end == len(b) {
					s.V = math.Float64frombits(binary.LittleEndian.Uint64(b[1:]))
					s.T, s.ST = int64(t), int64(st)
					return s, nil
				}
			}
		}
	}
	for i := 0; i < len(b); {
		num, wt, next, err := consumeTag(b, i)
		if err != nil {
			return wire.Sample{}, err
		}
		i = next
		switch {
		case num == sampleValue:
			if wt != wtFixed64 {
				return wire.Sample{}, wireTypeError("value", wt)
			}
			if s.V, i, err = consumeDouble(b, i); err != nil {
				return wire.Sample{}, err
			}
		case num == sampleTimestamp:
			if wt != wtVarint {
				return wire.Sample{}, wireTypeError("timestamp", wt)
			}
			var v uint64
			if v, i, err = consumeVarint(b, i); err != nil {
				return wire.Sample{}, err
			}
			s.T = int64(v)
		case num == sampleStartTimestamp && v2:
			if wt != wtVarint {
				return wire.Sample{}, wireTypeError("start_timestamp", wt)
			}
			var v uint64
			if v, i, err = consumeVarint(b, i); err != nil {
				return wire.Sample{}, err
			}
			s.ST = int64(v)
		default:
			if i, err = skipField(b, i, wt); err != nil {
				return wire.Sample{}, err
			}
		}
	}
	return s, nil
}

func (d *Decoder) decodeExemplarV1(b []byte) (e wire.Exemplar, err error) {
	d.esb.Reset()
	for i := 0; i < len(b); {
		num, wt, next, err := consumeTag(b, i)
		if err != nil {
			return e, err
		}
		i = next
		switch num {
		case v1ExemplarLabels:
			if wt != wtBytes {
				return e, wireTypeError("labels", wt)
			}
			var msg []byte
			if msg, i, err = consumeBytes(b, i); err != nil {
				return e, fmt.Errorf("labels: %w", err)
			}
			name, value, err := decodeLabelV1(msg)
			if err != nil {
				return e, fmt.Errorf("labels: %w", err)
			}
			d.esb.Add(labelString(name), labelString(value))
		case v1ExemplarValue:
			if wt != wtFixed64 {
				return e, wireTypeError("value", wt)
			}
			if e.V, i, err = consumeDouble(b, i); err != nil {
				return e, err
			}
		case v1ExemplarTimestamp:
			if wt != wtVarint {
				return e, wireTypeError("timestamp", wt)
			}
			var v uint64
			if v, i, err = consumeVarint(b, i); err != nil {
				return e, err
			}
			e.T = int64(v)
		default:
			if i, err = skipField(b, i, wt); err != nil {
				return e, err
			}
		}
	}
	e.Labels = d.esb.Labels()
	return e, nil
}

func (d *Decoder) decodeMetadataV1(b []byte) (m wire.Metadata, err error) {
	var typ int32
	var family, help, unit []byte
	for i := 0; i < len(b); {
		num, wt, next, err := consumeTag(b, i)
		if err != nil {
			return m, err
		}
		i = next
		switch num {
		case v1MetadataType:
			if wt != wtVarint {
				return m, wireTypeError("type", wt)
			}
			var v uint64
			if v, i, err = consumeVarint(b, i); err != nil {
				return m, err
			}
			typ = int32(v)
		case v1MetadataFamilyName, v1MetadataHelp, v1MetadataUnit:
			if wt != wtBytes {
				return m, wireTypeError("metadata string", wt)
			}
			var s []byte
			if s, i, err = consumeBytes(b, i); err != nil {
				return m, err
			}
			switch num {
			case v1MetadataFamilyName:
				family = s
			case v1MetadataHelp:
				help = s
			default:
				unit = s
			}
		default:
			if i, err = skipField(b, i, wt); err != nil {
				return m, err
			}
		}
	}
	// The map lookups in intern do not allocate for a string converted from
	// bytes; only strings not seen before are copied.
	return wire.Metadata{
		MetricFamily: d.internBytes(family),
		Type:         metricTypeName(typ),
		Help:         d.internBytes(help),
		Unit:         d.internBytes(unit),
	}, nil
}

// internBytes is intern for a byte slice that aliases the body.
func (d *Decoder) internBytes(b []byte) string {
	return d.intern(unsafeString(b))
}
