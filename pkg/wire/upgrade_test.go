package wire_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-io/weft/pkg/protocodec"
	"github.com/weft-io/weft/pkg/wire"
)

// These tests show that a rolling upgrade from the builds that served the
// one service weft.Ingester works both ways: the new clients fall back to
// the old method names against an old server, and a new server still
// answers the old names.

// blockStore is a store-gateway for the tests: the store's series, and
// every read reports having read the blocks ids.
type blockStore struct {
	*store
	ids []ulid.ULID
}

func (s blockStore) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	q, err := s.store.Querier(tenant, mint, maxt)
	return reportingQuerier{q, s.ids}, err
}

func (s blockStore) ChunkQuerier(tenant string, mint, maxt int64) (storage.ChunkQuerier, error) {
	q, err := s.store.ChunkQuerier(tenant, mint, maxt)
	return reportingChunkQuerier{q, s.ids}, err
}

type reportingQuerier struct {
	storage.Querier
	ids []ulid.ULID
}

func (q reportingQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	wire.BlockReportFrom(ctx).Add(q.ids...)
	return q.Querier.Select(ctx, sortSeries, hints, ms...)
}

func (q reportingQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	wire.BlockReportFrom(ctx).Add(q.ids...)
	return q.Querier.LabelNames(ctx, hints, ms...)
}

type reportingChunkQuerier struct {
	storage.ChunkQuerier
	ids []ulid.ULID
}

func (q reportingChunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.ChunkSeriesSet {
	wire.BlockReportFrom(ctx).Add(q.ids...)
	return q.ChunkQuerier.Select(ctx, sortSeries, hints, ms...)
}

// methods records the methods a client calls.
type methods struct {
	mu    sync.Mutex
	calls []string
}

func (m *methods) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.calls
	m.calls = nil
	return out
}

func (m *methods) add(method string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, method)
}

func (m *methods) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			m.add(method)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			m.add(method)
			return streamer(ctx, desc, cc, method, opts...)
		}),
	}
}

// listen serves what register registers on a loopback port and returns a
// connection to it.
func listen(t *testing.T, register func(*grpc.Server), copts ...grpc.DialOption) *grpc.ClientConn {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	register(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), append(copts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, conn.Close())
		srv.Stop()
		<-done
	})
	return conn
}

var everything = labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")

// An old ingester serves only weft.Ingester: the new clients push, select
// and read labels and metadata through it, probing the new names once per
// connection.
func TestNewClientsFallBackToAnOldIngester(t *testing.T) {
	st := newStore(t)
	var m methods
	conn := listen(t, func(s *grpc.Server) {
		wire.RegisterLegacyIngesterServer(s, st, wire.Stores{wire.StoreIngester: st})
	}, m.dialOptions()...)
	c := wire.NewIngesterClient(conn)

	fill(t, c, "a", 10, 5)
	require.Equal(t, []string{"/weft.Writer/Push", "/weft.Ingester/Push"}, m.take())
	fill(t, c, "b", 10, 5)
	require.Equal(t, []string{"/weft.Ingester/Push"}, m.take(), "the fallback is remembered")

	q, err := c.Querier("a", 0, 1<<40)
	require.NoError(t, err)
	got := collect(t, q.Select(context.Background(), true, nil, everything))
	require.Len(t, got, 10)
	require.Equal(t, direct(t, st.db(t, "a"), 0, 1<<40, nil, everything), got)
	require.Equal(t, []string{"/weft.Store/Select", "/weft.Ingester/Select"}, m.take())
	names, _, err := q.LabelNames(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", "instance", "job"}, names)
	require.Equal(t, []string{"/weft.Ingester/LabelNames"}, m.take())
	require.NoError(t, q.Close())

	// A new client's first call may be a label call: the unary probe.
	c2 := wire.NewStoreClient(conn, wire.StoreIngester)
	q, err = c2.Querier("a", 0, 1<<40)
	require.NoError(t, err)
	vals, _, err := q.LabelValues(context.Background(), "job", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"job0", "job1", "job2", "job3"}, vals)
	require.Equal(t, []string{"/weft.Store/LabelValues", "/weft.Ingester/LabelValues"}, m.take())
	require.NoError(t, q.Close())
	md, err := c2.Metadata(context.Background(), "a", "", 0)
	require.NoError(t, err)
	require.Empty(t, md)
	require.Equal(t, []string{"/weft.Ingester/Metadata"}, m.take())
}

// An old store-gateway reports the blocks it read as a warning; the new
// client turns it into the typed report and hides it from the warnings.
func TestNewQuerierReadsTheBlocksOfAnOldStoreGateway(t *testing.T) {
	st := newStore(t)
	fill(t, st, "a", 3, 5)
	ids := []ulid.ULID{ulid.MustParse("01J0000000000000000000000A"), ulid.MustParse("01J0000000000000000000000B")}
	conn := listen(t, func(s *grpc.Server) {
		wire.RegisterLegacyIngesterServer(s, nil, wire.Stores{wire.StoreGateway: blockStore{st, ids}})
	})
	c := wire.NewStoreClient(conn, wire.StoreGateway)
	q, err := c.Querier("a", 0, 1<<40)
	require.NoError(t, err)
	defer q.Close()

	ctx, report := wire.WithBlockReport(context.Background())
	ss := q.Select(ctx, true, nil, everything)
	require.Len(t, collect(t, ss), 3)
	require.Empty(t, ss.Warnings())
	require.Equal(t, ids, report.Blocks())

	ctx, report = wire.WithBlockReport(context.Background())
	_, warns, err := q.LabelNames(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, warns)
	require.Equal(t, ids, report.Blocks())
}

// rawCodec sends and receives bytes as they are, under the codec name of
// weft's messages: an old client, encoding by hand.
type rawCodec struct{}

func (rawCodec) Name() string { return "weft" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// fieldsOf returns the bytes fields num of message b.
func fieldsOf(t *testing.T, b []byte, num protowire.Number) []string {
	var out []string
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		require.GreaterOrEqual(t, l, 0)
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, typ, b)
		require.GreaterOrEqual(t, l, 0)
		if n == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			out = append(out, string(v))
		}
		b = b[l:]
	}
	return out
}

func withTenant(b []byte, tenant string) []byte {
	b = protocodec.AppendTag(b, 15, protowire.BytesType)
	return protocodec.AppendString(b, tenant)
}

// oldSelect selects every series of tenant as an old querier did: the
// old method name, remote read's Query with the tenant in field 15, and
// ChunkedReadResponse messages back. It returns the series and the
// warnings of the stream (field 14).
func oldSelect(t *testing.T, conn *grpc.ClientConn, tenant string) ([]prompb.ChunkedSeries, []string) {
	query := prompb.Query{
		StartTimestampMs: 0,
		EndTimestampMs:   1 << 40,
		Matchers:         []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_RE, Name: "__name__", Value: ".+"}},
	}
	req, err := query.Marshal()
	require.NoError(t, err)
	req = withTenant(req, tenant)
	stream, err := conn.NewStream(context.Background(), &grpc.StreamDesc{ServerStreams: true}, "/weft.Ingester/Select", grpc.ForceCodecV2(rawCodec{}))
	require.NoError(t, err)
	require.NoError(t, stream.SendMsg(&req))
	require.NoError(t, stream.CloseSend())
	var (
		series []prompb.ChunkedSeries
		warns  []string
	)
	for {
		var msg []byte
		err := stream.RecvMsg(&msg)
		if err == io.EOF {
			return series, warns
		}
		require.NoError(t, err)
		var resp prompb.ChunkedReadResponse
		require.NoError(t, resp.Unmarshal(msg))
		for _, s := range resp.ChunkedSeries {
			series = append(series, *s)
		}
		warns = append(warns, fieldsOf(t, msg, 14)...)
	}
}

// Old clients call weft.Ingester on a new server: an old distributor
// pushes to a new ingester, an old querier selects from it and reads the
// blocks of a new store-gateway from the warning it expects.
func TestOldClientsWorkAgainstANewServer(t *testing.T) {
	st := newStore(t)
	conn := listen(t, func(s *grpc.Server) { wire.RegisterIngesterServer(s, st) })
	wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "x"}},
		Samples: []prompb.Sample{{Timestamp: 1000, Value: 1}, {Timestamp: 2000, Value: 2}},
	}}}
	req, err := wr.Marshal()
	require.NoError(t, err)
	req = withTenant(req, "a")
	var resp []byte
	require.NoError(t, conn.Invoke(context.Background(), "/weft.Ingester/Push", &req, &resp, grpc.ForceCodecV2(rawCodec{})))
	n, typ, l := protowire.ConsumeTag(resp)
	require.Equal(t, protowire.Number(1), n, "PushResponse.samples")
	require.Equal(t, protowire.VarintType, typ)
	samples, _ := protowire.ConsumeVarint(resp[l:])
	require.Equal(t, uint64(2), samples)

	series, warns := oldSelect(t, conn, "a")
	require.Len(t, series, 1)
	require.Equal(t, []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "x"}}, series[0].Labels)
	require.Empty(t, warns)

	// A new store-gateway reports its blocks to an old querier as the
	// warning that querier's block check reads.
	ids := []ulid.ULID{ulid.MustParse("01J0000000000000000000000A"), ulid.MustParse("01J0000000000000000000000B")}
	sgConn := listen(t, func(s *grpc.Server) {
		wire.Register(s, nil, wire.Stores{wire.StoreGateway: blockStore{st, ids}})
	})
	series, warns = oldSelect(t, sgConn, "a")
	require.Len(t, series, 1)
	want := "weft-store-gateway-queried-blocks: " + ids[0].String() + "," + ids[1].String()
	require.Equal(t, []string{want}, warns)

	req = withTenant(protocodec.AppendVarint(protocodec.AppendTag(nil, 2, protowire.VarintType), 1<<40), "a")
	require.NoError(t, sgConn.Invoke(context.Background(), "/weft.Ingester/LabelNames", &req, &resp, grpc.ForceCodecV2(rawCodec{})))
	require.Equal(t, []string{"__name__", "job"}, fieldsOf(t, resp, 1))
	require.Equal(t, []string{want}, fieldsOf(t, resp, 2))
	require.Empty(t, fieldsOf(t, resp, 3), "the typed field is for new clients")
}

// One server serves an ingester and a store-gateway (one process runs
// both): each client reads the store it names.
func TestStoresShareOneServer(t *testing.T) {
	ing, blocks := newStore(t), newStore(t)
	fill(t, ing, "a", 2, 5)
	fill(t, blocks, "a", 7, 5)
	ids := []ulid.ULID{ulid.MustParse("01J0000000000000000000000A")}
	conn := listen(t, func(s *grpc.Server) {
		wire.Register(s, ing, wire.Stores{wire.StoreIngester: ing, wire.StoreGateway: blockStore{blocks, ids}})
	})
	read := func(c *wire.StoreClient) (int, []ulid.ULID, error) {
		q, err := c.Querier("a", 0, 1<<40)
		require.NoError(t, err)
		defer q.Close()
		ctx, report := wire.WithBlockReport(context.Background())
		ss := q.Select(ctx, true, nil, everything)
		n := 0
		for ss.Next() {
			n++
		}
		return n, report.Blocks(), ss.Err()
	}
	n, got, err := read(wire.NewStoreClient(conn, wire.StoreIngester))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Empty(t, got)
	n, got, err = read(wire.NewStoreClient(conn, wire.StoreGateway))
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.Equal(t, ids, got)
	_, _, err = read(wire.NewStoreClient(conn, ""))
	require.ErrorContains(t, err, `cannot serve a read of store "": this process serves ingester, store-gateway`)
	_, err = wire.NewWriteClient(conn).Push(context.Background(), "a", &wire.PushRequest{})
	require.NoError(t, err)
}

// A client that fell back to weft.Ingester probes again once the server
// stops answering it (here: a build that serves only the new services).
func TestClientProbesAgainWhenThePeerChanges(t *testing.T) {
	st := newStore(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	serveOn := func(lis net.Listener, register func(*grpc.Server)) func() {
		srv := grpc.NewServer()
		register(srv)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(lis)
		}()
		return func() { srv.Stop(); <-done }
	}
	stop := serveOn(lis, func(s *grpc.Server) { wire.RegisterLegacyIngesterServer(s, st, wire.Stores{wire.StoreIngester: st}) })
	var m methods
	conn, err := grpc.NewClient(addr, append(m.dialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	require.NoError(t, err)
	defer conn.Close()
	c := wire.NewWriteClient(conn)
	_, err = c.Push(context.Background(), "a", &wire.PushRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"/weft.Writer/Push", "/weft.Ingester/Push"}, m.take())
	stop()

	lis, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	stop = serveOn(lis, func(s *grpc.Server) {
		wire.RegisterWriteServer(s, st)
		wire.RegisterStoreServer(s, wire.Stores{wire.StoreIngester: st})
	})
	defer stop()
	require.Eventually(t, func() bool {
		_, err := c.Push(context.Background(), "a", &wire.PushRequest{})
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	calls := m.take()
	require.Equal(t, "/weft.Ingester/Push", calls[0], "the client keeps the old name until it fails")
	require.Equal(t, "/weft.Writer/Push", calls[len(calls)-1])
	_, err = c.Push(context.Background(), "a", &wire.PushRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"/weft.Writer/Push"}, m.take())
}
