package wire

import (
	"errors"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"
)

// Helpers to append protobuf fields with protowire. Like proto3, they omit
// zero values; a decoder reads an absent field as zero.

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendInt64Field(b []byte, num protowire.Number, v int64) []byte {
	return appendVarintField(b, num, uint64(v))
}

func appendSintField(b []byte, num protowire.Number, v int64) []byte {
	return appendVarintField(b, num, protowire.EncodeZigZag(v))
}

func appendBoolField(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return appendVarintField(b, num, 1)
}

func appendDoubleField(b []byte, num protowire.Number, v float64) []byte {
	bits := math.Float64bits(v)
	if bits == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, bits)
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendRepeatedString appends every s, empty ones included.
func appendRepeatedString(b []byte, num protowire.Number, ss []string) []byte {
	for _, s := range ss {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	return b
}

// beginMsg starts an embedded message of field num; endMsg writes its
// length once the body is appended. The length is reserved as one byte and
// the body shifted in the rare case it needs more.
func beginMsg(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = append(b, 0)
	return b, len(b)
}

func endMsg(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	extra := protowire.SizeVarint(uint64(n)) - 1
	b = append(b, make([]byte, extra)...)
	copy(b[start+extra:], b[start:start+n])
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}

// sizeStringField is the size of a string field numbered below 16.
func sizeStringField(n int) int {
	if n == 0 {
		return 0
	}
	return 1 + protowire.SizeBytes(n)
}

// appendLabels appends ls as repeated Label{1: name, 2: value} of field num.
func appendLabels(b []byte, num protowire.Number, ls labels.Labels) []byte {
	ls.Range(func(l labels.Label) {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeStringField(len(l.Name))+sizeStringField(len(l.Value))))
		b = appendStringField(b, 1, l.Name)
		b = appendStringField(b, 2, l.Value)
	})
	return b
}

// field is one decoded field: u holds a varint or the bits of a fixed
// value, b the bytes of a length-delimited one (a view of the input).
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

var errTruncated = errors.New("truncated message")

// nextField decodes the first field of b into f and returns the rest.
func nextField(b []byte, f *field) ([]byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return nil, protowire.ParseError(n)
	}
	b = b[n:]
	f.num, f.typ, f.u, f.b = num, typ, 0, nil
	switch typ {
	case protowire.VarintType:
		f.u, n = protowire.ConsumeVarint(b)
	case protowire.Fixed64Type:
		f.u, n = protowire.ConsumeFixed64(b)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(b)
		f.u = uint64(v)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(b)
	default:
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
	}
	return b[n:], nil
}

func (f *field) isBytes() bool  { return f.typ == protowire.BytesType }
func (f *field) isVarint() bool { return f.typ == protowire.VarintType }
func (f *field) isFixed64() bool {
	return f.typ == protowire.Fixed64Type
}
func (f *field) float() float64 { return math.Float64frombits(f.u) }
func (f *field) int64() int64   { return int64(f.u) }

// appendSints appends the sint64 values of f, packed or not.
func appendSints(dst []int64, f *field) ([]int64, error) {
	if f.isVarint() {
		return append(dst, protowire.DecodeZigZag(f.u)), nil
	}
	if !f.isBytes() {
		return dst, nil
	}
	for b := f.b; len(b) > 0; {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		dst = append(dst, protowire.DecodeZigZag(v))
		b = b[n:]
	}
	return dst, nil
}

// appendDoubles appends the double values of f, packed or not.
func appendDoubles(dst []float64, f *field) ([]float64, error) {
	if f.isFixed64() {
		return append(dst, f.float()), nil
	}
	if !f.isBytes() {
		return dst, nil
	}
	if len(f.b)%8 != 0 {
		return nil, errTruncated
	}
	for b := f.b; len(b) > 0; b = b[8:] {
		v, _ := protowire.ConsumeFixed64(b)
		dst = append(dst, math.Float64frombits(v))
	}
	return dst, nil
}

func appendPackedSints(b []byte, num protowire.Number, vs []int64) []byte {
	if len(vs) == 0 {
		return b
	}
	n := 0
	for _, v := range vs {
		n += protowire.SizeVarint(protowire.EncodeZigZag(v))
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	for _, v := range vs {
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(v))
	}
	return b
}

func appendPackedDoubles(b []byte, num protowire.Number, vs []float64) []byte {
	if len(vs) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(8*len(vs)))
	for _, v := range vs {
		b = protowire.AppendFixed64(b, math.Float64bits(v))
	}
	return b
}

// decodeLabels adds the Label message m to sb.
func decodeLabel(m []byte, sb *labels.ScratchBuilder) error {
	var name, value []byte
	var f field
	for len(m) > 0 {
		var err error
		if m, err = nextField(m, &f); err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.isBytes():
			name = f.b
		case f.num == 2 && f.isBytes():
			value = f.b
		}
	}
	sb.Add(labelString(name), labelString(value))
	return nil
}
