package protocodec

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field is one decoded field of a message, for decoders of small messages
// that take each field as it comes and ignore what they do not know (or
// what has an unexpected wire type), without the strict checks of the hot
// paths.
type Field struct {
	Num  protowire.Number
	Type protowire.Type
	// U holds a varint, or the bits of a fixed64 or fixed32 value.
	U uint64
	// B holds the payload of a length-delimited field; it aliases the
	// message.
	B []byte
}

// NextField decodes the first field of b into f and returns the rest of b.
// Groups are skipped whole and leave U and B empty.
func NextField(b []byte, f *Field) ([]byte, error) {
	num, wt, i, err := ConsumeTag(b, 0)
	if err != nil {
		return nil, err
	}
	f.Num, f.Type, f.U, f.B = num, wt, 0, nil
	switch wt {
	case protowire.VarintType:
		f.U, i, err = ConsumeVarint(b, i)
	case protowire.Fixed64Type:
		f.U, i, err = ConsumeFixed64(b, i)
	case protowire.Fixed32Type:
		var v uint32
		v, i, err = ConsumeFixed32(b, i)
		f.U = uint64(v)
	case protowire.BytesType:
		f.B, i, err = ConsumeBytes(b, i)
	default:
		i, err = SkipField(b, i, wt)
	}
	if err != nil {
		return nil, fmt.Errorf("field %d: %w", num, err)
	}
	return b[i:], nil
}

// IsBytes says whether f is length-delimited.
func (f *Field) IsBytes() bool { return f.Type == protowire.BytesType }

// IsVarint says whether f is a varint.
func (f *Field) IsVarint() bool { return f.Type == protowire.VarintType }

// IsFixed64 says whether f is a fixed64 (or double).
func (f *Field) IsFixed64() bool { return f.Type == protowire.Fixed64Type }

// Float returns f as a double.
func (f *Field) Float() float64 { return math.Float64frombits(f.U) }

// Int64 returns f as an int64 (not a zigzag sint64).
func (f *Field) Int64() int64 { return int64(f.U) }
