package frontend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/common/model"
)

// The cache entry of a split part is binary, for speed and size: a
// dashboard served from the cache decodes its extents on every refresh.
//
//	entry   = version(1 byte) query(string) uvarint(#extents) extent*
//	extent  = varint(start) varint(end) matrix
//	matrix  = uvarint(#series) series*
//	series  = uvarint(#labels) (string string)* uvarint(#floats) float* uvarint(#histograms) histogram*
//	float   = varint(timestamp delta) uint64(bits)
//	histogram = varint(timestamp delta) uint64(count) uint64(sum) uvarint(#buckets) (uvarint(boundaries) uint64 uint64 uint64)*
//	string  = uvarint(length) bytes
//
// Timestamps are deltas from the previous sample of the same kind in the
// series (the first from 0); floats are their IEEE 754 bits, big endian,
// so every value, NaN payloads included, comes back exactly.
const entryVersion = 1

var errCorrupt = errors.New("corrupt cache entry")

func encodeExtents(query string, es []extent) []byte {
	buf := []byte{entryVersion}
	buf = appendBytes(buf, query)
	buf = binary.AppendUvarint(buf, uint64(len(es)))
	for _, e := range es {
		buf = binary.AppendVarint(buf, e.Start)
		buf = binary.AppendVarint(buf, e.End)
		buf = appendBinaryMatrix(buf, e.Matrix)
	}
	return buf
}

func appendBytes(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendBinaryMatrix(buf []byte, m model.Matrix) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(m)))
	names := []string{}
	for _, s := range m {
		names = names[:0]
		for n := range s.Metric {
			names = append(names, string(n))
		}
		slices.Sort(names)
		buf = binary.AppendUvarint(buf, uint64(len(names)))
		for _, n := range names {
			buf = appendBytes(buf, n)
			buf = appendBytes(buf, string(s.Metric[model.LabelName(n)]))
		}
		buf = binary.AppendUvarint(buf, uint64(len(s.Values)))
		prev := int64(0)
		for _, v := range s.Values {
			buf = binary.AppendVarint(buf, int64(v.Timestamp)-prev)
			prev = int64(v.Timestamp)
			buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(float64(v.Value)))
		}
		buf = binary.AppendUvarint(buf, uint64(len(s.Histograms)))
		prev = 0
		for _, h := range s.Histograms {
			buf = binary.AppendVarint(buf, int64(h.Timestamp)-prev)
			prev = int64(h.Timestamp)
			hist := h.Histogram
			if hist == nil {
				hist = &model.SampleHistogram{}
			}
			buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(float64(hist.Count)))
			buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(float64(hist.Sum)))
			buf = binary.AppendUvarint(buf, uint64(len(hist.Buckets)))
			for _, b := range hist.Buckets {
				buf = binary.AppendUvarint(buf, uint64(b.Boundaries))
				buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(float64(b.Lower)))
				buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(float64(b.Upper)))
				buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(float64(b.Count)))
			}
		}
	}
	return buf
}

// decoder reads what the encoder wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that each element of which takes at least min
// bytes: a corrupt entry cannot make the decoder allocate more than its
// size.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.err = errCorrupt
		return 0
	}
	return int(n)
}

func (d *decoder) float() float64 {
	if d.err != nil || len(d.b) < 8 {
		d.err = errCorrupt
		return 0
	}
	v := math.Float64frombits(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) string() string {
	n := d.count(1)
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func decodeExtents(query string, v []byte) ([]extent, error) {
	if len(v) == 0 || v[0] != entryVersion {
		return nil, fmt.Errorf("cannot decode cached extents: %w", errCorrupt)
	}
	d := &decoder{b: v[1:]}
	if q := d.string(); d.err != nil || q != query {
		return nil, d.err // another query with the same hash: a miss
	}
	out := make([]extent, d.count(3))
	for i := range out {
		out[i].Start, out[i].End = d.varint(), d.varint()
		out[i].Matrix = d.matrix()
	}
	if d.err != nil {
		return nil, fmt.Errorf("cannot decode cached extents: %w", d.err)
	}
	return out, nil
}

func (d *decoder) matrix() model.Matrix {
	m := make(model.Matrix, d.count(3))
	for i := range m {
		nl := d.count(2)
		s := &model.SampleStream{Metric: make(model.Metric, nl)}
		for range nl {
			n := d.string()
			s.Metric[model.LabelName(n)] = model.LabelValue(d.string())
		}
		if nf := d.count(9); nf > 0 {
			s.Values = make([]model.SamplePair, nf)
			prev := int64(0)
			for j := range s.Values {
				prev += d.varint()
				s.Values[j] = model.SamplePair{Timestamp: model.Time(prev), Value: model.SampleValue(d.float())}
			}
		}
		if nh := d.count(18); nh > 0 {
			s.Histograms = make([]model.SampleHistogramPair, nh)
			prev := int64(0)
			for j := range s.Histograms {
				prev += d.varint()
				h := &model.SampleHistogram{Count: model.FloatString(d.float()), Sum: model.FloatString(d.float())}
				if nb := d.count(25); nb > 0 {
					h.Buckets = make(model.HistogramBuckets, nb)
					for k := range h.Buckets {
						h.Buckets[k] = &model.HistogramBucket{Boundaries: int32(d.uvarint()), Lower: model.FloatString(d.float()), Upper: model.FloatString(d.float()), Count: model.FloatString(d.float())}
					}
				}
				s.Histograms[j] = model.SampleHistogramPair{Timestamp: model.Time(prev), Histogram: h}
			}
		}
		m[i] = s
		if d.err != nil {
			return nil
		}
	}
	return m
}
