package wire

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/oklog/ulid/v2"
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
// implements it next to Reader (with tsdb.DB.ChunkQuerier), and so do the
// store-gateway and StoreClient. A tenant with no data yields an empty
// querier, not an error.
type ChunkReader interface {
	ChunkQuerier(tenant string, mint, maxt int64) (storage.ChunkQuerier, error)
}

// StoreServer is a store of series that the weft.Store service serves: an
// ingester or a store-gateway.
type StoreServer interface {
	Reader
	ChunkReader
}

// IngesterServer is an ingester: the writes of weft.Writer and the reads of
// weft.Store.
type IngesterServer interface {
	Pusher
	StoreServer
}

// Stores are the stores that one weft.Store service serves, by the name a
// request gives (field 13): a process that runs an ingester and a
// store-gateway serves both on its one gRPC server, and each read says
// which it asks, since both answer for the same tenants and times.
type Stores map[string]StoreServer

// Names of the stores a weft.Store request may ask for.
const (
	StoreIngester = "ingester"
	StoreGateway  = "store-gateway"
)

// Names of the services and their methods.
const (
	WriteServiceName = "weft.Writer"
	StoreServiceName = "weft.Store"

	methodPush        = "/weft.Writer/Push"
	methodSelect      = "/weft.Store/Select"
	methodLabelNames  = "/weft.Store/LabelNames"
	methodLabelValues = "/weft.Store/LabelValues"
	methodMetadata    = "/weft.Store/Metadata"
	methodExemplars   = "/weft.Store/Exemplars"
	methodHeldBlocks  = "/weft.Store/HeldBlocks"

	methodTSDBStatus       = "/weft.Store/TSDBStatus"
	methodLabelCardinality = "/weft.Store/LabelCardinality"
)

// selectBatchBytes is the size from which a Select stream message is sent:
// series are batched until the message reaches it.
const selectBatchBytes = 1 << 20

// Register serves a process's roles on s: pusher (an ingester; nil when the
// process runs none) as weft.Writer, stores as weft.Store, and both as the
// deprecated weft.Ingester service for the clients of older builds
// (RegisterLegacyIngesterServer). It is the one call a process needs.
// The server must not force a codec (grpc.ForceServerCodec): calls use the
// "weft" content-subtype, whose codec this package registers.
func Register(s *grpc.Server, pusher Pusher, stores Stores) {
	if pusher != nil {
		RegisterWriteServer(s, pusher)
	}
	if len(stores) > 0 {
		RegisterStoreServer(s, stores)
	}
	RegisterLegacyIngesterServer(s, pusher, stores)
}

// RegisterIngesterServer serves one ingester on s: Register with impl as
// the pusher and as the store named StoreIngester.
func RegisterIngesterServer(s *grpc.Server, impl IngesterServer) {
	Register(s, impl, Stores{StoreIngester: impl})
}

// RegisterWriteServer serves impl as the weft.Writer service on s.
func RegisterWriteServer(s *grpc.Server, impl Pusher) {
	w := &writeServer{impl: impl}
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: WriteServiceName,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Push", Handler: unary(&w.ins, methodPush, w.push)}},
		Metadata:    "pkg/wire/doc.go",
	}, w)
}

// RegisterStoreServer serves stores as the weft.Store service on s. A
// request that names no store (a client of an older build) is answered by
// the only store; one that names a store s does not serve fails.
func RegisterStoreServer(s *grpc.Server, stores Stores) {
	st := &storeServer{stores: stores}
	desc := st.serviceDesc(StoreServiceName, methodSelect, methodLabelNames, methodLabelValues, methodMetadata, methodExemplars)
	desc.Methods = append(desc.Methods,
		grpc.MethodDesc{MethodName: "HeldBlocks", Handler: unary(&st.ins, methodHeldBlocks, st.heldBlocks)},
		grpc.MethodDesc{MethodName: "TSDBStatus", Handler: unary(&st.ins, methodTSDBStatus, st.tsdbStatus)},
		grpc.MethodDesc{MethodName: "LabelCardinality", Handler: unary(&st.ins, methodLabelCardinality, st.labelCardinality)},
	)
	s.RegisterService(desc, st)
}

// serviceDesc describes the store service under a name with its methods'
// full names.
func (s *storeServer) serviceDesc(name, sel, names, values, md, ex string) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: name,
		HandlerType: (*any)(nil),
		Methods:     s.methods(names, values, md, ex),
		Streams: []grpc.StreamDesc{{
			StreamName:    "Select",
			Handler:       func(_ any, stream grpc.ServerStream) error { return s.selectStream(stream) },
			ServerStreams: true,
		}},
		Metadata: "pkg/wire/doc.go",
	}
}

func (s *storeServer) methods(names, values, md, ex string) []grpc.MethodDesc {
	return []grpc.MethodDesc{
		{MethodName: "LabelNames", Handler: unary(&s.ins, names, s.labels)},
		{MethodName: "LabelValues", Handler: unary(&s.ins, values, s.labels)},
		{MethodName: "Metadata", Handler: unary(&s.ins, md, s.metadata)},
		{MethodName: "Exemplars", Handler: unary(&s.ins, ex, s.exemplars)},
	}
}

// writeServer serves a Pusher.
type writeServer struct {
	impl   Pusher
	pushes sync.Pool // *pushState
	ins    inPool
}

// storeServer serves stores.
type storeServer struct {
	stores Stores
	// legacy is set on the deprecated weft.Ingester service: the queried
	// blocks go out as the warning its clients expect.
	legacy bool
	ins    inPool
}

// inPool recycles request buffers: a request's buffer is reused once its
// method has returned, since nothing decoded from it refers to it.
type inPool struct{ p sync.Pool }

func (p *inPool) get() *inMsg {
	if in, ok := p.p.Get().(*inMsg); ok {
		return in
	}
	return &inMsg{}
}

func (p *inPool) put(in *inMsg) {
	if cap(in.b) <= maxPooledBuf {
		p.p.Put(in)
	}
}

// unary adapts a method to a grpc.MethodHandler, running the server's
// interceptor if there is one.
func unary(pool *inPool, name string, fn func(context.Context, *inMsg) (*outMsg, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := pool.get()
		defer pool.put(in)
		if err := dec(in); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return fn(ctx, in)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: name}
		return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
			return fn(ctx, req.(*inMsg))
		})
	}
}

// store returns the store a request asks for (field 13).
func (s *storeServer) store(req []byte) (StoreServer, error) {
	name, err := storeNameOf(req)
	if err != nil {
		return nil, errDecode("store", err)
	}
	if st, ok := s.stores[name]; ok {
		return st, nil
	}
	if name == "" && len(s.stores) == 1 {
		for _, st := range s.stores {
			return st, nil
		}
	}
	served := make([]string, 0, len(s.stores))
	for n := range s.stores {
		served = append(served, n)
	}
	slices.Sort(served)
	return nil, statusError(Errorf(KindInternal, "", "cannot serve a read of store %q: this process serves %s", name, strings.Join(served, ", ")), PushResult{})
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

func (s *writeServer) push(ctx context.Context, in *inMsg) (*outMsg, error) {
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

func (s *storeServer) labels(ctx context.Context, in *inMsg) (*outMsg, error) {
	r, err := decodeLabelsRequest(in.b)
	if err != nil {
		return nil, errDecode("labels", err)
	}
	if r.tenant == "" {
		return nil, errNoTenant()
	}
	st, err := s.store(in.b)
	if err != nil {
		return nil, err
	}
	q, err := st.Querier(r.tenant, r.mint, r.maxt)
	if err != nil {
		return nil, statusError(err, PushResult{})
	}
	defer q.Close()
	ctx, report := WithBlockReport(ctx)
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
	b = appendWarnings(b, 2, warns)
	*out.b = s.appendBlocks(b, fieldLabelsQueriedBlocks, 2, report.Blocks())
	return out, nil
}

// appendBlocks appends the blocks a store read as the answer's
// queried-blocks field num, or on the deprecated weft.Ingester service as
// the warning (field warnNum) that its clients read them from.
func (s *storeServer) appendBlocks(b []byte, num, warnNum protowire.Number, ids []ulid.ULID) []byte {
	if s.legacy {
		return appendLegacyBlocksWarning(b, warnNum, ids)
	}
	return appendQueriedBlocks(b, num, ids)
}

func appendWarnings(b []byte, num protowire.Number, warns annotations.Annotations) []byte {
	for _, w := range warns {
		b = protocodec.AppendTag(b, num, protowire.BytesType)
		b = protocodec.AppendString(b, w.Error())
	}
	return b
}

func (s *storeServer) metadata(ctx context.Context, in *inMsg) (*outMsg, error) {
	tenant, metric, limit, err := decodeMetadataRequest(in.b)
	if err != nil {
		return nil, errDecode("metadata", err)
	}
	if tenant == "" {
		return nil, errNoTenant()
	}
	st, err := s.store(in.b)
	if err != nil {
		return nil, err
	}
	md, err := st.Metadata(ctx, tenant, metric, limit)
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

// heldBlocks answers which blocks the store holds for a tenant: an
// ingester's local blocks; a store without local blocks holds none.
func (s *storeServer) heldBlocks(ctx context.Context, in *inMsg) (*outMsg, error) {
	tenant, err := decodeHeldBlocksRequest(in.b)
	if err != nil {
		return nil, errDecode("held blocks", err)
	}
	if tenant == "" {
		return nil, errNoTenant()
	}
	st, err := s.store(in.b)
	if err != nil {
		return nil, err
	}
	var ids []ulid.ULID
	if h, ok := st.(BlockHolder); ok {
		if ids, err = h.HeldBlocks(ctx, tenant); err != nil {
			return nil, statusError(err, PushResult{})
		}
	}
	out := newOutMsg()
	*out.b = appendQueriedBlocks(*out.b, 1, ids)
	return out, nil
}

func (s *storeServer) exemplars(ctx context.Context, in *inMsg) (*outMsg, error) {
	r, err := decodeExemplarsRequest(in.b)
	if err != nil {
		return nil, errDecode("exemplars", err)
	}
	if r.tenant == "" {
		return nil, errNoTenant()
	}
	st, err := s.store(in.b)
	if err != nil {
		return nil, err
	}
	q, err := st.ExemplarQuerier(ctx, r.tenant)
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

func (s *storeServer) selectStream(stream grpc.ServerStream) error {
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
	st, err := s.store(in.b)
	if err != nil {
		return err
	}
	return s.selectSeries(stream.Context(), st, r, stream)
}

// selectSeries streams the series of r as ChunkedReadResponse messages of
// about selectBatchBytes each; the last one carries the warnings (field 14)
// and the blocks the store read (field 13).
func (s *storeServer) selectSeries(ctx context.Context, st StoreServer, r *selectRequest, stream grpc.ServerStream) error {
	q, err := st.ChunkQuerier(r.tenant, r.mint, r.maxt)
	if err != nil {
		return statusError(err, PushResult{})
	}
	defer q.Close()
	ctx, report := WithBlockReport(ctx)
	set := q.Select(ctx, r.sort, r.hints, r.matchers...)
	var (
		out = newOutMsg()
		it  chunks.Iterator
		n   int
	)
	if r.hints != nil && r.hints.ShardCount > 0 {
		// Every store behind this server selects shards (the ingester's
		// TSDB and the store-gateway's blocks): say so before any series,
		// so the client need not filter them.
		*out.b = protocodec.AppendBoolField(*out.b, fieldSelectSharded, true)
	}
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
	*out.b = s.appendBlocks(*out.b, fieldSelectQueriedBlocks, 14, report.Blocks())
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
