package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"unsafe"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"google.golang.org/grpc"

	"github.com/weft-io/weft/pkg/protocodec"
)

// rpc is one client's side of a connection: the call options and which
// method names the server answers (fallback).
type rpc struct {
	conn *grpc.ClientConn
	opts []grpc.CallOption
	fb   fallback
}

func newRPC(conn *grpc.ClientConn) rpc {
	return rpc{conn: conn, opts: []grpc.CallOption{grpc.ForceCodecV2(codec{})}}
}

// call runs a unary method with an encoded request and returns the encoded
// answer, which belongs to the caller, and whether the deprecated method
// legacy answered it (see fallback). Until the client knows which names the
// server answers, it keeps a copy of the request to send again under the
// legacy name.
func (c *rpc) call(ctx context.Context, method, legacy string, req *outMsg) ([]byte, bool, PushResult, error) {
	state := c.fb.state.Load()
	if state != probing {
		m := method
		if state == callLegacy {
			m = legacy
		}
		b, err := c.invoke(ctx, m, req)
		if isUnimplemented(err) {
			c.fb.state.CompareAndSwap(state, probing)
		}
		partial, err := c.rpcError(ctx, err)
		return b, state == callLegacy, partial, err
	}
	spare := newOutMsg()
	*spare.b = append(*spare.b, *req.b...)
	b, err := c.invoke(ctx, method, req)
	if !isUnimplemented(err) {
		bufPool.Put(spare.b)
		if err == nil {
			c.fb.state.CompareAndSwap(probing, callNew)
		}
		partial, err := c.rpcError(ctx, err)
		return b, false, partial, err
	}
	b, err = c.invoke(ctx, legacy, spare)
	if err == nil {
		c.fb.state.CompareAndSwap(probing, callLegacy)
	}
	partial, err := c.rpcError(ctx, err)
	return b, true, partial, err
}

func (c *rpc) invoke(ctx context.Context, method string, req *outMsg) ([]byte, error) {
	var resp inMsg
	if err := c.conn.Invoke(ctx, method, req, &resp, c.opts...); err != nil {
		return nil, err
	}
	return resp.b, nil
}

func (c *rpc) rpcError(ctx context.Context, err error) (PushResult, error) {
	if err == nil {
		return PushResult{}, nil
	}
	return rpcError(ctx, c.conn.Target(), err)
}

// WriteClient is a remote ingester behind the Pusher interface: it calls
// the weft.Writer service over conn, or the deprecated weft.Ingester of a
// server that answers weft.Writer Unimplemented (an older build). It is
// safe for concurrent use; closing conn is the caller's business.
type WriteClient struct{ rpc }

var _ Pusher = (*WriteClient)(nil)

// NewWriteClient returns a client of the weft.Writer service on conn.
func NewWriteClient(conn *grpc.ClientConn) *WriteClient {
	return &WriteClient{newRPC(conn)}
}

// Push implements Pusher. A classified error of the ingester comes back as
// the same *Error (or an error with the ingester's text wrapping it),
// together with the part of the push that was stored.
func (c *WriteClient) Push(ctx context.Context, tenant string, req *PushRequest) (PushResult, error) {
	out := newOutMsg()
	*out.b = appendPushRequest(*out.b, tenant, req)
	return c.push(ctx, out)
}

// push sends an encoded push request and decodes the answer.
func (c *WriteClient) push(ctx context.Context, out *outMsg) (PushResult, error) {
	b, _, partial, err := c.call(ctx, methodPush, legacyMethodPush, out)
	if err != nil {
		return partial, err
	}
	res, err := decodePushResult(b)
	if err != nil {
		return res, fmt.Errorf("cannot decode push response of ingester %s: %w", c.conn.Target(), err)
	}
	return res, nil
}

// PushEncoded is Push with the series and metadata already encoded by
// AppendSeriesMessage and AppendMetadataMessage, concatenated in parts;
// parts are only read during the call.
func (c *WriteClient) PushEncoded(ctx context.Context, tenant string, parts ...[]byte) (PushResult, error) {
	out := newOutMsg()
	*out.b = protocodec.AppendStringField(*out.b, fieldTenant, tenant)
	for _, p := range parts {
		*out.b = append(*out.b, p...)
	}
	return c.push(ctx, out)
}

// StoreClient is a remote store (an ingester or a store-gateway) behind
// the Reader and ChunkReader interfaces of a local one: it calls the
// weft.Store service over conn, asking for the store named store (a
// process may serve two), or the deprecated weft.Ingester of a server that
// answers weft.Store Unimplemented (an older build). The blocks that a
// store-gateway reports having read go to the BlockReport of the call's
// context. It is safe for concurrent use; closing conn is the caller's
// business.
type StoreClient struct {
	rpc
	store string
}

var _ StoreServer = (*StoreClient)(nil)

// NewStoreClient returns a client of the store named store (StoreIngester,
// StoreGateway) of the weft.Store service on conn.
func NewStoreClient(conn *grpc.ClientConn, store string) *StoreClient {
	return &StoreClient{rpc: newRPC(conn), store: store}
}

// IngesterClient is a remote ingester behind the interfaces of a local
// one: a WriteClient and a StoreClient of the store StoreIngester over the
// same connection.
type IngesterClient struct {
	*WriteClient
	*StoreClient
}

var _ IngesterServer = (*IngesterClient)(nil)

// NewIngesterClient returns a client of the ingester served on conn.
func NewIngesterClient(conn *grpc.ClientConn) *IngesterClient {
	return &IngesterClient{NewWriteClient(conn), NewStoreClient(conn, StoreIngester)}
}

var selectStreamDesc = grpc.StreamDesc{StreamName: "Select", ServerStreams: true}

// Querier implements Reader: Select streams the series' chunks and decodes
// them into samples as they are iterated.
func (c *StoreClient) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	return &querier{chunkQuerier{c: c, tenant: tenant, mint: mint, maxt: maxt}}, nil
}

// ChunkQuerier implements ChunkReader: Select streams the series' chunks
// without decoding them.
func (c *StoreClient) ChunkQuerier(tenant string, mint, maxt int64) (storage.ChunkQuerier, error) {
	return &chunkQuerier{c: c, tenant: tenant, mint: mint, maxt: maxt}, nil
}

// ExemplarQuerier implements Reader; its Select runs under ctx.
func (c *StoreClient) ExemplarQuerier(ctx context.Context, tenant string) (storage.ExemplarQuerier, error) {
	return &exemplarQuerier{ctx: ctx, c: c, tenant: tenant}, nil
}

// Metadata implements Reader.
func (c *StoreClient) Metadata(ctx context.Context, tenant, metric string, limit int) ([]Metadata, error) {
	out := newOutMsg()
	*out.b = appendStoreName(appendMetadataRequest(*out.b, tenant, metric, limit), c.store)
	b, _, _, err := c.call(ctx, methodMetadata, legacyMethodMetadata, out)
	if err != nil {
		return nil, err
	}
	var (
		md []Metadata
		f  protocodec.Field
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, fmt.Errorf("cannot decode metadata response: %w", err)
		}
		if f.Num != 1 || !f.IsBytes() {
			continue
		}
		var m Metadata
		if err := decodeMetadata(f.B, &m); err != nil {
			return nil, fmt.Errorf("cannot decode metadata response: %w", err)
		}
		md = append(md, m)
	}
	return md, nil
}

// HeldBlocks implements BlockHolder: the blocks the remote ingester holds
// for tenant. A server of an older build answers Unimplemented, an error:
// the caller then counts nothing as held. It has no legacy name, so it
// calls the new name whatever the fallback state.
func (c *StoreClient) HeldBlocks(ctx context.Context, tenant string) ([]ulid.ULID, error) {
	out := newOutMsg()
	*out.b = appendStoreName(appendHeldBlocksRequest(*out.b, tenant), c.store)
	b, err := c.invoke(ctx, methodHeldBlocks, out)
	if _, err := c.rpcError(ctx, err); err != nil {
		return nil, err
	}
	var (
		ids []ulid.ULID
		f   protocodec.Field
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, fmt.Errorf("cannot decode held blocks response: %w", err)
		}
		if f.Num != 1 || !f.IsBytes() {
			continue
		}
		id, err := decodeQueriedBlock(f.B)
		if err != nil {
			return nil, fmt.Errorf("cannot decode held blocks response: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

type exemplarQuerier struct {
	ctx    context.Context
	c      *StoreClient
	tenant string
}

func (q *exemplarQuerier) Select(start, end int64, matchers ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	out := newOutMsg()
	*out.b = appendStoreName(appendExemplarsRequest(*out.b, &exemplarsRequest{tenant: q.tenant, start: start, end: end, matchers: matchers}), q.c.store)
	b, _, _, err := q.c.call(q.ctx, methodExemplars, legacyMethodExemplars, out)
	if err != nil {
		return nil, err
	}
	res, err := decodeExemplarResults(b)
	if err != nil {
		return nil, fmt.Errorf("cannot decode exemplars response: %w", err)
	}
	return res, nil
}

func decodeExemplarResults(b []byte) ([]exemplar.QueryResult, error) {
	var (
		res []exemplar.QueryResult
		f   protocodec.Field
		err error
		sb  = labels.NewScratchBuilder(16)
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, err
		}
		if f.Num != 1 || !f.IsBytes() {
			continue
		}
		var (
			r exemplar.QueryResult
			g protocodec.Field
		)
		sb.Reset()
		for m := f.B; len(m) > 0; {
			if m, err = protocodec.NextField(m, &g); err != nil {
				return nil, err
			}
			switch {
			case g.Num == 1 && g.IsBytes():
				if err := protocodec.AddLabel(&sb, g.B); err != nil {
					return nil, err
				}
			case g.Num == 2 && g.IsBytes():
				e, err := decodeQueriedExemplar(g.B)
				if err != nil {
					return nil, err
				}
				r.Exemplars = append(r.Exemplars, e)
			}
		}
		r.SeriesLabels = sb.Labels()
		res = append(res, r)
	}
	return res, nil
}

func decodeQueriedExemplar(b []byte) (exemplar.Exemplar, error) {
	var (
		e   exemplar.Exemplar
		f   protocodec.Field
		err error
		sb  = labels.NewScratchBuilder(2)
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return e, err
		}
		switch f.Num {
		case 1:
			if err := protocodec.AddLabel(&sb, f.B); err != nil {
				return e, err
			}
		case 2:
			e.Value = f.Float()
		case 3:
			e.Ts = f.Int64()
		case 4:
			e.HasTs = f.U != 0
		}
	}
	e.Labels = sb.Labels()
	return e, nil
}

// chunkQuerier is a storage.ChunkQuerier over one tenant's series of a
// remote store. Close cancels the streams of its selects that are still
// open.
type chunkQuerier struct {
	c          *StoreClient
	tenant     string
	mint, maxt int64

	mu      sync.Mutex
	cancels []context.CancelFunc
	closed  bool
}

func (q *chunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.ChunkSeriesSet {
	return q.selectRange(ctx, sortSeries, hints, q.mint, q.maxt, matchers)
}

// selectRange opens a Select stream whose series' samples are those of
// [mint, maxt] when iterated by sample.
func (q *chunkQuerier) selectRange(ctx context.Context, sortSeries bool, hints *storage.SelectHints, mint, maxt int64, matchers []*labels.Matcher) storage.ChunkSeriesSet {
	ctx, cancel := context.WithCancel(ctx)
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		cancel()
		return storage.ErrChunkSeriesSet(errors.New("cannot select: the querier is closed"))
	}
	q.cancels = append(q.cancels, cancel)
	q.mu.Unlock()

	set := &streamSeriesSet{
		ctx:    ctx,
		c:      q.c,
		req:    &selectRequest{tenant: q.tenant, mint: q.mint, maxt: q.maxt, matchers: matchers, hints: hints, sort: sortSeries},
		cancel: cancel,
		report: BlockReportFrom(ctx),
		fetch:  FetchStatsFrom(ctx),
		legacy: q.c.fb.state.Load() == callLegacy,
		mint:   mint,
		maxt:   maxt,
	}
	if err := set.open(); err != nil {
		// Classify before canceling (see Next).
		_, err = q.c.rpcError(ctx, err)
		cancel()
		return storage.ErrChunkSeriesSet(err)
	}
	return set
}

func (q *chunkQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.labels(ctx, methodLabelValues, legacyMethodLabelValues, name, hints, matchers)
}

func (q *chunkQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.labels(ctx, methodLabelNames, legacyMethodLabelNames, "", hints, matchers)
}

func (q *chunkQuerier) labels(ctx context.Context, method, legacyMethod, name string, hints *storage.LabelHints, matchers []*labels.Matcher) ([]string, annotations.Annotations, error) {
	out := newOutMsg()
	*out.b = appendStoreName(appendLabelsRequest(*out.b, &labelsRequest{tenant: q.tenant, mint: q.mint, maxt: q.maxt, matchers: matchers, name: name, hints: hints}), q.c.store)
	b, legacy, _, err := q.c.call(ctx, method, legacyMethod, out)
	if err != nil {
		return nil, nil, err
	}
	var (
		values []string
		warns  annotations.Annotations
		f      protocodec.Field
		report = BlockReportFrom(ctx)
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return nil, nil, fmt.Errorf("cannot decode label response: %w", err)
		}
		switch {
		case f.Num == 1 && f.IsBytes():
			// b is this call's own buffer, never written again: the
			// strings may point into it.
			values = append(values, unsafe.String(unsafe.SliceData(f.B), len(f.B)))
		case f.Num == 2 && f.IsBytes():
			if ids, ok := parseLegacyBlocksWarning(string(f.B)); ok && legacy {
				report.Add(ids...)
				continue
			}
			warns.Add(errors.New(string(f.B)))
		case f.Num == fieldLabelsQueriedBlocks && f.IsBytes():
			id, err := decodeQueriedBlock(f.B)
			if err != nil {
				return nil, nil, fmt.Errorf("cannot decode label response: %w", err)
			}
			report.Add(id)
		}
	}
	return values, warns, nil
}

func (q *chunkQuerier) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, cancel := range q.cancels {
		cancel()
	}
	q.cancels, q.closed = nil, true
	return nil
}

// querier is a chunkQuerier whose series decode their chunks into samples.
type querier struct{ chunkQuerier }

// Select asks the store for whole chunks (SelectHints.DisableTrimming) and
// skips the samples outside the range as the series are iterated, as
// Prometheus' remote-read client does: a store trims a chunk that the
// range cuts by re-encoding it, and the re-encoded chunk's first histogram
// loses its counter-reset hint. The range is the one the store's TSDB
// trims to: the hints' when there are hints, else the querier's.
func (q *querier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	h := storage.SelectHints{Start: q.mint, End: q.maxt}
	if hints != nil {
		h = *hints
	}
	h.DisableTrimming = true
	set := q.selectRange(ctx, sortSeries, &h, h.Start, h.End, matchers)
	if ss, ok := set.(*streamSeriesSet); ok {
		return sampleSeriesSet{ss}
	}
	return storage.NewSeriesSetFromChunkSeriesSet(set) // an error
}

// sampleSeriesSet serves the series of a stream as sample series. Unlike
// storage.NewSeriesSetFromChunkSeriesSet it keeps a series without chunks
// in the range (an empty series, as the TSDB's own Querier answers), reads
// chunks that do not overlap one after the other without a merge, and
// leaves out the samples outside the range.
type sampleSeriesSet struct{ *streamSeriesSet }

func (s sampleSeriesSet) At() storage.Series { return (*sampleSeries)(s.cur) }

// sampleSeries is a chunkSeries iterated by sample.
type sampleSeries chunkSeries

func (s *sampleSeries) Labels() labels.Labels { return s.lset }

func (s *sampleSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if len(s.chks) == 0 {
		return chunkenc.NewNopIterator()
	}
	ri, ok := it.(*rangeIterator)
	if !ok {
		ri = &rangeIterator{}
	}
	ri.reset(s.chks, s.mint, s.maxt)
	return ri
}

// streamSeriesSet decodes the series of a Select stream one message at a
// time. Each message is received into a buffer of its own that its series'
// chunks point into, so a series stays usable after Next. The blocks the
// store reports go to report.
type streamSeriesSet struct {
	ctx      context.Context
	c        *StoreClient
	req      *selectRequest
	stream   grpc.ClientStream
	cancel   context.CancelFunc
	report   *BlockReport
	legacy   bool // the stream calls the deprecated weft.Ingester/Select
	received bool // a message or the end of the stream came
	retried  bool // the stream was opened again under the other name
	sharded  bool // the server selected the requested shard itself

	// mint, maxt is the range of the series' samples (sampleSeries);
	// their chunks may reach beyond it.
	mint, maxt int64

	// fetch counts the bytes of the chunks received; nil counts nothing.
	fetch *FetchStats

	rest   []byte // the undecoded rest of the current message
	sb     labels.ScratchBuilder
	metas  []chunks.Meta // slab the series' chunk lists are cut from
	series []chunkSeries // slab of decoded series
	cur    *chunkSeries
	warns  annotations.Annotations
	err    error
	done   bool
}

// open sends the request on a new stream, under the name s.legacy says.
func (s *streamSeriesSet) open() error {
	method := methodSelect
	if s.legacy {
		method = legacyMethodSelect
	}
	stream, err := s.c.conn.NewStream(s.ctx, &selectStreamDesc, method, s.c.opts...)
	if err != nil {
		return err
	}
	out := newOutMsg()
	*out.b = appendStoreName(appendSelectRequest(*out.b, s.req), s.c.store)
	if err := stream.SendMsg(out); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	s.stream = stream
	return nil
}

// recv receives the next message of the stream. A server that answers
// the stream's method Unimplemented before any message is asked once
// under the other name (see fallback); the name that answers is kept for
// the client's next selects.
func (s *streamSeriesSet) recv(in *inMsg) error {
	for {
		err := s.stream.RecvMsg(in)
		if !s.received && isUnimplemented(err) && !s.retried {
			s.retried, s.legacy = true, !s.legacy
			if err := s.open(); err != nil {
				return err
			}
			continue
		}
		if !s.received && (err == nil || err == io.EOF) {
			s.received = true
			if s.legacy {
				s.c.fb.state.Store(callLegacy)
			} else {
				s.c.fb.state.Store(callNew)
			}
		}
		return err
	}
}

func (s *streamSeriesSet) Next() bool {
	for s.err == nil {
		if len(s.rest) == 0 {
			if s.done {
				return false
			}
			var in inMsg
			if err := s.recv(&in); err != nil {
				s.done = true
				// Classify before canceling: rpcError reports a canceled
				// context as the cause, which would hide the stream's own
				// (a refused TLS handshake, an unreachable ingester).
				if err != io.EOF {
					_, s.err = s.c.rpcError(s.ctx, err)
				}
				s.cancel()
				return false
			}
			s.rest = in.b
			continue
		}
		var (
			f   protocodec.Field
			err error
		)
		if s.rest, err = protocodec.NextField(s.rest, &f); err != nil {
			s.fail(err)
			return false
		}
		switch {
		case f.Num == 1 && f.IsBytes():
			if err := s.decodeSeries(f.B); err != nil {
				s.fail(err)
				return false
			}
			if !s.inShard(s.cur.lset) {
				continue
			}
			return true
		case f.Num == fieldSelectSharded && f.IsVarint():
			s.sharded = f.U != 0
		case f.Num == 14 && f.IsBytes():
			if ids, ok := parseLegacyBlocksWarning(string(f.B)); ok && s.legacy {
				s.report.Add(ids...)
				continue
			}
			s.warns.Add(errors.New(string(f.B)))
		case f.Num == fieldSelectQueriedBlocks && f.IsBytes():
			id, err := decodeQueriedBlock(f.B)
			if err != nil {
				s.fail(err)
				return false
			}
			s.report.Add(id)
		}
	}
	return false
}

// inShard says whether a series belongs to the shard the request asked
// for. A server that selected the shard says so first in the stream; one
// of an older build answers every series, and the client keeps those of
// the shard by the TSDB's own hash of the label set.
func (s *streamSeriesSet) inShard(ls labels.Labels) bool {
	h := s.req.hints
	if s.sharded || h == nil || h.ShardCount == 0 {
		return true
	}
	return labels.StableHash(ls)%h.ShardCount == h.ShardIndex
}

func (s *streamSeriesSet) fail(err error) {
	s.err = fmt.Errorf("cannot decode series from %s: %w", s.c.conn.Target(), err)
	s.cancel()
}

func (s *streamSeriesSet) decodeSeries(b []byte) error {
	if len(s.series) == cap(s.series) {
		s.series = make([]chunkSeries, 0, 256)
	}
	s.series = s.series[:len(s.series)+1]
	cs := &s.series[len(s.series)-1]
	first := len(s.metas)
	s.sb.Reset()
	var (
		f   protocodec.Field
		err error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return err
		}
		switch {
		case f.Num == 1 && f.IsBytes():
			if err := protocodec.AddLabel(&s.sb, f.B); err != nil {
				return err
			}
		case f.Num == 2 && f.IsBytes():
			meta, err := decodeChunk(f.B)
			if err != nil {
				return err
			}
			if err := s.fetch.AddChunkBytes(len(meta.Chunk.Bytes())); err != nil {
				return err
			}
			if len(s.metas) == cap(s.metas) {
				// Start a new slab, moving this series' chunks over.
				metas := make([]chunks.Meta, 0, max(1024, 2*(len(s.metas)-first)))
				s.metas = append(metas, s.metas[first:]...)
				first = 0
			}
			s.metas = append(s.metas, meta)
		}
	}
	cs.lset = s.sb.Labels()
	cs.chks = s.metas[first:len(s.metas):len(s.metas)]
	cs.mint, cs.maxt = s.mint, s.maxt
	s.cur = cs
	return nil
}

func decodeChunk(b []byte) (chunks.Meta, error) {
	var (
		meta chunks.Meta
		enc  chunkenc.Encoding
		data []byte
		f    protocodec.Field
		err  error
	)
	for len(b) > 0 {
		if b, err = protocodec.NextField(b, &f); err != nil {
			return meta, err
		}
		switch f.Num {
		case 1:
			meta.MinTime = f.Int64()
		case 2:
			meta.MaxTime = f.Int64()
		case 3:
			enc = chunkenc.Encoding(f.U)
		case 4:
			data = f.B
		}
	}
	if len(data) < 2 {
		return meta, fmt.Errorf("chunk of %d bytes", len(data))
	}
	if meta.Chunk, err = chunkenc.FromData(enc, data); err != nil {
		return meta, err
	}
	return meta, nil
}

func (s *streamSeriesSet) At() storage.ChunkSeries { return s.cur }

func (s *streamSeriesSet) Err() error { return s.err }

func (s *streamSeriesSet) Warnings() annotations.Annotations { return s.warns }

// chunkSeries is a decoded series; its chunks point into the message it
// came in.
type chunkSeries struct {
	lset       labels.Labels
	chks       []chunks.Meta
	mint, maxt int64 // the samples that sampleSeries iterates
}

func (s *chunkSeries) Labels() labels.Labels { return s.lset }

func (s *chunkSeries) Iterator(it chunks.Iterator) chunks.Iterator {
	if mi, ok := it.(*metaIterator); ok {
		mi.chks, mi.i = s.chks, -1
		return mi
	}
	return &metaIterator{chks: s.chks, i: -1}
}

type metaIterator struct {
	chks []chunks.Meta
	i    int
}

func (it *metaIterator) At() chunks.Meta { return it.chks[it.i] }

func (it *metaIterator) Next() bool {
	if it.i+1 >= len(it.chks) {
		return false
	}
	it.i++
	return true
}

func (it *metaIterator) Err() error { return nil }
