package remotewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The protobuf wire format, just what remote write needs. It is written here
// rather than taken from google.golang.org/protobuf/encoding/protowire (an
// indirect dependency only) so that the common one-byte cases take a short
// path with the rare multi-byte cases kept out of line, and so that errors are
// this package's. The hottest messages (Label, Sample) also have their own
// fast paths in v1.go.
//
// Every function takes the message b and an offset i into it, and returns the
// offset after what it consumed; on error the returned offset is meaningless.

// Wire types.
const (
	wtVarint  = 0
	wtFixed64 = 1
	wtBytes   = 2
	wtStart   = 3 // group start, deprecated but skippable
	wtEnd     = 4 // group end
	wtFixed32 = 5
)

// maxFieldNumber is the largest field number protobuf allows.
const maxFieldNumber = 1<<29 - 1

// maxGroupDepth bounds the nesting of groups in skipped fields, so that a
// hostile body cannot exhaust the stack.
const maxGroupDepth = 64

var (
	errTruncated      = errors.New("unexpected end of message")
	errVarintOverflow = errors.New("varint overflows 64 bits")
	errFieldNumber    = errors.New("invalid field number")
	errGroupEnd       = errors.New("unexpected end of group")
	errGroupDepth     = errors.New("groups nested too deeply")
	errPackedLength   = errors.New("packed fixed-size field with a length not a multiple of its element size")
)

// consumeVarint decodes a varint. The one-byte case comes first: it is most
// lengths and small values.
func consumeVarint(b []byte, i int) (uint64, int, error) {
	if uint(i) < uint(len(b)) && b[i] < 0x80 {
		return uint64(b[i]), i + 1, nil
	}
	return consumeVarintSlow(b, i)
}

// consumeVarintSlow is kept out of line so that the one-byte path of
// consumeVarint stays small.
//
//go:noinline
func consumeVarintSlow(b []byte, i int) (uint64, int, error) {
	var v uint64
	// Ten bytes at most; bits past the 64th in the tenth byte are dropped,
	// as every protobuf implementation does.
	for shift := uint(0); shift < 64; shift += 7 {
		if i >= len(b) {
			return 0, i, errTruncated
		}
		c := b[i]
		i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i, nil
		}
	}
	return 0, i, errVarintOverflow
}

// consumeTag decodes a field tag into its number and wire type. Tags of
// fields 1 to 15 are one byte, the short path.
func consumeTag(b []byte, i int) (num uint32, wt int, next int, err error) {
	if uint(i) < uint(len(b)) {
		if c := b[i]; c < 0x80 && c >= 8 {
			return uint32(c >> 3), int(c & 7), i + 1, nil
		}
	}
	return consumeTagSlow(b, i)
}

//go:noinline
func consumeTagSlow(b []byte, i int) (num uint32, wt int, next int, err error) {
	v, i, err := consumeVarint(b, i)
	if err != nil {
		return 0, 0, i, err
	}
	n := v >> 3
	if n == 0 || n > maxFieldNumber {
		return 0, 0, i, errFieldNumber
	}
	return uint32(n), int(v & 7), i, nil
}

// consumeBytes decodes a length-delimited field and returns its payload,
// which aliases b. Payloads shorter than 128 bytes (labels, samples) have a
// one-byte length, the short path.
func consumeBytes(b []byte, i int) ([]byte, int, error) {
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
	l, i, err := consumeVarint(b, i)
	if err != nil {
		return nil, i, err
	}
	if l > uint64(len(b)-i) {
		return nil, i, errTruncated
	}
	end := i + int(l)
	return b[i:end:end], end, nil
}

func consumeFixed64(b []byte, i int) (uint64, int, error) {
	if len(b)-i < 8 {
		return 0, i, errTruncated
	}
	return binary.LittleEndian.Uint64(b[i:]), i + 8, nil
}

func consumeDouble(b []byte, i int) (float64, int, error) {
	v, i, err := consumeFixed64(b, i)
	return math.Float64frombits(v), i, err
}

// zigzag32 decodes a sint32 from its varint; like the generated code it keeps
// only the low 32 bits of the varint.
func zigzag32(v uint64) int32 {
	u := uint32(v)
	return int32(u>>1) ^ -int32(u&1)
}

// zigzag64 decodes a sint64 from its varint.
func zigzag64(v uint64) int64 {
	return int64(v>>1) ^ -int64(v&1)
}

// skipField skips the value of a field of wire type wt whose tag was just
// consumed, so that fields this decoder does not know (added by a later
// protocol revision) are ignored rather than refused.
func skipField(b []byte, i int, wt int) (int, error) {
	return skipFieldDepth(b, i, wt, 0)
}

func skipFieldDepth(b []byte, i int, wt int, depth int) (int, error) {
	var err error
	switch wt {
	case wtVarint:
		_, i, err = consumeVarint(b, i)
	case wtFixed64:
		if len(b)-i < 8 {
			return i, errTruncated
		}
		i += 8
	case wtBytes:
		_, i, err = consumeBytes(b, i)
	case wtFixed32:
		if len(b)-i < 4 {
			return i, errTruncated
		}
		i += 4
	case wtStart:
		if depth >= maxGroupDepth {
			return i, errGroupDepth
		}
		for {
			var t int
			if _, t, i, err = consumeTag(b, i); err != nil {
				return i, err
			}
			if t == wtEnd {
				return i, nil
			}
			if i, err = skipFieldDepth(b, i, t, depth+1); err != nil {
				return i, err
			}
		}
	case wtEnd:
		return i, errGroupEnd
	default:
		return i, fmt.Errorf("invalid wire type %d", wt)
	}
	return i, err
}

// wireTypeError reports a known field sent with a wire type that its
// declaration does not allow.
func wireTypeError(field string, wt int) error {
	return fmt.Errorf("field %s has wire type %d", field, wt)
}

// appendUint32s decodes a repeated uint32 field, packed or not.
func appendUint32s(dst []uint32, b []byte, i int, wt int) ([]uint32, int, error) {
	switch wt {
	case wtVarint:
		v, i, err := consumeVarint(b, i)
		return append(dst, uint32(v)), i, err
	case wtBytes:
		p, i, err := consumeBytes(b, i)
		if err != nil {
			return dst, i, err
		}
		for j := 0; j < len(p); {
			var v uint64
			if v, j, err = consumeVarint(p, j); err != nil {
				return dst, i, err
			}
			dst = append(dst, uint32(v))
		}
		return dst, i, nil
	default:
		return dst, i, errPackedWireType
	}
}

// appendSint64s decodes a repeated sint64 field, packed or not.
func appendSint64s(dst []int64, b []byte, i int, wt int) ([]int64, int, error) {
	switch wt {
	case wtVarint:
		v, i, err := consumeVarint(b, i)
		return append(dst, zigzag64(v)), i, err
	case wtBytes:
		p, i, err := consumeBytes(b, i)
		if err != nil {
			return dst, i, err
		}
		for j := 0; j < len(p); {
			var v uint64
			if v, j, err = consumeVarint(p, j); err != nil {
				return dst, i, err
			}
			dst = append(dst, zigzag64(v))
		}
		return dst, i, nil
	default:
		return dst, i, errPackedWireType
	}
}

// appendDoubles decodes a repeated double field, packed or not.
func appendDoubles(dst []float64, b []byte, i int, wt int) ([]float64, int, error) {
	switch wt {
	case wtFixed64:
		v, i, err := consumeDouble(b, i)
		if err != nil {
			return dst, i, err
		}
		return append(dst, v), i, nil
	case wtBytes:
		p, i, err := consumeBytes(b, i)
		if err != nil {
			return dst, i, err
		}
		if len(p)%8 != 0 {
			return dst, i, errPackedLength
		}
		for j := 0; j < len(p); j += 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(p[j:])))
		}
		return dst, i, nil
	default:
		return dst, i, errPackedWireType
	}
}

var errPackedWireType = errors.New("repeated field with a wire type that is neither packed nor its element's")
