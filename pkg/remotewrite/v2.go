package remotewrite

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
	"github.com/weft-io/weft/pkg/wire"
)

// Field numbers of io.prometheus.write.v2.Request and the messages it
// contains (prompb/io/prometheus/write/v2/types.proto).
const (
	v2RequestSymbols    = 4
	v2RequestTimeseries = 5

	v2SeriesLabelsRefs = 1
	v2SeriesSamples    = 2
	v2SeriesHistograms = 3
	v2SeriesExemplars  = 4
	v2SeriesMetadata   = 5
	// v2SeriesCreatedTimestamp is reserved in the specification: during the
	// experimental period it was a series-wide created timestamp, since
	// replaced by per-sample start timestamps. Senders of that period
	// (Prometheus 2.54 to 3.x with the experimental 2.0 sender) still use it,
	// and being reserved it can never mean anything else. Their receivers
	// took it as the created timestamp of every sample of the series, so it
	// becomes the start timestamp of each sample that has none of its own.
	v2SeriesCreatedTimestamp = 6

	v2ExemplarLabelsRefs = 1
	v2ExemplarValue      = 2
	v2ExemplarTimestamp  = 3

	v2MetadataType    = 1
	v2MetadataHelpRef = 3
	v2MetadataUnitRef = 4
)

func (d *Decoder) decodeV2(dst *wire.PushRequest, b []byte) error {
	// First pass: the symbols table, which the specification does not
	// require to come before the series that refer to it. This pass also
	// checks the framing of every top-level field.
	d.symbols = d.symbols[:0]
	for i := 0; i < len(b); {
		num, wt, next, err := protocodec.ConsumeTag(b, i)
		if err != nil {
			return err
		}
		i = next
		if num != v2RequestSymbols {
			if i, err = protocodec.SkipField(b, i, wt); err != nil {
				return err
			}
			continue
		}
		if wt != protowire.BytesType {
			return protocodec.WireTypeError("symbols", wt)
		}
		var s []byte
		if s, i, err = protocodec.ConsumeBytes(b, i); err != nil {
			return fmt.Errorf("symbols %d: %w", len(d.symbols), err)
		}
		d.symbols = append(d.symbols, protocodec.LabelString(s))
	}

	for i := 0; i < len(b); {
		num, wt, next, err := protocodec.ConsumeTag(b, i)
		if err != nil {
			return err
		}
		i = next
		if num != v2RequestTimeseries {
			if i, err = protocodec.SkipField(b, i, wt); err != nil {
				return err
			}
			continue
		}
		if wt != protowire.BytesType {
			return protocodec.WireTypeError("timeseries", wt)
		}
		var msg []byte
		if msg, i, err = protocodec.ConsumeBytes(b, i); err != nil {
			return fmt.Errorf("timeseries %d: %w", len(dst.Series), err)
		}
		if err := d.decodeSeriesV2(dst, msg); err != nil {
			return fmt.Errorf("timeseries %d: %w", len(dst.Series)-1, err)
		}
	}
	return nil
}

// v2Metadata is a TimeSeries' metadata field before its refs are resolved.
type v2Metadata struct {
	typ              int32
	helpRef, unitRef uint32
}

// decodeSeriesV2 decodes one TimeSeries into a new element of dst.Series
// and, when it carries metadata, appends that to dst.Metadata.
func (d *Decoder) decodeSeriesV2(dst *wire.PushRequest, b []byte) error {
	s := protocodec.NextSeries(&dst.Series)
	d.refs = d.refs[:0]
	var (
		md       v2Metadata
		legacyCT int64
	)
	for i := 0; i < len(b); {
		num, wt, next, err := protocodec.ConsumeTag(b, i)
		if err != nil {
			return err
		}
		i = next
		switch num {
		case v2SeriesLabelsRefs:
			if d.refs, i, err = protocodec.ConsumeRepeatedUint32(d.refs, b, i, wt); err != nil {
				return fmt.Errorf("labels_refs: %w", err)
			}
		case v2SeriesSamples:
			if wt != protowire.BytesType {
				return protocodec.WireTypeError("samples", wt)
			}
			var msg []byte
			if msg, i, err = protocodec.ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("samples %d: %w", len(s.Samples), err)
			}
			smp, err := protocodec.DecodeSample(msg, true)
			if err != nil {
				return fmt.Errorf("samples %d: %w", len(s.Samples), err)
			}
			s.Samples = append(s.Samples, smp)
		case v2SeriesHistograms:
			if wt != protowire.BytesType {
				return protocodec.WireTypeError("histograms", wt)
			}
			var msg []byte
			if msg, i, err = protocodec.ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("histograms %d: %w", len(s.Histograms), err)
			}
			h, err := d.series.DecodeHistogram(msg, true)
			if err != nil {
				return fmt.Errorf("histograms %d: %w", len(s.Histograms), err)
			}
			s.Histograms = append(s.Histograms, h)
		case v2SeriesExemplars:
			if wt != protowire.BytesType {
				return protocodec.WireTypeError("exemplars", wt)
			}
			var msg []byte
			if msg, i, err = protocodec.ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("exemplars %d: %w", len(s.Exemplars), err)
			}
			e, err := d.decodeExemplarV2(msg)
			if err != nil {
				return fmt.Errorf("exemplars %d: %w", len(s.Exemplars), err)
			}
			s.Exemplars = append(s.Exemplars, e)
		case v2SeriesMetadata:
			if wt != protowire.BytesType {
				return protocodec.WireTypeError("metadata", wt)
			}
			var msg []byte
			if msg, i, err = protocodec.ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
			// A message field sent twice is merged, so md is not reset.
			if err := decodeMetadataV2(&md, msg); err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
		case v2SeriesCreatedTimestamp:
			if wt != protowire.VarintType {
				// Not the legacy field: skip it like any unknown field.
				if i, err = protocodec.SkipField(b, i, wt); err != nil {
					return err
				}
				continue
			}
			var v uint64
			if v, i, err = protocodec.ConsumeVarint(b, i); err != nil {
				return err
			}
			legacyCT = int64(v)
		default:
			if i, err = protocodec.SkipField(b, i, wt); err != nil {
				return err
			}
		}
	}

	var err error
	if s.Labels, err = d.symbolize(&d.series.SB, d.refs); err != nil {
		return fmt.Errorf("labels_refs: %w", err)
	}

	// The legacy field may come before or after the samples it applies to.
	if legacyCT != 0 {
		for j := range s.Samples {
			if s.Samples[j].ST == 0 {
				s.Samples[j].ST = legacyCT
			}
		}
		for j := range s.Histograms {
			if s.Histograms[j].ST == 0 {
				s.Histograms[j].ST = legacyCT
			}
		}
	}

	if md == (v2Metadata{}) {
		return nil
	}
	if int(md.helpRef) >= len(d.symbols) {
		return fmt.Errorf("metadata help_ref %d outside of symbols table (size %d)", md.helpRef, len(d.symbols))
	}
	if int(md.unitRef) >= len(d.symbols) {
		return fmt.Errorf("metadata unit_ref %d outside of symbols table (size %d)", md.unitRef, len(d.symbols))
	}
	// A series without a name is the caller's to reject; its metadata would
	// belong to no family.
	family := d.metricName(d.refs)
	if family == "" {
		return nil
	}
	m := wire.Metadata{
		MetricFamily: d.intern(family),
		Type:         protocodec.MetricTypeName(md.typ),
		Help:         d.intern(d.symbols[md.helpRef]),
		Unit:         d.intern(d.symbols[md.unitRef]),
	}
	// 2.0 repeats a family's metadata on each of its series; consecutive
	// series of one family are the common case and collapse here.
	if n := len(dst.Metadata); n > 0 && dst.Metadata[n-1] == m {
		return nil
	}
	dst.Metadata = append(dst.Metadata, m)
	return nil
}

// metricName returns the value of the first __name__ in refs, which symbolize
// has checked, aliasing the body. It does not use Labels.Get, which assumes
// sorted labels and would miss the name of a series sent unsorted.
func (d *Decoder) metricName(refs []uint32) string {
	for j := 0; j+1 < len(refs); j += 2 {
		if d.symbols[refs[j]] == labels.MetricName {
			return d.symbols[refs[j+1]]
		}
	}
	return ""
}

// symbolize builds labels from name/value pairs of symbol refs, in the order
// sent.
func (d *Decoder) symbolize(sb *labels.ScratchBuilder, refs []uint32) (labels.Labels, error) {
	if len(refs)%2 != 0 {
		return labels.EmptyLabels(), fmt.Errorf("odd number of refs (%d), want name/value pairs", len(refs))
	}
	sb.Reset()
	for j := 0; j < len(refs); j += 2 {
		name, value := refs[j], refs[j+1]
		if int(name) >= len(d.symbols) {
			return labels.EmptyLabels(), fmt.Errorf("label name ref %d outside of symbols table (size %d)", name, len(d.symbols))
		}
		if int(value) >= len(d.symbols) {
			return labels.EmptyLabels(), fmt.Errorf("label value ref %d outside of symbols table (size %d)", value, len(d.symbols))
		}
		sb.Add(d.symbols[name], d.symbols[value])
	}
	return sb.Labels(), nil
}

func (d *Decoder) decodeExemplarV2(b []byte) (e wire.Exemplar, err error) {
	d.erefs = d.erefs[:0]
	for i := 0; i < len(b); {
		num, wt, next, err := protocodec.ConsumeTag(b, i)
		if err != nil {
			return e, err
		}
		i = next
		switch num {
		case v2ExemplarLabelsRefs:
			if d.erefs, i, err = protocodec.ConsumeRepeatedUint32(d.erefs, b, i, wt); err != nil {
				return e, fmt.Errorf("labels_refs: %w", err)
			}
		case v2ExemplarValue:
			if wt != protowire.Fixed64Type {
				return e, protocodec.WireTypeError("value", wt)
			}
			if e.V, i, err = protocodec.ConsumeDouble(b, i); err != nil {
				return e, err
			}
		case v2ExemplarTimestamp:
			if wt != protowire.VarintType {
				return e, protocodec.WireTypeError("timestamp", wt)
			}
			var v uint64
			if v, i, err = protocodec.ConsumeVarint(b, i); err != nil {
				return e, err
			}
			e.T = int64(v)
		default:
			if i, err = protocodec.SkipField(b, i, wt); err != nil {
				return e, err
			}
		}
	}
	if e.Labels, err = d.symbolize(&d.series.ESB, d.erefs); err != nil {
		return e, fmt.Errorf("labels_refs: %w", err)
	}
	return e, nil
}

func decodeMetadataV2(md *v2Metadata, b []byte) error {
	for i := 0; i < len(b); {
		num, wt, next, err := protocodec.ConsumeTag(b, i)
		if err != nil {
			return err
		}
		i = next
		switch num {
		case v2MetadataType, v2MetadataHelpRef, v2MetadataUnitRef:
			if wt != protowire.VarintType {
				return protocodec.WireTypeError("metadata", wt)
			}
			var v uint64
			if v, i, err = protocodec.ConsumeVarint(b, i); err != nil {
				return err
			}
			switch num {
			case v2MetadataType:
				md.typ = int32(v)
			case v2MetadataHelpRef:
				md.helpRef = uint32(v)
			default:
				md.unitRef = uint32(v)
			}
		default:
			if i, err = protocodec.SkipField(b, i, wt); err != nil {
				return err
			}
		}
	}
	return nil
}
