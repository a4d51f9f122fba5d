package wire_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weft-io/weft/pkg/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// store is a small ingester for the tests: one real TSDB per tenant.
type store struct {
	dir string

	mu   sync.Mutex
	dbs  map[string]*tsdb.DB
	md   map[string][]wire.Metadata
	last *wire.PushRequest // a copy of the last push received

	// pushErr, when set, answers pushes instead of the TSDB.
	pushErr func(tenant string) (wire.PushResult, error)
	// wrapSet, when set, wraps the series sets that selects return.
	wrapSet func(ctx context.Context, set storage.ChunkSeriesSet) storage.ChunkSeriesSet
}

func newStore(t testing.TB) *store {
	s := &store{dir: t.TempDir(), dbs: map[string]*tsdb.DB{}, md: map[string][]wire.Metadata{}}
	t.Cleanup(func() {
		for _, db := range s.dbs {
			require.NoError(t, db.Close())
		}
	})
	return s
}

func (s *store) db(t testing.TB, tenant string) *tsdb.DB {
	db, err := s.open(tenant, true)
	require.NoError(t, err)
	return db
}

func (s *store) open(tenant string, create bool) (*tsdb.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if db, ok := s.dbs[tenant]; ok || !create {
		return db, nil
	}
	opts := tsdb.DefaultOptions()
	opts.EnableExemplarStorage = true
	opts.MaxExemplars = 10000
	// Start timestamps stored as the ingester stores them, so that chunks
	// with start timestamps cross the transport.
	opts.EnableSTStorage = true
	opts.FloatChunkEncoding = chunkenc.EncXOR2
	opts.EnableHistogramSTEncoding = true
	opts.EnableSharding = true // as the ingester's
	db, err := tsdb.Open(s.dir+"/"+tenant, nil, nil, opts, nil)
	if err != nil {
		return nil, err
	}
	s.dbs[tenant] = db
	return db, nil
}

func (s *store) Push(ctx context.Context, tenant string, req *wire.PushRequest) (wire.PushResult, error) {
	s.mu.Lock()
	s.last = copyRequest(req)
	s.mu.Unlock()
	if s.pushErr != nil {
		return s.pushErr(tenant)
	}
	db, err := s.open(tenant, true)
	if err != nil {
		return wire.PushResult{}, err
	}
	var res wire.PushResult
	app := db.AppenderV2(ctx)
	for _, ser := range req.Series {
		var ref storage.SeriesRef
		for _, smp := range ser.Samples {
			if ref, err = app.Append(ref, ser.Labels, smp.ST, smp.T, smp.V, nil, nil, storage.AOptions{}); err != nil {
				return res, err
			}
			res.Samples++
		}
		for _, h := range ser.Histograms {
			if ref, err = app.Append(ref, ser.Labels, h.ST, h.T, 0, h.H, h.FH, storage.AOptions{}); err != nil {
				return res, err
			}
			res.Histograms++
		}
		var ex []exemplar.Exemplar
		for _, e := range ser.Exemplars {
			ex = append(ex, exemplar.Exemplar{Labels: e.Labels, Value: e.V, Ts: e.T, HasTs: true})
		}
		if len(ex) > 0 {
			if _, err = app.(storage.ExemplarAppenderV2).AppendExemplars(ref, ser.Labels, ex); err != nil {
				return res, err
			}
			res.Exemplars += len(ex)
		}
	}
	if err := app.Commit(); err != nil {
		return wire.PushResult{}, err
	}
	s.mu.Lock()
	s.md[tenant] = append(s.md[tenant], req.Metadata...)
	s.mu.Unlock()
	return res, nil
}

func copyRequest(req *wire.PushRequest) *wire.PushRequest {
	c := &wire.PushRequest{Metadata: slices.Clone(req.Metadata)}
	for _, s := range req.Series {
		s.Samples = slices.Clone(s.Samples)
		s.Histograms = slices.Clone(s.Histograms)
		s.Exemplars = slices.Clone(s.Exemplars)
		c.Series = append(c.Series, s)
	}
	return c
}

func (s *store) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	db, err := s.open(tenant, false)
	if err != nil || db == nil {
		return storage.NoopQuerier(), err
	}
	return db.Querier(mint, maxt)
}

func (s *store) ChunkQuerier(tenant string, mint, maxt int64) (storage.ChunkQuerier, error) {
	db, err := s.open(tenant, false)
	if err != nil || db == nil {
		return storage.NoopChunkedQuerier(), err
	}
	q, err := db.ChunkQuerier(mint, maxt)
	if err != nil || s.wrapSet == nil {
		return q, err
	}
	return &wrappedChunkQuerier{ChunkQuerier: q, wrap: s.wrapSet}, nil
}

type wrappedChunkQuerier struct {
	storage.ChunkQuerier
	wrap func(ctx context.Context, set storage.ChunkSeriesSet) storage.ChunkSeriesSet
}

func (q *wrappedChunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.ChunkSeriesSet {
	return q.wrap(ctx, q.ChunkQuerier.Select(ctx, sortSeries, hints, ms...))
}

func (s *store) ExemplarQuerier(ctx context.Context, tenant string) (storage.ExemplarQuerier, error) {
	db, err := s.open(tenant, false)
	if err != nil {
		return nil, err
	}
	if db == nil {
		return noExemplars{}, nil
	}
	return db.ExemplarQuerier(ctx)
}

type noExemplars struct{}

func (noExemplars) Select(int64, int64, ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	return nil, nil
}

func (s *store) Metadata(_ context.Context, tenant, metric string, limit int) ([]wire.Metadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wire.Metadata
	for _, m := range s.md[tenant] {
		if (metric == "" || m.MetricFamily == metric) && (limit <= 0 || len(out) < limit) {
			out = append(out, m)
		}
	}
	return out, nil
}

// serve starts a gRPC server for impl on a loopback port and returns a
// client of it.
func serve(t testing.TB, impl wire.IngesterServer, sopts []grpc.ServerOption, copts ...grpc.DialOption) *wire.IngesterClient {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(sopts...)
	wire.RegisterIngesterServer(srv, impl)
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
	return wire.NewIngesterClient(conn)
}

func TestPushRoundTrip(t *testing.T) {
	st := newStore(t)
	c := serve(t, st, nil)
	ctx := context.Background()

	fh := tsdbutil.GenerateTestFloatHistogram(3)
	fh.CounterResetHint = histogram.GaugeType
	req := &wire.PushRequest{
		Series: []wire.Series{
			{
				Labels: labels.FromStrings("__name__", "up", "job", "node", "instance", "a:9100"),
				// A reset between the second and third sample; the
				// negative start timestamp must survive the varint too.
				Samples:   []wire.Sample{{T: 1000, V: 1, ST: 500}, {T: 2000, V: 0, ST: 500}, {T: 3000, V: -2.5, ST: 2500}},
				Exemplars: []wire.Exemplar{{Labels: labels.FromStrings("trace_id", "abc"), T: 2000, V: 0.5}},
			},
			{
				Labels:     labels.FromStrings("__name__", "latency", "job", "api"),
				Histograms: []wire.Histogram{{T: 1000, H: tsdbutil.GenerateTestHistogram(1), ST: -100}, {T: 2000, H: tsdbutil.GenerateTestHistogram(2)}},
			},
			{
				Labels:     labels.FromStrings("__name__", "queue", "job", "api"),
				Histograms: []wire.Histogram{{T: 1000, FH: fh, ST: 999}},
			},
			{
				Labels:     labels.FromStrings("__name__", "custom", "job", "api"),
				Histograms: []wire.Histogram{{T: 1000, H: tsdbutil.GenerateTestCustomBucketsHistogram(1)}},
			},
		},
		Metadata: []wire.Metadata{
			{MetricFamily: "up", Type: "gauge", Help: "Up.", Unit: ""},
			{MetricFamily: "latency", Type: "histogram", Help: "Latency.", Unit: "seconds"},
			{MetricFamily: "odd", Type: "something-new"},
		},
	}
	res, err := c.Push(ctx, "a", req)
	require.NoError(t, err)
	require.Equal(t, wire.PushResult{Samples: 3, Histograms: 4, Exemplars: 1}, res)
	require.Equal(t, req, st.last, "the server must decode exactly what was sent")

	// Read back through the transport: samples, metadata, exemplars.
	q, err := c.Querier("a", 0, 10000)
	require.NoError(t, err)
	got := collect(t, q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")))
	require.NoError(t, q.Close())
	require.Len(t, got, 4)
	require.Equal(t, direct(t, st.db(t, "a"), 0, 10000, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")), got)
	for _, s := range got {
		switch s.labels {
		case `{__name__="up", instance="a:9100", job="node"}`:
			require.Equal(t, []point{{T: 1000, ST: 500, V: 1}, {T: 2000, ST: 500, V: 0}, {T: 3000, ST: 2500, V: -2.5}}, s.points)
		case `{__name__="latency", job="api"}`:
			require.Len(t, s.points, 2)
			require.Equal(t, []int64{-100, 0}, []int64{s.points[0].ST, s.points[1].ST})
		case `{__name__="queue", job="api"}`:
			require.Len(t, s.points, 1)
			require.Equal(t, fh.Sum, s.points[0].FH.Sum)
			require.Equal(t, int64(999), s.points[0].ST)
		}
	}

	md, err := c.Metadata(ctx, "a", "", 0)
	require.NoError(t, err)
	require.Equal(t, req.Metadata, md)
	md, err = c.Metadata(ctx, "a", "latency", 1)
	require.NoError(t, err)
	require.Equal(t, req.Metadata[1:2], md)

	eq, err := c.ExemplarQuerier(ctx, "a")
	require.NoError(t, err)
	ex, err := eq.Select(0, 10000, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "up")})
	require.NoError(t, err)
	require.Equal(t, []exemplar.QueryResult{{
		SeriesLabels: req.Series[0].Labels,
		Exemplars:    []exemplar.Exemplar{{Labels: labels.FromStrings("trace_id", "abc"), Value: 0.5, Ts: 2000, HasTs: true}},
	}}, ex)
}

func TestErrorsKeepKindIDAndMessage(t *testing.T) {
	st := newStore(t)
	c := serve(t, st, nil)
	ctx := context.Background()
	req := &wire.PushRequest{Series: []wire.Series{{Labels: labels.FromStrings("__name__", "x"), Samples: []wire.Sample{{T: 1, V: 1}}}}}

	f := func(partial wire.PushResult, serverErr error, wantKind wire.ErrorKind, wantID, wantMsg string) {
		t.Helper()
		st.pushErr = func(string) (wire.PushResult, error) { return partial, serverErr }
		res, err := c.Push(ctx, "a", req)
		require.Error(t, err)
		require.Equal(t, partial, res)
		require.Equal(t, serverErr.Error(), err.Error())
		require.Equal(t, wantKind, wire.KindOf(err))
		var we *wire.Error
		require.True(t, errors.As(err, &we))
		require.Equal(t, wantID, we.ID)
		require.Equal(t, wantMsg, we.Msg)
	}
	f(wire.PushResult{}, wire.Errorf(wire.KindBadData, "err-weft-sample-too-old", "sample at %d is too old", 1),
		wire.KindBadData, "err-weft-sample-too-old", "sample at 1 is too old")
	f(wire.PushResult{Samples: 3, Exemplars: 1},
		fmt.Errorf("%w (and 2 more samples were rejected)", wire.Errorf(wire.KindBadData, "err-weft-sample-out-of-order", "out-of-order sample")),
		wire.KindBadData, "err-weft-sample-out-of-order", "out-of-order sample")
	f(wire.PushResult{}, wire.Errorf(wire.KindLimit, "err-weft-max-series-per-tenant", "too many series (raise max_series_per_tenant)"),
		wire.KindLimit, "err-weft-max-series-per-tenant", "too many series (raise max_series_per_tenant)")
	f(wire.PushResult{}, wire.Errorf(wire.KindUnavailable, "", "stopping"),
		wire.KindUnavailable, "", "stopping")
	f(wire.PushResult{}, errors.New("cannot commit: disk full"),
		wire.KindInternal, "", "cannot commit: disk full")
	st.pushErr = nil

	// A request without a tenant is refused.
	_, err := c.Push(ctx, "", req)
	require.Equal(t, wire.KindBadData, wire.KindOf(err))
	require.ErrorContains(t, err, "without a tenant")
	q, err := c.Querier("", 0, 10)
	require.NoError(t, err)
	ss := q.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "x"))
	require.False(t, ss.Next())
	require.Equal(t, wire.KindBadData, wire.KindOf(ss.Err()))
	_, _, err = q.LabelNames(ctx, nil)
	require.Equal(t, wire.KindBadData, wire.KindOf(err))

	// A bad regexp is bad data, found by the server.
	ss = q.Select(ctx, false, nil, &labels.Matcher{Type: labels.MatchRegexp, Name: "a", Value: "("})
	require.False(t, ss.Next())
	require.Equal(t, wire.KindBadData, wire.KindOf(ss.Err()))
	require.NoError(t, q.Close())
}

func TestServerStatusCodes(t *testing.T) {
	// The status code on the wire follows the kind, for gRPC-level tools.
	st := newStore(t)
	var codesSeen []codes.Code
	var mu sync.Mutex
	intercept := grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		mu.Lock()
		codesSeen = append(codesSeen, status.Code(err))
		mu.Unlock()
		return resp, err
	})
	c := serve(t, st, []grpc.ServerOption{intercept})
	req := &wire.PushRequest{Series: []wire.Series{{Labels: labels.FromStrings("__name__", "x"), Samples: []wire.Sample{{T: 1, V: 1}}}}}
	for _, k := range []wire.ErrorKind{wire.KindBadData, wire.KindLimit, wire.KindUnavailable, wire.KindInternal} {
		st.pushErr = func(string) (wire.PushResult, error) { return wire.PushResult{}, wire.Errorf(k, "", "x") }
		_, err := c.Push(context.Background(), "a", req)
		require.Equal(t, k, wire.KindOf(err))
	}
	st.pushErr = nil
	_, err := c.Push(context.Background(), "a", req)
	require.NoError(t, err)
	require.Equal(t, []codes.Code{codes.InvalidArgument, codes.ResourceExhausted, codes.Unavailable, codes.Internal, codes.OK}, codesSeen)
}

func TestUnreachableIngesterIsUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	c := wire.NewIngesterClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Push(ctx, "a", &wire.PushRequest{})
	require.Equal(t, wire.KindUnavailable, wire.KindOf(err), "%v", err)
}

// A Select from an unreachable ingester says so, rather than that its
// context was canceled (the client cancels the stream as it fails).
func TestUnreachableIngesterSelectIsUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	q, err := wire.NewIngesterClient(conn).Querier("a", 0, 1000)
	require.NoError(t, err)
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	set := q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "x"))
	require.False(t, set.Next())
	require.Equal(t, wire.KindUnavailable, wire.KindOf(set.Err()), "%v", set.Err())
	require.NotErrorIs(t, set.Err(), context.Canceled)
}

// ---- Select ----

type point struct {
	T  int64
	ST int64
	V  float64
	H  *histogram.Histogram
	FH *histogram.FloatHistogram
}

type series struct {
	labels string
	points []point
}

func collect(t testing.TB, ss storage.SeriesSet) []series {
	t.Helper()
	var out []series
	var it chunkenc.Iterator
	for ss.Next() {
		s := series{labels: ss.At().Labels().String()}
		it = ss.At().Iterator(it)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			switch vt {
			case chunkenc.ValFloat:
				t, v := it.At()
				s.points = append(s.points, point{T: t, ST: it.AtST(), V: v})
			case chunkenc.ValHistogram:
				t, h := it.AtHistogram(nil)
				s.points = append(s.points, point{T: t, ST: it.AtST(), H: h})
			case chunkenc.ValFloatHistogram:
				t, h := it.AtFloatHistogram(nil)
				s.points = append(s.points, point{T: t, ST: it.AtST(), FH: h})
			}
		}
		require.NoError(t, it.Err())
		out = append(out, s)
	}
	require.NoError(t, ss.Err())
	return out
}

// direct queries db's own Querier, for comparison: the client must answer
// the same samples with the same counter-reset hints, though the server
// reads through the ChunkQuerier.
func direct(t testing.TB, db *tsdb.DB, mint, maxt int64, hints *storage.SelectHints, ms ...*labels.Matcher) []series {
	q, err := db.Querier(mint, maxt)
	require.NoError(t, err)
	defer q.Close()
	return collect(t, q.Select(context.Background(), true, hints, ms...))
}

type chunk struct {
	MinT, MaxT int64
	Enc        chunkenc.Encoding
	Data       []byte
}

// collectChunks returns the series of ss with their chunks as bytes.
func collectChunks(t testing.TB, ss storage.ChunkSeriesSet) map[string][]chunk {
	t.Helper()
	out := map[string][]chunk{}
	var it chunks.Iterator
	for ss.Next() {
		var cs []chunk
		it = ss.At().Iterator(it)
		for it.Next() {
			m := it.At()
			cs = append(cs, chunk{MinT: m.MinTime, MaxT: m.MaxTime, Enc: m.Chunk.Encoding(), Data: slices.Clone(m.Chunk.Bytes())})
		}
		require.NoError(t, it.Err())
		out[ss.At().Labels().String()] = cs
	}
	require.NoError(t, ss.Err())
	return out
}

// fill pushes n series × samples float samples (every 15s from 0) to tenant
// through c, in requests of 1,000 series; series i has labels
// {__name__="metric", job="job<i%4>", instance="i<i>"} plus extra.
func fill(t testing.TB, c wire.Pusher, tenant string, n, samples int, extra ...string) {
	t.Helper()
	for start := 0; start < n; start += 1000 {
		req := &wire.PushRequest{}
		for i := start; i < min(n, start+1000); i++ {
			s := wire.Series{Labels: labels.FromStrings(append([]string{"__name__", "metric", "job", fmt.Sprintf("job%d", i%4), "instance", fmt.Sprintf("i%05d", i)}, extra...)...)}
			for j := range samples {
				s.Samples = append(s.Samples, wire.Sample{T: int64(j) * 15000, V: float64(i*j) + 0.25})
			}
			req.Series = append(req.Series, s)
		}
		_, err := c.Push(context.Background(), tenant, req)
		require.NoError(t, err)
	}
}

func TestSelectMatchesTSDB(t *testing.T) {
	st := newStore(t)
	c := serve(t, st, nil)
	hreq := &wire.PushRequest{}
	for i := range 10 {
		s := wire.Series{Labels: labels.FromStrings("__name__", "hist", "job", fmt.Sprintf("job%d", i%4), "instance", fmt.Sprintf("h%d", i))}
		for j := range 50 {
			if i%2 == 0 {
				s.Histograms = append(s.Histograms, wire.Histogram{T: int64(j) * 15000, H: tsdbutil.GenerateTestHistogram(int64(j))})
			} else {
				s.Histograms = append(s.Histograms, wire.Histogram{T: int64(j) * 15000, FH: tsdbutil.GenerateTestFloatHistogram(int64(j))})
			}
		}
		hreq.Series = append(hreq.Series, s)
	}
	_, err := c.Push(context.Background(), "a", hreq)
	require.NoError(t, err)
	fill(t, c, "a", 200, 300)
	db := st.db(t, "a")

	f := func(mint, maxt int64, hints *storage.SelectHints, ms ...*labels.Matcher) {
		t.Helper()
		want := direct(t, db, mint, maxt, hints, ms...)
		q, err := c.Querier("a", mint, maxt)
		require.NoError(t, err)
		got := collect(t, q.Select(context.Background(), true, hints, ms...))
		require.NoError(t, q.Close())
		require.NotEmpty(t, got)
		require.Equal(t, want, got)

		// The chunks are the TSDB's, byte for byte.
		dq, err := db.ChunkQuerier(mint, maxt)
		require.NoError(t, err)
		wantChunks := collectChunks(t, dq.Select(context.Background(), true, hints, ms...))
		require.NoError(t, dq.Close())
		cq, err := c.ChunkQuerier("a", mint, maxt)
		require.NoError(t, err)
		require.Equal(t, wantChunks, collectChunks(t, cq.Select(context.Background(), true, hints, ms...)))
		require.NoError(t, cq.Close())
	}
	eq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, n, v) }
	f(0, 1<<40, nil, eq("__name__", "metric"))
	f(0, 1<<40, nil, eq("__name__", "metric"), eq("instance", "i00007"))
	f(0, 1<<40, nil, eq("__name__", "metric"), labels.MustNewMatcher(labels.MatchNotEqual, "job", "job1"))
	f(0, 1<<40, nil, labels.MustNewMatcher(labels.MatchRegexp, "instance", "i0001.|h.*"))
	f(0, 1<<40, nil, eq("__name__", "metric"), labels.MustNewMatcher(labels.MatchNotRegexp, "job", "job[12]"))
	f(0, 1<<40, nil, eq("__name__", "hist"))
	// A window in the middle, cutting chunks: the chunks are trimmed.
	f(1000*15, 2000*15+7, nil, eq("job", "job2"))
	f(0, 1<<40, &storage.SelectHints{Start: 100 * 15000, End: 120 * 15000, Step: 15000, Func: "rate", Range: 60000}, eq("job", "job3"))
}

// The client asks for whole chunks and leaves out the samples outside the
// range itself, the range the TSDB would trim to: the hints' when there are
// hints, else the querier's.
func TestSelectTrimsToTheRange(t *testing.T) {
	st := newStore(t)
	c := serve(t, st, nil)
	fill(t, c, "a", 3, 300) // every 15s: chunks of 120 samples
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "metric")
	const s = 15000
	f := func(mint, maxt int64, hints *storage.SelectHints, from, to int64) {
		t.Helper()
		q, err := c.Querier("a", mint, maxt)
		require.NoError(t, err)
		defer q.Close()
		got := collect(t, q.Select(context.Background(), true, hints, m))
		require.Len(t, got, 3)
		for _, g := range got {
			require.Len(t, g.points, int((to-from)/s+1), g.labels)
			require.Equal(t, from, g.points[0].T)
			require.Equal(t, to, g.points[len(g.points)-1].T)
		}
	}
	f(100*s, 200*s, nil, 100*s, 200*s)
	f(100*s+1, 200*s-1, nil, 101*s, 199*s)
	f(0, 1<<40, &storage.SelectHints{Start: 130 * s, End: 131 * s}, 130*s, 131*s)
	f(0, 1<<40, &storage.SelectHints{Start: 130*s + 1, End: 250*s - 1, Step: 60000, Func: "rate", Range: 300000}, 131*s, 249*s)
}

func TestSelectManySeriesInManyMessages(t *testing.T) {
	st := newStore(t)
	var recvs atomic.Int64
	counting := grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		return &countingStream{ClientStream: cs, n: &recvs}, err
	})
	c := serve(t, st, nil, counting)
	fill(t, c, "a", 5000, 240)

	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "metric")
	want := direct(t, st.db(t, "a"), 0, 1<<40, nil, m)
	require.Len(t, want, 5000)
	q, err := c.Querier("a", 0, 1<<40)
	require.NoError(t, err)
	got := collect(t, q.Select(context.Background(), true, nil, m))
	require.NoError(t, q.Close())
	require.Equal(t, want, got)
	// Each series is ~500 bytes: 2.5 MB in messages of 1 MiB, and the EOF.
	require.GreaterOrEqual(t, recvs.Load(), int64(3+1))
	require.Less(t, recvs.Load(), int64(10))
}

type countingStream struct {
	grpc.ClientStream
	n *atomic.Int64
}

func (s *countingStream) RecvMsg(m any) error {
	s.n.Add(1)
	return s.ClientStream.RecvMsg(m)
}

func TestLabelNamesAndValues(t *testing.T) {
	st := newStore(t)
	c := serve(t, st, nil)
	fill(t, c, "a", 100, 2, "zone", "z1")
	fill(t, c, "b", 10, 2, "region", "r1")
	ctx := context.Background()
	db := st.db(t, "a")
	dq, err := db.Querier(0, 1<<40)
	require.NoError(t, err)
	defer dq.Close()
	q, err := c.Querier("a", 0, 1<<40)
	require.NoError(t, err)
	defer q.Close()

	f := func(name string, hints *storage.LabelHints, ms ...*labels.Matcher) {
		t.Helper()
		var want, got []string
		var err error
		if name == "" {
			want, _, err = dq.LabelNames(ctx, hints, ms...)
			require.NoError(t, err)
			got, _, err = q.LabelNames(ctx, hints, ms...)
		} else {
			want, _, err = dq.LabelValues(ctx, name, hints, ms...)
			require.NoError(t, err)
			got, _, err = q.LabelValues(ctx, name, hints, ms...)
		}
		require.NoError(t, err)
		require.NotEmpty(t, got)
		require.Equal(t, want, got)
	}
	f("", nil)
	f("", nil, labels.MustNewMatcher(labels.MatchEqual, "job", "job1"))
	f("", &storage.LabelHints{Limit: 2})
	f("job", nil)
	f("instance", nil, labels.MustNewMatcher(labels.MatchRegexp, "instance", "i0000[1-5]"))
	f("instance", &storage.LabelHints{Limit: 7})
	f("instance", &storage.LabelHints{Limit: 3, LimitSmallest: true}, labels.MustNewMatcher(labels.MatchNotEqual, "job", "job0"))

	names, _, err := q.LabelNames(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", "instance", "job", "zone"}, names)
}

func TestTenantIsolation(t *testing.T) {
	st := newStore(t)
	c := serve(t, st, nil)
	ctx := context.Background()
	push := func(tenant string, v float64, help string) {
		_, err := c.Push(ctx, tenant, &wire.PushRequest{
			Series: []wire.Series{{
				Labels:    labels.FromStrings("__name__", "shared", "owner", tenant),
				Samples:   []wire.Sample{{T: 1000, V: v}},
				Exemplars: []wire.Exemplar{{Labels: labels.FromStrings("trace_id", tenant), T: 1000, V: v}},
			}},
			Metadata: []wire.Metadata{{MetricFamily: "shared", Type: "gauge", Help: help}},
		})
		require.NoError(t, err)
	}
	push("a", 1, "a's")
	push("b", 2, "b's")

	all := labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".*")
	for _, tc := range []struct {
		tenant string
		v      float64
	}{{"a", 1}, {"b", 2}} {
		q, err := c.Querier(tc.tenant, 0, 10000)
		require.NoError(t, err)
		got := collect(t, q.Select(ctx, false, nil, all))
		require.Equal(t, []series{{labels: fmt.Sprintf(`{__name__="shared", owner="%s"}`, tc.tenant), points: []point{{T: 1000, V: tc.v}}}}, got)
		vals, _, err := q.LabelValues(ctx, "owner", nil)
		require.NoError(t, err)
		require.Equal(t, []string{tc.tenant}, vals)
		require.NoError(t, q.Close())

		md, err := c.Metadata(ctx, tc.tenant, "", 0)
		require.NoError(t, err)
		require.Equal(t, []wire.Metadata{{MetricFamily: "shared", Type: "gauge", Help: tc.tenant + "'s"}}, md)

		eq, err := c.ExemplarQuerier(ctx, tc.tenant)
		require.NoError(t, err)
		ex, err := eq.Select(0, 10000, []*labels.Matcher{all})
		require.NoError(t, err)
		require.Len(t, ex, 1)
		require.Equal(t, labels.FromStrings("trace_id", tc.tenant), ex[0].Exemplars[0].Labels)
	}

	// A tenant without data gets empty answers, not errors.
	q, err := c.Querier("nobody", 0, 10000)
	require.NoError(t, err)
	require.Empty(t, collect(t, q.Select(ctx, false, nil, all)))
	names, _, err := q.LabelNames(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, names)
	require.NoError(t, q.Close())
	md, err := c.Metadata(ctx, "nobody", "", 0)
	require.NoError(t, err)
	require.Empty(t, md)
}

// blockingSet passes a series set through, then, after after series, waits
// for the server-side context of the stream and fails with its error: the
// stream cannot end unless the cancellation reaches the server.
type blockingSet struct {
	storage.ChunkSeriesSet
	ctx   context.Context
	after int
	n     int
	err   error
}

func (s *blockingSet) Next() bool {
	if s.n++; s.n > s.after {
		select {
		case <-s.ctx.Done():
			s.err = s.ctx.Err()
		case <-time.After(20 * time.Second):
			s.err = errors.New("the server stream was not cancelled")
		}
		return false
	}
	return s.ChunkSeriesSet.Next()
}

func (s *blockingSet) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.ChunkSeriesSet.Err()
}

func TestSelectCancelEndsServerStream(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			st := newStore(t)
			ended := make(chan error, 1)
			intercept := grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				err := h(srv, ss)
				ended <- err
				return err
			})
			c := serve(t, st, []grpc.ServerOption{intercept})
			fill(t, c, "a", 5000, 240)
			st.wrapSet = func(ctx context.Context, set storage.ChunkSeriesSet) storage.ChunkSeriesSet {
				return &blockingSet{ChunkSeriesSet: set, ctx: ctx, after: 4000}
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			q, err := c.Querier("a", 0, 1<<40)
			require.NoError(t, err)
			ss := q.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "metric"))
			require.True(t, ss.Next())
			if how == "cancel" {
				cancel()
			} else {
				require.NoError(t, q.Close())
			}
			select {
			case err := <-ended:
				require.Equal(t, codes.Canceled, status.Code(err), "%v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("the server stream did not end")
			}
			for ss.Next() {
			}
			require.ErrorIs(t, ss.Err(), context.Canceled)
			require.NoError(t, q.Close())
		})
	}
}

// ---- Benchmarks ----

// discard is a Pusher that stores nothing, to measure the transport alone.
type discard struct{ *store }

func (discard) Push(_ context.Context, _ string, req *wire.PushRequest) (wire.PushResult, error) {
	s, h, e := req.Counts()
	return wire.PushResult{Samples: s, Histograms: h, Exemplars: e}, nil
}

func BenchmarkPush(b *testing.B) {
	c := serve(b, discard{newStore(b)}, nil)
	req := &wire.PushRequest{}
	for i := range 2000 {
		req.Series = append(req.Series, wire.Series{
			Labels: labels.FromStrings("__name__", "node_cpu_seconds_total", "cluster", "eu-west-1", "namespace", "monitoring",
				"job", "node-exporter", "instance", fmt.Sprintf("10.0.%d.%d:9100", i/250, i%250), "cpu", fmt.Sprint(i%16),
				"mode", "user", "pod", fmt.Sprintf("node-exporter-%d", i/16), "node", fmt.Sprintf("node-%d", i/16), "service", "node-exporter"),
			Samples: []wire.Sample{{T: 1700000000000, V: float64(i)}},
		})
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := c.Push(ctx, "tenant", req)
		if err != nil || res.Samples != 2000 {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2000), "ns/sample")
}

func BenchmarkSelect(b *testing.B) {
	st := newStore(b)
	c := serve(b, st, nil)
	fill(b, c, "a", 10000, 120)
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "metric")
	run := func(b *testing.B, q storage.Querier) {
		var (
			it      chunkenc.Iterator
			samples int
		)
		ss := q.Select(context.Background(), false, nil, m)
		for ss.Next() {
			it = ss.At().Iterator(it)
			for it.Next() != chunkenc.ValNone {
				samples++
			}
		}
		if ss.Err() != nil || samples != 10000*120 {
			b.Fatal(samples, ss.Err())
		}
		q.Close()
	}
	b.Run("grpc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q, _ := c.Querier("a", 0, 1<<40)
			run(b, q)
		}
	})
	b.Run("local", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q, _ := st.Querier("a", 0, 1<<40)
			run(b, q)
		}
	})
}

// holdingStore is a store that holds local blocks, as an ingester does.
type holdingStore struct {
	*store
	held map[string][]ulid.ULID
}

func (s holdingStore) HeldBlocks(_ context.Context, tenant string) ([]ulid.ULID, error) {
	if tenant == "broken" {
		return nil, wire.Errorf(wire.KindUnavailable, "", "disk gone")
	}
	return s.held[tenant], nil
}

// The blocks an ingester holds reach the querier over gRPC; a store that
// holds none answers an empty list, and an error keeps its kind.
func TestHeldBlocksRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, b := ulid.MustNew(1, nil), ulid.MustNew(2, nil)
	c := serve(t, holdingStore{newStore(t), map[string][]ulid.ULID{"t1": {a, b}}}, nil)
	got, err := c.HeldBlocks(ctx, "t1")
	require.NoError(t, err)
	require.Equal(t, []ulid.ULID{a, b}, got)
	got, err = c.HeldBlocks(ctx, "t2")
	require.NoError(t, err)
	require.Empty(t, got)
	_, err = c.HeldBlocks(ctx, "broken")
	require.Equal(t, wire.KindUnavailable, wire.KindOf(err))

	plain := serve(t, newStore(t), nil)
	got, err = plain.HeldBlocks(ctx, "t1")
	require.NoError(t, err)
	require.Empty(t, got, "a store without local blocks holds none")
}
