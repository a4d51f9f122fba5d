package remotewrite

import (
	"errors"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/protocodec"
	"github.com/weft-io/weft/pkg/wire"
)

// FuzzDecode feeds Decode arbitrary protobuf bodies (snappy-encoded by the
// test, so that the fuzzer explores the protobuf and not the compression)
// and, when raw is set, arbitrary snappy bodies. Decode must never panic,
// must fail only with its sentinel errors, must be deterministic on a reused
// Decoder, and must agree with prompb's generated Unmarshal wherever both
// accept the input.
func FuzzDecode(f *testing.F) {
	for seed := range uint64(8) {
		g := newGen(seed)
		f.Add(marshalV1(f, g.requestV1()), false, false)
		f.Add(marshalV2(f, g.requestV2()), true, false)
	}
	f.Add(snappy.Encode(nil, marshalV1(f, newGen(9).requestV1())), false, true)
	f.Add(append(appendBytesField(nil, 5, appendVarintField(nil, 6, 3)), unknownFields(20)...), true, false)

	stale := snappy.Encode(nil, marshalV1(f, newGen(10).requestV1()))
	f.Fuzz(func(t *testing.T, pb []byte, v2 bool, raw bool) {
		v := V1
		if v2 {
			v = V2
		}
		body := pb
		if !raw {
			body = snappy.Encode(nil, pb)
		}
		d := NewDecoder()
		var got wire.PushRequest
		err := d.Decode(&got, body, v, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrBadProto) && !errors.Is(err, ErrBadSnappy) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			require.Empty(t, got.Series)
			require.Empty(t, got.Metadata)
		}

		// Decoding again on the same Decoder and PushRequest gives the same.
		var again wire.PushRequest
		require.NoError(t, d.Decode(&again, stale, V1, 0)) // stale contents to be overwritten
		err2 := d.Decode(&again, body, v, 1<<20)
		require.Equal(t, err == nil, err2 == nil)
		if err == nil {
			requireEqualPush(t, &got, &again)
		}

		if raw || len(pb) > 1<<20 {
			return
		}
		want, refErr := reference(pb, v)
		switch {
		case refErr == nil && err == nil:
			requireEqualPush(t, want, &got)
		case refErr == nil && err != nil:
			// Decode is stricter than the generated code in two ways that
			// no real sender meets: field numbers above the 2^29-1 that
			// protobuf allows (gogo takes them up to 2^31-1, and wraps larger
			// ones onto small numbers), and packed doubles whose length is
			// not a multiple of 8 (gogo reads past the field's end).
			if errors.Is(err, protocodec.ErrFieldNumber) || errors.Is(err, protocodec.ErrPackedLength) {
				return
			}
			t.Fatalf("prompb accepts what Decode refuses: %v", err)
		case refErr != nil && err == nil:
			t.Fatalf("Decode accepts what prompb refuses: %v", refErr)
		}
	})
}

// reference decodes pb with prompb's generated code and conversions.
func reference(pb []byte, v Version) (*wire.PushRequest, error) {
	if v == V1 {
		var req prompb.WriteRequest
		if err := req.Unmarshal(pb); err != nil {
			return nil, err
		}
		return wantV1(&req), nil
	}
	var req writev2.Request
	if err := req.Unmarshal(pb); err != nil {
		return nil, err
	}
	return wantV2(&req)
}
