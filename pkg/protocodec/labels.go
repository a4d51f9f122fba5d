package protocodec

import (
	"strings"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of prometheus.Label.
const (
	labelName  = 1
	labelValue = 2
)

// LabelString returns b as a string to hand to labels.ScratchBuilder.Add,
// or to keep only as long as the labels built from it: without a copy when
// the labels implementation copies anyway (CloneLabelStrings is false), in
// which case the string aliases b and must not be used once b is
// overwritten.
func LabelString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	s := unsafe.String(unsafe.SliceData(b), len(b))
	if CloneLabelStrings {
		return strings.Clone(s)
	}
	return s
}

// DecodeLabel returns the name and value of a prometheus.Label message;
// both alias b.
func DecodeLabel(b []byte) (name, value []byte, err error) {
	// Fast path for what every sender produces: name then value, each
	// shorter than 128 bytes, nothing else. Anything different takes the
	// general loop below, which gives the same result.
	if len(b) >= 4 && b[0] == labelName<<3|byte(protowire.BytesType) && b[1] < 0x80 {
		n := 2 + int(b[1])
		if n+2 <= len(b) && b[n] == labelValue<<3|byte(protowire.BytesType) && b[n+1] < 0x80 && n+2+int(b[n+1]) == len(b) {
			return b[2:n:n], b[n+2:], nil
		}
	}
	for i := 0; i < len(b); {
		num, wt, next, err := ConsumeTag(b, i)
		if err != nil {
			return nil, nil, err
		}
		i = next
		switch num {
		case labelName:
			if wt != protowire.BytesType {
				return nil, nil, WireTypeError("name", wt)
			}
			if name, i, err = ConsumeBytes(b, i); err != nil {
				return nil, nil, err
			}
		case labelValue:
			if wt != protowire.BytesType {
				return nil, nil, WireTypeError("value", wt)
			}
			if value, i, err = ConsumeBytes(b, i); err != nil {
				return nil, nil, err
			}
		default:
			if i, err = SkipField(b, i, wt); err != nil {
				return nil, nil, err
			}
		}
	}
	return name, value, nil
}

// AddLabel decodes the prometheus.Label message b and adds it to sb, as
// sent: the caller sorts, deduplicates or validates.
func AddLabel(sb *labels.ScratchBuilder, b []byte) error {
	name, value, err := DecodeLabel(b)
	if err != nil {
		return err
	}
	sb.Add(LabelString(name), LabelString(value))
	return nil
}

// AppendLabels appends ls as repeated prometheus.Label messages of field
// num.
func AppendLabels(b []byte, num protowire.Number, ls labels.Labels) []byte {
	ls.Range(func(l labels.Label) {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeStringField(len(l.Name))+sizeStringField(len(l.Value))))
		b = AppendStringField(b, labelName, l.Name)
		b = AppendStringField(b, labelValue, l.Value)
	})
	return b
}
