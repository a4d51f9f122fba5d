package wire

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
)

// ChunkReader serves a tenant's stored series as encoded chunks, which the
// gRPC transport streams to the querier without decoding them; the ingester
// implements it next to Reader (with tsdb.DB.ChunkQuerier) and
// IngesterClient implements it for a remote ingester. A tenant with no data
// yields an empty querier, not an error.
type ChunkReader interface {
	ChunkQuerier(tenant string, mint, maxt int64) (storage.ChunkQuerier, error)
}

// IngesterServer is what RegisterIngesterServer serves: an ingester.
type IngesterServer interface {
	Pusher
	Reader
	ChunkReader
}

// Names of the weft.Ingester service and its methods.
const (
	IngesterServiceName = "weft.Ingester"

	methodPush        = "/weft.Ingester/Push"
	methodSelect      = "/weft.Ingester/Select"
	methodLabelNames  = "/weft.Ingester/LabelNames"
	methodLabelValues = "/weft.Ingester/LabelValues"
	methodMetadata    = "/weft.Ingester/Metadata"
	methodExemplars   = "/weft.Ingester/Exemplars"
)

// selectBatchBytes is the size from which a Select stream message is sent:
// series are batched until the message reaches it.
const selectBatchBytes = 1 << 20

// RegisterIngesterServer serves impl as the weft.Ingester service on s.
// The server must not force a codec (grpc.ForceServerCodec): calls use the
// "weft" content-subtype, whose codec this package registers.
func RegisterIngesterServer(s *grpc.Server, impl IngesterServer) {
	s.RegisterService(&ingesterServiceDesc, &ingesterServer{impl: impl})
}

type ingesterServer struct {
	impl   IngesterServer
	pushes sync.Pool // *pushState
	ins    sync.Pool // *inMsg
}

// ingesterHandler is the handler type of ingesterServiceDesc.
type ingesterHandler interface{ handlesIngester() }

func (*ingesterServer) handlesIngester() {}

var ingesterServiceDesc = grpc.ServiceDesc{
	ServiceName: IngesterServiceName,
	HandlerType: (*ingesterHandler)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Push", Handler: unary(methodPush, (*ingesterServer).push)},
		{MethodName: "LabelNames", Handler: unary(methodLabelNames, (*ingesterServer).labels)},
		{MethodName: "LabelValues", Handler: unary(methodLabelValues, (*ingesterServer).labels)},
		{MethodName: "Metadata", Handler: unary(methodMetadata, (*ingesterServer).metadata)},
		{MethodName: "Exemplars", Handler: unary(methodExemplars, (*ingesterServer).exemplars)},
	},
	Streams: []grpc.StreamDesc{
		{StreamName: "Select", Handler: selectHandler, ServerStreams: true},
	},
	Metadata: "pkg/wire/doc.go",
}

// unary adapts a method of ingesterServer to a grpc.MethodHandler, running
// the server's interceptor if there is one.
func unary(name string, fn func(*ingesterServer, context.Context, *inMsg) (*outMsg, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		s := srv.(*ingesterServer)
		// The request's buffer is reused once the method has returned:
		// nothing decoded from it refers to it.
		in, _ := s.ins.Get().(*inMsg)
		if in == nil {
			in = &inMsg{}
		}
		defer func() {
			if cap(in.b) <= maxPooledBuf {
				s.ins.Put(in)
			}
		}()
		if err := dec(in); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return fn(s, ctx, in)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: name}
		return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
			return fn(s, ctx, req.(*inMsg))
		})
	}
}

func errNoTenant() error {
	return statusError(Errorf(KindBadData, "", "cannot serve a request without a tenant"), PushResult{})
}

func errDecode(what string, err error) error {
	return statusError(Errorf(KindBadData, "", "cannot decode %s request: %v", what, err), PushResult{})
}

// pushState is what one Push decodes into, reused between pushes.
type pushState struct {
	req PushRequest
	dec *protocodec.SeriesDecoder
}

func (s *ingesterServer) push(ctx context.Context, in *inMsg) (*outMsg, error) {
	st, _ := s.pushes.Get().(*pushState)
	if st == nil {
		st = &pushState{dec: newPushDecoder()}
	}
	defer func() {
		st.req.Reset()
		s.pushes.Put(st)
	}()
	tenant, err := decodePushRequest(in.b, &st.req, st.dec)
	if err != nil {
		return nil, errDecode("push", err)
	}
	if tenant == "" {
		return nil, errNoTenant()
	}
	res, err := s.impl.Push(ctx, tenant, &st.req)
	if err != nil {
		return nil, statusError(err, res)
	}
	b := make([]byte, 0, 16)
	b = appendPushResult(b, res)
	return &outMsg{b: &b}, nil
}

func (s *ingesterServer) labels(ctx context.Context, in *inMsg) (*outMsg, error) {
	r, err := decodeLabelsRequest(in.b)
	if err != nil {
		return nil, errDecode("labels", err)
	}
	if r.tenant == "" {
		return nil, errNoTenant()
	}
	q, err := s.impl.Querier(r.tenant, r.mint, r.maxt)
	if err != nil {
		return nil, statusError(err, PushResult{})
	}
	defer q.Close()
	var (
		values []string
		warns  annotations.Annotations
	)
	if r.name == "" {
		values, warns, err = q.LabelNames(ctx, r.hints, r.matchers...)
	} else {
		values, warns, err = q.LabelValues(ctx, r.name, r.hints, r.matchers...)
	}
	if err != nil {
		return nil, statusError(err, PushResult{})
	}
	out := newOutMsg()
	b := protocodec.AppendRepeatedString(*out.b, 1, values)
	*out.b = appendWarnings(b, 2, warns)
	return out, nil
}

func appendWarnings(b []byte, num protowire.Number, warns annotations.Annotations) []byte {
	for _, w := range warns {
		b = protocodec.AppendTag(b, num, protowire.BytesType)
		b = protocodec.AppendString(b, w.Error())
	}
	return b
}

func (s *ingesterServer) metadata(ctx context.Context, in *inMsg) (*outMsg, error) {
	tenant, metric, limit, err := decodeMetadataRequest(in.b)
	if err != nil {
		return nil, errDecode("metadata", err)
	}
	if tenant == "" {
		return nil, errNoTenant()
	}
	md, err := s.impl.Metadata(ctx, tenant, metric, limit)
	if err != nil {
		return nil, statusError(err, PushResult{})
	}
	out := newOutMsg()
	b := *out.b
	for i := range md {
		var m int
		b, m = protocodec.BeginMessage(b, 1)
		b = appendMetadata(b, &md[i])
		b = protocodec.EndMessage(b, m)
	}
	*out.b = b
	return out, nil
}

func (s *ingesterServer) exemplars(ctx context.Context, in *inMsg) (*outMsg, error) {
	r, err := decodeExemplarsRequest(in.b)
	if err != nil {
		return nil, errDecode("exemplars", err)
	}
	if r.tenant == "" {
		return nil, errNoTenant()
	}
	q, err := s.impl.ExemplarQuerier(ctx, r.tenant)
	if err != nil {
		return nil, statusError(err, PushResult{})
	}
	res, err := q.Select(r.start, r.end, r.matchers...)
	if err != nil {
		return nil, statusError(err, PushResult{})
	}
	out := newOutMsg()
	*out.b = appendExemplarResults(*out.b, res)
	return out, nil
}

// appendExemplarResults encodes repeated QueryResult{1: series labels,
// 2: repeated Exemplar{1: labels, 2: value, 3: timestamp, 4: has_ts}}.
func appendExemplarResults(b []byte, res []exemplar.QueryResult) []byte {
	for _, r := range res {
		var m int
		b, m = protocodec.BeginMessage(b, 1)
		b = protocodec.AppendLabels(b, 1, r.SeriesLabels)
		for _, e := range r.Exemplars {
			var me int
			b, me = protocodec.BeginMessage(b, 2)
			b = protocodec.AppendLabels(b, 1, e.Labels)
			b = protocodec.AppendDoubleField(b, 2, e.Value)
			b = protocodec.AppendInt64Field(b, 3, e.Ts)
			b = protocodec.AppendBoolField(b, 4, e.HasTs)
			b = protocodec.EndMessage(b, me)
		}
		b = protocodec.EndMessage(b, m)
	}
	return b
}

func selectHandler(srv any, stream grpc.ServerStream) error {
	s := srv.(*ingesterServer)
	var in inMsg
	if err := stream.RecvMsg(&in); err != nil {
		return err
	}
	r, err := decodeSelectRequest(in.b)
	if err != nil {
		return errDecode("select", err)
	}
	if r.tenant == "" {
		return errNoTenant()
	}
	return s.selectSeries(stream.Context(), r, stream)
}

// selectSeries streams the series of r as ChunkedReadResponse messages of
// about selectBatchBytes each; the last one carries the warnings (field 14).
func (s *ingesterServer) selectSeries(ctx context.Context, r *selectRequest, stream grpc.ServerStream) error {
	q, err := s.impl.ChunkQuerier(r.tenant, r.mint, r.maxt)
	if err != nil {
		return statusError(err, PushResult{})
	}
	defer q.Close()
	set := q.Select(ctx, r.sort, r.hints, r.matchers...)
	var (
		out = newOutMsg()
		it  chunks.Iterator
		n   int
	)
	for set.Next() {
		series := set.At()
		it = series.Iterator(it)
		b, err := appendChunkedSeries(*out.b, series.Labels(), it)
		if err != nil {
			return statusError(fmt.Errorf("cannot read chunks of series %s: %w", series.Labels(), err), PushResult{})
		}
		*out.b = b
		if len(b) >= selectBatchBytes {
			if err := stream.SendMsg(out); err != nil {
				return err
			}
			out = newOutMsg()
		}
		if n++; n%256 == 0 && ctx.Err() != nil {
			return statusError(ctx.Err(), PushResult{})
		}
	}
	if err := set.Err(); err != nil {
		return statusError(err, PushResult{})
	}
	*out.b = appendWarnings(*out.b, 14, set.Warnings())
	if len(*out.b) == 0 {
		bufPool.Put(out.b)
		return nil
	}
	return stream.SendMsg(out)
}

// appendChunkedSeries appends a series as remote read's ChunkedSeries
// (field 1 of ChunkedReadResponse): labels (1) and chunks (2) of
// Chunk{1: min time, 2: max time, 3: encoding, 4: bytes}; the encodings are
// numbered as chunkenc.Encoding.
func appendChunkedSeries(b []byte, ls labels.Labels, it chunks.Iterator) ([]byte, error) {
	var ms int
	b, ms = protocodec.BeginMessage(b, 1)
	b = protocodec.AppendLabels(b, 1, ls)
	for it.Next() {
		meta := it.At()
		if meta.Chunk == nil {
			return b, fmt.Errorf("chunk %d has no data", meta.Ref)
		}
		data := meta.Chunk.Bytes()
		var m int
		b, m = protocodec.BeginMessage(b, 2)
		b = protocodec.AppendInt64Field(b, 1, meta.MinTime)
		b = protocodec.AppendInt64Field(b, 2, meta.MaxTime)
		b = protocodec.AppendVarintField(b, 3, uint64(meta.Chunk.Encoding()))
		b = protocodec.AppendTag(b, 4, protowire.BytesType)
		b = protocodec.AppendBytes(b, data)
		b = protocodec.EndMessage(b, m)
	}
	if err := it.Err(); err != nil {
		return b, err
	}
	return protocodec.EndMessage(b, ms), nil
}
