package wire

import (
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
)

// AsOldShardlessServer makes a server behave, on its Select streams, as a
// build from before query shards: it never sees the request's shard fields
// (an old build skips them as unknown) and never confirms a shard.
func AsOldShardlessServer() grpc.ServerOption {
	return grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, shardlessStream{ss})
	})
}

type shardlessStream struct{ grpc.ServerStream }

func (s shardlessStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if in, ok := m.(*inMsg); ok && err == nil {
		in.b = withoutFields(in.b, fieldSelectShardIndex, fieldSelectShardCount)
	}
	return err
}

func (s shardlessStream) SendMsg(m any) error {
	if out, ok := m.(*outMsg); ok {
		*out.b = withoutFields(*out.b, fieldSelectSharded)
	}
	return s.ServerStream.SendMsg(m)
}

// withoutFields returns the top-level fields of b other than nums.
func withoutFields(b []byte, nums ...protowire.Number) []byte {
	var (
		out []byte
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		rest := b
		if b, err = protocodec.NextField(b, &f); err != nil {
			panic(err)
		}
		keep := true
		for _, n := range nums {
			keep = keep && f.Num != n
		}
		if keep {
			out = append(out, rest[:len(rest)-len(b)]...)
		}
	}
	return out
}
