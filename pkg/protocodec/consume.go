package protocodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The consume side of the wire format. It is written here rather than taken
// from protowire so that the common one-byte cases take a short, inlined
// path with the rare multi-byte cases kept out of line, and so that the
// errors are this package's sentinels.
//
// Every Consume function takes the message b and an offset i into it, and
// returns the offset after what it consumed; on error the returned offset is
// meaningless. Byte slices returned alias b.

// maxFieldNumber is the largest field number protobuf allows.
const maxFieldNumber = 1<<29 - 1

// maxGroupDepth bounds the nesting of groups in skipped fields, so that a
// hostile message cannot exhaust the stack.
const maxGroupDepth = 64

// Errors of malformed messages. Decoders wrap them with the path of the
// field that was being decoded.
var (
	// ErrTruncated is a message that ends inside a field.
	ErrTruncated = errors.New("unexpected end of message")
	// ErrVarintOverflow is a varint of more than ten bytes.
	ErrVarintOverflow = errors.New("varint overflows 64 bits")
	// ErrFieldNumber is a tag whose field number is 0 or above 2^29-1.
	ErrFieldNumber = errors.New("invalid field number")
	// ErrGroupEnd is an end-of-group tag without its start.
	ErrGroupEnd = errors.New("unexpected end of group")
	// ErrGroupDepth is a skipped field of groups nested too deeply.
	ErrGroupDepth = errors.New("groups nested too deeply")
	// ErrPackedLength is a packed repeated fixed-size field whose length is
	// not a multiple of its element size.
	ErrPackedLength = errors.New("packed fixed-size field with a length not a multiple of its element size")
	// ErrPackedWireType is a repeated field whose wire type is neither its
	// element's nor packed.
	ErrPackedWireType = errors.New("repeated field with a wire type that is neither packed nor its element's")
)

// ConsumeVarint decodes a varint. The one-byte case comes first: it is most
// lengths and small values.
func ConsumeVarint(b []byte, i int) (uint64, int, error) {
	if uint(i) < uint(len(b)) && b[i] < 0x80 {
		return uint64(b[i]), i + 1, nil
	}
	return consumeVarintSlow(b, i)
}

// consumeVarintSlow is kept out of line so that the one-byte path of
// ConsumeVarint stays small enough to inline.
//
//go:noinline
func consumeVarintSlow(b []byte, i int) (uint64, int, error) {
	var v uint64
	// Ten bytes at most; bits past the 64th in the tenth byte are dropped,
	// as every protobuf implementation does.
	for shift := uint(0); shift < 64; shift += 7 {
		if i >= len(b) {
			return 0, i, ErrTruncated
		}
		c := b[i]
		i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i, nil
		}
	}
	return 0, i, ErrVarintOverflow
}

// ConsumeTag decodes a field tag into its number and wire type. Tags of
// fields 1 to 15 are one byte, the short path.
func ConsumeTag(b []byte, i int) (num protowire.Number, wt protowire.Type, next int, err error) {
	if uint(i) < uint(len(b)) {
		if c := b[i]; c < 0x80 && c >= 8 {
			return protowire.Number(c >> 3), protowire.Type(c & 7), i + 1, nil
		}
	}
	return consumeTagSlow(b, i)
}

//go:noinline
func consumeTagSlow(b []byte, i int) (num protowire.Number, wt protowire.Type, next int, err error) {
	v, i, err := ConsumeVarint(b, i)
	if err != nil {
		return 0, 0, i, err
	}
	n := v >> 3
	if n == 0 || n > maxFieldNumber {
		return 0, 0, i, ErrFieldNumber
	}
	return protowire.Number(n), protowire.Type(v & 7), i, nil
}

// ConsumeBytes decodes a length-delimited field and returns its payload,
// which aliases b. Payloads shorter than 128 bytes (labels, samples) have a
// one-byte length, the short path.
func ConsumeBytes(b []byte, i int) ([]byte, int, error) {
	if uint(i) < uint(len(b)) {
		if l := int(b[i]); l < 0x80 && l < len(b)-i {
			end := i + 1 + l
			return b[i+1 : end : end], end, nil
		}
	}
	return consumeBytesSlow(b, i)
}

//go:noinline
func consumeBytesSlow(b []byte, i int) ([]byte, int, error) {
	l, i, err := ConsumeVarint(b, i)
	if err != nil {
		return nil, i, err
	}
	if l > uint64(len(b)-i) {
		return nil, i, ErrTruncated
	}
	end := i + int(l)
	return b[i:end:end], end, nil
}

// ConsumeFixed64 decodes a little-endian fixed64.
func ConsumeFixed64(b []byte, i int) (uint64, int, error) {
	if len(b)-i < 8 {
		return 0, i, ErrTruncated
	}
	return binary.LittleEndian.Uint64(b[i:]), i + 8, nil
}

// ConsumeFixed32 decodes a little-endian fixed32.
func ConsumeFixed32(b []byte, i int) (uint32, int, error) {
	if len(b)-i < 4 {
		return 0, i, ErrTruncated
	}
	return binary.LittleEndian.Uint32(b[i:]), i + 4, nil
}

// ConsumeDouble decodes a double, a fixed64 holding the float's bits.
func ConsumeDouble(b []byte, i int) (float64, int, error) {
	v, i, err := ConsumeFixed64(b, i)
	return math.Float64frombits(v), i, err
}

// DecodeZigZag32 decodes a sint32 from its varint; like the generated code
// it keeps only the low 32 bits of the varint.
func DecodeZigZag32(v uint64) int32 {
	u := uint32(v)
	return int32(u>>1) ^ -int32(u&1)
}

// DecodeZigZag64 decodes a sint64 from its varint.
func DecodeZigZag64(v uint64) int64 {
	return int64(v>>1) ^ -int64(v&1)
}

// SkipField skips the value of a field of wire type wt whose tag was just
// consumed, so that fields a decoder does not know (added by a later
// protocol revision) are ignored rather than refused.
func SkipField(b []byte, i int, wt protowire.Type) (int, error) {
	return skipFieldDepth(b, i, wt, 0)
}

func skipFieldDepth(b []byte, i int, wt protowire.Type, depth int) (int, error) {
	var err error
	switch wt {
	case protowire.VarintType:
		_, i, err = ConsumeVarint(b, i)
	case protowire.Fixed64Type:
		if len(b)-i < 8 {
			return i, ErrTruncated
		}
		i += 8
	case protowire.BytesType:
		_, i, err = ConsumeBytes(b, i)
	case protowire.Fixed32Type:
		if len(b)-i < 4 {
			return i, ErrTruncated
		}
		i += 4
	case protowire.StartGroupType:
		if depth >= maxGroupDepth {
			return i, ErrGroupDepth
		}
		for {
			var t protowire.Type
			if _, t, i, err = ConsumeTag(b, i); err != nil {
				return i, err
			}
			if t == protowire.EndGroupType {
				return i, nil
			}
			if i, err = skipFieldDepth(b, i, t, depth+1); err != nil {
				return i, err
			}
		}
	case protowire.EndGroupType:
		return i, ErrGroupEnd
	default:
		return i, fmt.Errorf("invalid wire type %d", wt)
	}
	return i, err
}

// WireTypeError reports a known field sent with a wire type that its
// declaration does not allow.
func WireTypeError(field string, wt protowire.Type) error {
	return fmt.Errorf("field %s has wire type %d", field, wt)
}

// ConsumeRepeatedUint32 decodes one occurrence of a repeated uint32 field,
// packed or not, and appends its values to dst.
func ConsumeRepeatedUint32(dst []uint32, b []byte, i int, wt protowire.Type) ([]uint32, int, error) {
	switch wt {
	case protowire.VarintType:
		v, i, err := ConsumeVarint(b, i)
		return append(dst, uint32(v)), i, err
	case protowire.BytesType:
		p, i, err := ConsumeBytes(b, i)
		if err != nil {
			return dst, i, err
		}
		for j := 0; j < len(p); {
			var v uint64
			if v, j, err = ConsumeVarint(p, j); err != nil {
				return dst, i, err
			}
			dst = append(dst, uint32(v))
		}
		return dst, i, nil
	default:
		return dst, i, ErrPackedWireType
	}
}

// ConsumeRepeatedSint64 decodes one occurrence of a repeated sint64 field,
// packed or not, and appends its values to dst.
func ConsumeRepeatedSint64(dst []int64, b []byte, i int, wt protowire.Type) ([]int64, int, error) {
	switch wt {
	case protowire.VarintType:
		v, i, err := ConsumeVarint(b, i)
		return append(dst, DecodeZigZag64(v)), i, err
	case protowire.BytesType:
		p, i, err := ConsumeBytes(b, i)
		if err != nil {
			return dst, i, err
		}
		for j := 0; j < len(p); {
			var v uint64
			if v, j, err = ConsumeVarint(p, j); err != nil {
				return dst, i, err
			}
			dst = append(dst, DecodeZigZag64(v))
		}
		return dst, i, nil
	default:
		return dst, i, ErrPackedWireType
	}
}

// ConsumeRepeatedDouble decodes one occurrence of a repeated double field,
// packed or not, and appends its values to dst.
func ConsumeRepeatedDouble(dst []float64, b []byte, i int, wt protowire.Type) ([]float64, int, error) {
	switch wt {
	case protowire.Fixed64Type:
		v, i, err := ConsumeDouble(b, i)
		if err != nil {
			return dst, i, err
		}
		return append(dst, v), i, nil
	case protowire.BytesType:
		p, i, err := ConsumeBytes(b, i)
		if err != nil {
			return dst, i, err
		}
		if len(p)%8 != 0 {
			return dst, i, ErrPackedLength
		}
		for j := 0; j < len(p); j += 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(p[j:])))
		}
		return dst, i, nil
	default:
		return dst, i, ErrPackedWireType
	}
}
