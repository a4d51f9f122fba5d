package protocodec

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The append side of the wire format. Every function appends to b and
// returns the extended slice, as append does. The *Field helpers follow
// proto3 and omit zero values, which a decoder reads back as zero; fields
// that must be present whatever their value are written with AppendTag and
// the value primitives.

// AppendTag appends the tag of field num with wire type wt.
func AppendTag(b []byte, num protowire.Number, wt protowire.Type) []byte {
	return protowire.AppendTag(b, num, wt)
}

// AppendVarint appends v as a varint.
func AppendVarint(b []byte, v uint64) []byte {
	return protowire.AppendVarint(b, v)
}

// AppendFixed64 appends v as a little-endian fixed64.
func AppendFixed64(b []byte, v uint64) []byte {
	return protowire.AppendFixed64(b, v)
}

// AppendBytes appends v with its length, as the value of a
// length-delimited field.
func AppendBytes(b []byte, v []byte) []byte {
	return protowire.AppendBytes(b, v)
}

// AppendString appends s with its length, as the value of a
// length-delimited field.
func AppendString(b []byte, s string) []byte {
	return protowire.AppendString(b, s)
}

// AppendVarintField appends field num as a varint, unless v is 0.
func AppendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// AppendInt64Field appends field num as an int64, unless v is 0.
func AppendInt64Field(b []byte, num protowire.Number, v int64) []byte {
	return AppendVarintField(b, num, uint64(v))
}

// AppendSint64Field appends field num as a zigzag sint64, unless v is 0.
func AppendSint64Field(b []byte, num protowire.Number, v int64) []byte {
	return AppendVarintField(b, num, protowire.EncodeZigZag(v))
}

// AppendBoolField appends field num as a bool, unless v is false.
func AppendBoolField(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return AppendVarintField(b, num, 1)
}

// AppendDoubleField appends field num as a double, unless v is +0.
func AppendDoubleField(b []byte, num protowire.Number, v float64) []byte {
	bits := math.Float64bits(v)
	if bits == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, bits)
}

// AppendStringField appends field num as a string, unless s is empty.
func AppendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// AppendRepeatedString appends every s of ss as field num, empty ones
// included.
func AppendRepeatedString(b []byte, num protowire.Number, ss []string) []byte {
	for _, s := range ss {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	return b
}

// AppendPackedSint64 appends vs as a packed repeated sint64 field num,
// nothing when vs is empty.
func AppendPackedSint64(b []byte, num protowire.Number, vs []int64) []byte {
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

// AppendPackedDouble appends vs as a packed repeated double field num,
// nothing when vs is empty.
func AppendPackedDouble(b []byte, num protowire.Number, vs []float64) []byte {
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

// BeginMessage starts an embedded message as field num and returns where
// its body starts; EndMessage writes its length once the body is appended.
// The length is reserved as one byte, and the body shifted in the rare case
// it needs more, so that the common small message is written in one pass.
func BeginMessage(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = append(b, 0)
	return b, len(b)
}

// EndMessage ends the embedded message whose body starts at start, as
// BeginMessage returned it.
func EndMessage(b []byte, start int) []byte {
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

// sizeStringField is the size of a string field numbered below 16 as
// AppendStringField writes it.
func sizeStringField(n int) int {
	if n == 0 {
		return 0
	}
	return 1 + protowire.SizeBytes(n)
}
