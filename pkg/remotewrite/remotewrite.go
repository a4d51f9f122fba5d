package remotewrite

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang/snappy"

	"github.com/weft-io/weft/pkg/protocodec"
	"github.com/weft-io/weft/pkg/wire"
)

// Version of the remote-write protocol.
type Version int

// The remote-write protocol versions that Decode understands.
const (
	V1 Version = 1 // prometheus.WriteRequest
	V2 Version = 2 // io.prometheus.write.v2.Request
)

// String returns the version as the specification names it ("1.0", "2.0"),
// which is how it appears in error messages.
func (v Version) String() string {
	switch v {
	case V1:
		return "1.0"
	case V2:
		return "2.0"
	default:
		return fmt.Sprintf("unknown(%d)", int(v))
	}
}

// Errors returned by ParseContentType and Decode, always wrapped with a
// message that says what was wrong. All of them mean the request can never
// succeed as sent: the HTTP edge answers 415 for ErrUnsupportedContentType,
// 413 for ErrTooLarge and 400 for the others, and the client must not retry.
var (
	// ErrUnsupportedContentType is a Content-Type (or Version) this package
	// does not decode.
	ErrUnsupportedContentType = errors.New("unsupported content type")
	// ErrBadSnappy is a body that is not a valid snappy block.
	ErrBadSnappy = errors.New("invalid snappy block")
	// ErrBadProto is a decompressed body that is not a valid protobuf message
	// of the expected type, or that refers to symbols it does not have.
	ErrBadProto = errors.New("invalid protobuf message")
	// ErrTooLarge is a body whose decompressed size exceeds the bound the
	// caller gave.
	ErrTooLarge = errors.New("decompressed request too large")
)

// The protobuf message names that the remote-write 2.0 specification puts in
// the Content-Type "proto" parameter.
const (
	protoV1 = "prometheus.WriteRequest"
	protoV2 = "io.prometheus.write.v2.Request"
)

// ParseContentType picks the protocol version from a Content-Type header as
// the remote-write 2.0 specification says: an empty header or
// "application/x-protobuf" without a proto parameter is 1.0 (the only thing a
// 1.0 sender ever sends); "proto=prometheus.WriteRequest" is 1.0 and
// "proto=io.prometheus.write.v2.Request" is 2.0. Anything else returns an
// error wrapping ErrUnsupportedContentType, so that the sender learns it must
// fall back to another version. Media type and parameter names are
// case-insensitive, the proto value is not; other parameters are ignored.
func ParseContentType(ct string) (Version, error) {
	if strings.TrimSpace(ct) == "" {
		return V1, nil
	}
	mediaType, params, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(mediaType), "application/x-protobuf") {
		return 0, fmt.Errorf("%w %q: want application/x-protobuf", ErrUnsupportedContentType, ct)
	}
	v := V1
	for params != "" {
		var param string
		param, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(param, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "proto") {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		switch value {
		case protoV1:
			v = V1
		case protoV2:
			v = V2
		default:
			return 0, fmt.Errorf("%w %q: unknown proto %q, want %s or %s",
				ErrUnsupportedContentType, ct, value, protoV1, protoV2)
		}
	}
	return v, nil
}

// Decoder decodes remote-write requests. It keeps its buffers (the
// decompressed body, the symbols table, label and histogram scratch space, a
// small cache of metadata strings) between calls, so that decoding a steady
// stream of requests allocates almost nothing. A Decoder is not safe for
// concurrent use; the HTTP handler keeps them in a sync.Pool. Create one with
// NewDecoder (the labels implementations other than the default need their
// scratch builders initialized).
type Decoder struct {
	buf []byte // the decompressed body of the current request

	// series decodes 1.0's TimeSeries and the histograms of both versions,
	// and its scratch builders build 2.0's labels.
	series *protocodec.SeriesDecoder

	// symbols is the 2.0 symbols table of the current request. Its strings
	// alias buf unless protocodec.CloneLabelStrings says the labels
	// implementation keeps the strings it is given.
	symbols []string
	refs    []uint32 // scratch: a series' labels_refs
	erefs   []uint32 // scratch: an exemplar's labels_refs

	// interned holds metadata strings (family names, help, units) from earlier
	// requests: Prometheus sends the same metadata again and again, and
	// metadata strings must outlive buf, so without the cache every one would
	// be an allocation. Bounded by internMaxEntries and internMaxBytes.
	interned      map[string]string
	internedBytes int
}

// NewDecoder returns a Decoder with empty buffers; they grow to fit the
// largest request seen and are kept.
func NewDecoder() *Decoder {
	return &Decoder{
		// 1.0 has no start timestamps; histograms are handed over as
		// Prometheus' own receiver gives them to its TSDB.
		series:   protocodec.NewSeriesDecoder(protocodec.SeriesOptions{SpansAlwaysSet: true}),
		interned: make(map[string]string),
	}
}

// Decode snappy-decodes body (the block format, which remote write uses;
// checking Content-Encoding is the caller's job) and unmarshals the request of
// version v into dst, which it resets first.
//
// maxDecodedSize bounds the decompressed size; the bound is checked against
// the length the snappy header announces before anything is allocated, and a
// larger body is refused with ErrTooLarge. maxDecodedSize <= 0 means no bound,
// which only trusted callers should use.
//
// Buffer ownership: dst's slices are reused from earlier requests and the
// label strings are built freshly, but nothing in dst refers to body or to
// the Decoder's buffers, so dst stays valid after the next Decode on this
// Decoder, until the caller resets or reuses dst itself. Labels are exactly
// as sent: neither sorted nor deduplicated. Unknown fields are skipped.
//
// On error, dst is reset and the error wraps ErrBadSnappy, ErrTooLarge,
// ErrBadProto or ErrUnsupportedContentType (for an unknown v).
func (d *Decoder) Decode(dst *wire.PushRequest, body []byte, v Version, maxDecodedSize int) error {
	dst.Reset()
	if v != V1 && v != V2 {
		return fmt.Errorf("cannot decode remote-write request: %w: unknown version %d", ErrUnsupportedContentType, int(v))
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return fmt.Errorf("cannot decode remote-write %s request: %w: %w", v, ErrBadSnappy, err)
	}
	if maxDecodedSize > 0 && n > maxDecodedSize {
		return fmt.Errorf("cannot decode remote-write %s request: %w: %d bytes decompressed, the limit is %d",
			v, ErrTooLarge, n, maxDecodedSize)
	}
	if cap(d.buf) < n {
		// No headroom: a request of a new maximum size is rare, and
		// over-allocating would multiply the memory of every pooled Decoder.
		d.buf = make([]byte, n)
	}
	buf, err := snappy.Decode(d.buf[:n], body)
	if err != nil {
		return fmt.Errorf("cannot decode remote-write %s request: %w: %w", v, ErrBadSnappy, err)
	}
	if v == V1 {
		err = d.decodeV1(dst, buf)
	} else {
		err = d.decodeV2(dst, buf)
	}
	if err != nil {
		dst.Reset()
		return fmt.Errorf("cannot decode remote-write %s request: %w: %w", v, ErrBadProto, err)
	}
	return nil
}

// Bounds of the metadata string cache: big enough for the metadata of a
// large Prometheus (tens of thousands of families are rare), small enough
// that every pooled Decoder holding one costs little.
const (
	internMaxEntries = 8192
	internMaxBytes   = 1 << 20
)

// intern returns a copy of s that does not alias any buffer, from the cache
// when s was seen before.
func (d *Decoder) intern(s string) string {
	if s == "" {
		return ""
	}
	if c, ok := d.interned[s]; ok {
		return c
	}
	c := strings.Clone(s)
	if len(c) > internMaxBytes/64 {
		return c // too big to be worth keeping
	}
	if d.interned == nil {
		d.interned = make(map[string]string)
	}
	if len(d.interned) >= internMaxEntries || d.internedBytes+len(c) > internMaxBytes {
		clear(d.interned)
		d.internedBytes = 0
	}
	d.interned[c] = c
	d.internedBytes += len(c)
	return c
}
