package protocodec

import "google.golang.org/protobuf/encoding/protowire"

// Field numbers of prometheus.MetricMetadata (prompb/types.proto), and the
// type name that weft's Push message adds for types the enum does not have.
const (
	metadataType       = 1
	metadataFamilyName = 2
	metadataHelp       = 4
	metadataUnit       = 5
	metadataTypeName   = 15
)

// metricTypeNames are the names Prometheus uses for the MetricType enum
// values, which remote write 1.0 and 2.0 number alike.
var metricTypeNames = [...]string{
	0: "unknown",
	1: "counter",
	2: "gauge",
	3: "histogram",
	4: "gaugehistogram",
	5: "summary",
	6: "info",
	7: "stateset",
}

// MetricTypeName returns the name of the MetricType enum value t, "unknown"
// for a value the enum does not have.
func MetricTypeName(t int32) string {
	if t < 0 || int(t) >= len(metricTypeNames) {
		return metricTypeNames[0]
	}
	return metricTypeNames[t]
}

// MetricTypeNumber returns the MetricType enum value named name, and false
// when the enum has no such name.
func MetricTypeNumber(name string) (int32, bool) {
	for i, n := range metricTypeNames {
		if n == name {
			return int32(i), true
		}
	}
	return 0, false
}

// MetricMetadata is a prometheus.MetricMetadata message as sent; its byte
// slices alias the message, so that each caller picks how to keep them.
type MetricMetadata struct {
	// Type is the MetricType enum value, kept to 32 bits as the generated
	// code keeps an enum; MetricTypeName names it.
	Type int32
	// FamilyName, Help and Unit are nil when absent.
	FamilyName, Help, Unit []byte
	// TypeName is field 15 of weft's Push message, the name of a type that
	// the enum does not have; nil when absent, and always from remote
	// write, to which field 15 is unknown.
	TypeName []byte
}

// DecodeMetricMetadata decodes a prometheus.MetricMetadata message. Unknown
// fields are skipped, and so is a field 15 that is not length-delimited,
// which is no type name.
func DecodeMetricMetadata(b []byte) (m MetricMetadata, err error) {
	for i := 0; i < len(b); {
		num, wt, next, err := ConsumeTag(b, i)
		if err != nil {
			return m, err
		}
		i = next
		switch num {
		case metadataType:
			if wt != protowire.VarintType {
				return m, WireTypeError("type", wt)
			}
			var v uint64
			if v, i, err = ConsumeVarint(b, i); err != nil {
				return m, err
			}
			m.Type = int32(v)
		case metadataFamilyName, metadataHelp, metadataUnit:
			if wt != protowire.BytesType {
				return m, WireTypeError("metadata string", wt)
			}
			var s []byte
			if s, i, err = ConsumeBytes(b, i); err != nil {
				return m, err
			}
			switch num {
			case metadataFamilyName:
				m.FamilyName = s
			case metadataHelp:
				m.Help = s
			default:
				m.Unit = s
			}
		case metadataTypeName:
			if wt != protowire.BytesType {
				if i, err = SkipField(b, i, wt); err != nil {
					return m, err
				}
				continue
			}
			if m.TypeName, i, err = ConsumeBytes(b, i); err != nil {
				return m, err
			}
		default:
			if i, err = SkipField(b, i, wt); err != nil {
				return m, err
			}
		}
	}
	return m, nil
}
