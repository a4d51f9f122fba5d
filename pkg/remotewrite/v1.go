package remotewrite

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
	"github.com/weft-io/weft/pkg/wire"
)

// Field numbers of prometheus.WriteRequest (prompb/remote.proto); the
// messages it contains are protocodec's.
const (
	v1WriteRequestTimeseries = 1
	v1WriteRequestMetadata   = 3
)

func (d *Decoder) decodeV1(dst *wire.PushRequest, b []byte) error {
	for i := 0; i < len(b); {
		num, wt, next, err := protocodec.ConsumeTag(b, i)
		if err != nil {
			return err
		}
		i = next
		switch num {
		case v1WriteRequestTimeseries:
			if wt != protowire.BytesType {
				return protocodec.WireTypeError("timeseries", wt)
			}
			var msg []byte
			if msg, i, err = protocodec.ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("timeseries %d: %w", len(dst.Series), err)
			}
			if err := d.series.DecodeSeries(protocodec.NextSeries(&dst.Series), msg); err != nil {
				return fmt.Errorf("timeseries %d: %w", len(dst.Series)-1, err)
			}
		case v1WriteRequestMetadata:
			if wt != protowire.BytesType {
				return protocodec.WireTypeError("metadata", wt)
			}
			var msg []byte
			if msg, i, err = protocodec.ConsumeBytes(b, i); err != nil {
				return fmt.Errorf("metadata %d: %w", len(dst.Metadata), err)
			}
			m, err := d.decodeMetadataV1(msg)
			if err != nil {
				return fmt.Errorf("metadata %d: %w", len(dst.Metadata), err)
			}
			dst.Metadata = append(dst.Metadata, m)
		default:
			if i, err = protocodec.SkipField(b, i, wt); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Decoder) decodeMetadataV1(b []byte) (wire.Metadata, error) {
	m, err := protocodec.DecodeMetricMetadata(b)
	if err != nil {
		return wire.Metadata{}, err
	}
	// The map lookups in intern do not allocate for a string converted from
	// bytes; only strings not seen before are copied.
	return wire.Metadata{
		MetricFamily: d.internBytes(m.FamilyName),
		Type:         protocodec.MetricTypeName(m.Type),
		Help:         d.internBytes(m.Help),
		Unit:         d.internBytes(m.Unit),
	}, nil
}

// internBytes is intern for a byte slice that aliases the body.
func (d *Decoder) internBytes(b []byte) string {
	return d.intern(unsafeString(b))
}
