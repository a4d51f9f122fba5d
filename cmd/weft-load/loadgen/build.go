package loadgen

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// Remote-write protocol constants, as sent in the request headers.
const (
	ContentTypeV1 = "application/x-protobuf"
	ContentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
	VersionV1     = "0.1.0"
	VersionV2     = "2.0.0"
)

// Protocol is a remote-write protocol version.
type Protocol string

// The supported protocols.
const (
	ProtocolV1 Protocol = "v1"
	ProtocolV2 Protocol = "v2"
)

// ContentType returns the Content-Type header value of the protocol.
func (p Protocol) ContentType() string {
	if p == ProtocolV2 {
		return ContentTypeV2
	}
	return ContentTypeV1
}

// Version returns the X-Prometheus-Remote-Write-Version header value of the protocol.
func (p Protocol) Version() string {
	if p == ProtocolV2 {
		return VersionV2
	}
	return VersionV1
}

// Builder builds remote-write requests for ranges of a SeriesSet: one sample per
// series, all with the same timestamp (like one scrape of many targets).
//
// A Builder reuses all its buffers: after warm-up, building a request does not
// allocate. It is not safe for concurrent use; use one Builder per goroutine. Every
// slice or request it returns is owned by the Builder and valid only until the next
// call on it.
type Builder struct {
	set *SeriesSet

	// v1
	ts1     []prompb.TimeSeries
	labels1 []prompb.Label
	smpl1   []prompb.Sample

	// v2
	ts2      []writev2.TimeSeries
	refs     []uint32
	smpl2    []writev2.Sample
	symbols  []string
	localRef []uint32 // global symbol id -> local ref, valid when gen[id] == curGen
	gen      []uint32
	curGen   uint32

	req1 prompb.WriteRequest
	req2 writev2.Request

	raw  []byte // marshaled protobuf
	comp []byte // snappy-compressed raw
}

// NewBuilder returns a Builder over s.
func (s *SeriesSet) NewBuilder() *Builder {
	return &Builder{set: s}
}

func (b *Builder) checkRange(start, end int) error {
	if start < 0 || end > b.set.n || start > end {
		return fmt.Errorf("cannot build request: series range [%d, %d) outside [0, %d)", start, end, b.set.n)
	}
	return nil
}

// RequestV1 fills and returns a remote-write 1.0 request for series [start, end)
// with one sample each: value s.Value(i, round) at timestamp tsMillis. The request and
// everything it points to are owned by the Builder (valid until the next call).
func (b *Builder) RequestV1(start, end, round int, tsMillis int64) (*prompb.WriteRequest, error) {
	if err := b.checkRange(start, end); err != nil {
		return nil, err
	}
	m := end - start
	if cap(b.ts1) < m {
		b.ts1 = make([]prompb.TimeSeries, m)
		b.labels1 = make([]prompb.Label, m*LabelsPerSeries)
		b.smpl1 = make([]prompb.Sample, m)
	}
	b.ts1 = b.ts1[:m]
	s := b.set
	p := len(s.templates)
	for j := 0; j < m; j++ {
		i := start + j
		t := &s.templates[i%p]
		in := &s.instances[i/p]
		ls := b.labels1[j*LabelsPerSeries : (j+1)*LabelsPerSeries : (j+1)*LabelsPerSeries]
		for k := range t.slots {
			sl := &t.slots[k]
			ls[k].Name = sl.name
			if sl.common >= 0 {
				ls[k].Value = in.vals[sl.common]
			} else {
				ls[k].Value = sl.value
			}
		}
		b.smpl1[j] = prompb.Sample{Value: s.Value(i, round), Timestamp: tsMillis}
		b.ts1[j] = prompb.TimeSeries{Labels: ls, Samples: b.smpl1[j : j+1 : j+1]}
	}
	b.req1 = prompb.WriteRequest{Timeseries: b.ts1}
	return &b.req1, nil
}

// BuildV1 returns the snappy-compressed remote-write 1.0 payload for series
// [start, end) (see RequestV1). The payload is owned by the Builder and valid until the
// next call.
func (b *Builder) BuildV1(start, end, round int, tsMillis int64) ([]byte, error) {
	if err := b.checkRange(start, end); err != nil {
		return nil, err
	}
	b.raw = b.set.appendV1(b.raw[:0], start, end, round, tsMillis)
	return b.compress(b.raw), nil
}

// RequestV2 fills and returns a remote-write 2.0 request for series [start, end) with
// one sample each and metric-type metadata. Its symbol table holds exactly the strings
// the request references, "" first. Owned by the Builder (valid until the next call).
func (b *Builder) RequestV2(start, end, round int, tsMillis int64) (*writev2.Request, error) {
	if err := b.checkRange(start, end); err != nil {
		return nil, err
	}
	s := b.set
	if len(b.localRef) < len(s.symbols) {
		b.localRef = make([]uint32, len(s.symbols))
		b.gen = make([]uint32, len(s.symbols))
		b.curGen = 0
	}
	b.curGen++
	if b.curGen == 0 { // wrapped: forget every stale mapping
		clear(b.gen)
		b.curGen = 1
	}
	gen := b.curGen
	b.symbols = append(b.symbols[:0], "")
	b.gen[0], b.localRef[0] = gen, 0
	ref := func(id uint32) uint32 {
		if b.gen[id] == gen {
			return b.localRef[id]
		}
		r := uint32(len(b.symbols))
		b.symbols = append(b.symbols, s.symbols[id])
		b.gen[id], b.localRef[id] = gen, r
		return r
	}

	m := end - start
	if cap(b.ts2) < m {
		b.ts2 = make([]writev2.TimeSeries, m)
		b.refs = make([]uint32, m*2*LabelsPerSeries)
		b.smpl2 = make([]writev2.Sample, m)
	}
	b.ts2 = b.ts2[:m]
	p := len(s.templates)
	const w = 2 * LabelsPerSeries
	for j := 0; j < m; j++ {
		i := start + j
		t := &s.templates[i%p]
		in := &s.instances[i/p]
		rs := b.refs[j*w : (j+1)*w : (j+1)*w]
		for k := range t.slots {
			sl := &t.slots[k]
			rs[2*k] = ref(sl.nameSym)
			if sl.common >= 0 {
				rs[2*k+1] = ref(in.syms[sl.common])
			} else {
				rs[2*k+1] = ref(sl.valueSym)
			}
		}
		typ := writev2.Metadata_METRIC_TYPE_GAUGE
		if t.isCntr {
			typ = writev2.Metadata_METRIC_TYPE_COUNTER
		}
		b.smpl2[j] = writev2.Sample{Value: s.Value(i, round), Timestamp: tsMillis}
		b.ts2[j] = writev2.TimeSeries{
			LabelsRefs: rs,
			Samples:    b.smpl2[j : j+1 : j+1],
			Metadata:   writev2.Metadata{Type: typ},
		}
	}
	b.req2 = writev2.Request{Symbols: b.symbols, Timeseries: b.ts2}
	return &b.req2, nil
}

// BuildV2 returns the snappy-compressed remote-write 2.0 payload for series
// [start, end) (see RequestV2). The payload is owned by the Builder and valid until the
// next call.
func (b *Builder) BuildV2(start, end, round int, tsMillis int64) ([]byte, error) {
	req, err := b.RequestV2(start, end, round, tsMillis)
	if err != nil {
		return nil, err
	}
	raw, err := req.OptimizedMarshal(b.raw[:0])
	if err != nil {
		return nil, fmt.Errorf("cannot marshal remote-write 2.0 request: %w", err)
	}
	b.raw = raw
	return b.compress(raw), nil
}

// Build builds a payload of the given protocol (see BuildV1 and BuildV2).
func (b *Builder) Build(p Protocol, start, end, round int, tsMillis int64) ([]byte, error) {
	if p == ProtocolV2 {
		return b.BuildV2(start, end, round, tsMillis)
	}
	return b.BuildV1(start, end, round, tsMillis)
}

func (b *Builder) compress(raw []byte) []byte {
	if n := snappy.MaxEncodedLen(len(raw)); cap(b.comp) < n {
		b.comp = make([]byte, n+n/4)
	}
	b.comp = snappy.Encode(b.comp[:cap(b.comp)], raw)
	return b.comp
}

// BuildV1Request returns a freshly allocated snappy-compressed remote-write 1.0
// payload for series [start, end), one sample each (value for round, timestamp
// tsMillis). Convenient for tests and benchmark setup; loops should use a Builder.
func (s *SeriesSet) BuildV1Request(start, end, round int, tsMillis int64) ([]byte, error) {
	p, err := s.NewBuilder().BuildV1(start, end, round, tsMillis)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), p...), nil
}

// BuildV2Request is BuildV1Request for remote-write 2.0.
func (s *SeriesSet) BuildV2Request(start, end, round int, tsMillis int64) ([]byte, error) {
	p, err := s.NewBuilder().BuildV2(start, end, round, tsMillis)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), p...), nil
}

// Hand-written remote-write 1.0 encoding. A series' labels never change, so each label
// is encoded once (per template for static labels, per node for common ones) and a
// request is mostly copies of those fragments. The output is byte-for-byte what
// prompb's generated Marshal produces (checked by TestBuildV1MatchesPrompb).

const (
	tagTimeseries  = 1<<3 | 2 // WriteRequest.timeseries, TimeSeries.labels, Label.name
	tagSamples     = 2<<3 | 2 // TimeSeries.samples, Label.value
	tagSampleValue = 1<<3 | 1 // Sample.value (fixed64)
	tagSampleTS    = 2<<3 | 0 // Sample.timestamp (varint)
)

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendLabelField appends a TimeSeries.labels field holding Label{name, value}.
func appendLabelField(b []byte, name, value string) []byte {
	inner := 0
	if name != "" {
		inner += 1 + varintLen(uint64(len(name))) + len(name)
	}
	if value != "" {
		inner += 1 + varintLen(uint64(len(value))) + len(value)
	}
	b = append(b, tagTimeseries)
	b = appendVarint(b, uint64(inner))
	if name != "" {
		b = append(b, tagTimeseries)
		b = appendVarint(b, uint64(len(name)))
		b = append(b, name...)
	}
	if value != "" {
		b = append(b, tagSamples)
		b = appendVarint(b, uint64(len(value)))
		b = append(b, value...)
	}
	return b
}

// appendV1 appends the remote-write 1.0 encoding of series [start, end), one sample
// each, to dst.
func (s *SeriesSet) appendV1(dst []byte, start, end, round int, tsMillis int64) []byte {
	p := len(s.templates)
	for i := start; i < end; i++ {
		t := &s.templates[i%p]
		in := &s.instances[i/p]
		v := s.Value(i, round)
		sampleLen := 0
		if v != 0 {
			sampleLen += 9
		}
		if tsMillis != 0 {
			sampleLen += 1 + varintLen(uint64(tsMillis))
		}
		seriesLen := t.fragsLen + in.fragsLen + 1 + varintLen(uint64(sampleLen)) + sampleLen
		dst = append(dst, tagTimeseries)
		dst = appendVarint(dst, uint64(seriesLen))
		for k := range t.slots {
			if c := t.slots[k].common; c >= 0 {
				dst = append(dst, in.frags[c]...)
			} else {
				dst = append(dst, t.frags[k]...)
			}
		}
		dst = append(dst, tagSamples)
		dst = appendVarint(dst, uint64(sampleLen))
		if v != 0 {
			dst = append(dst, tagSampleValue)
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		}
		if tsMillis != 0 {
			dst = append(dst, tagSampleTS)
			dst = appendVarint(dst, uint64(tsMillis))
		}
	}
	return dst
}
