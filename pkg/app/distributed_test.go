package app

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	dsring "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/weft-io/weft/cmd/weft-load/loadgen"
	"github.com/weft-io/weft/pkg/distributor"
	"github.com/weft-io/weft/pkg/ingester"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// cluster is n ingesters, each behind a real gRPC server on loopback and
// registered in one in-memory ring, plus a distributor and a ring reader
// that reach them through gRPC clients, as separate processes would.
type cluster struct {
	ingesters []*ingester.Ingester
	servers   []*grpc.Server
	dist      *distributor.Distributor
	pusher    *distributor.RingPusher // the distributor's, for pushes without HTTP
	reader    *querier.RingReader
	ring      *ring.Ring

	stops    []func() // undo the start, in reverse order
	stopOnce sync.Once
}

// newCluster starts the cluster; ingesterArgs are flags of every
// ingester. It stops when the test ends, or before with stop.
func newCluster(tb testing.TB, n, rf int, lim *limits.Overrides, ingesterArgs ...string) *cluster {
	tb.Helper()
	c := &cluster{}
	tb.Cleanup(c.stop) // if the start fails half-way
	var rcfg ring.Config
	rcfg.RegisterFlags(flagSet(tb))
	rcfg.Ring.Store = ring.StoreInMemory
	rcfg.Ring.Ingester.ReplicationFactor = rf
	rcfg.Ring.Ingester.HeartbeatPeriod = time.Second
	kv, err := ring.NewKV(rcfg, prometheus.NewRegistry(), nil)
	require.NoError(tb, err)
	start := func(s services.Service) {
		require.NoError(tb, services.StartAndAwaitRunning(context.Background(), s))
		c.stops = append(c.stops, func() { _ = services.StopAndAwaitTerminated(context.Background(), s) })
	}
	start(kv)
	for i := 0; i < n; i++ {
		ing := startIngester(tb, testIngesterConfig(tb, ingesterArgs...), lim, nil)
		c.stops = append(c.stops, func() { stopIngester(tb, ing) })
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(tb, err)
		srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
		wire.RegisterIngesterServer(srv, ing)
		go func() { _ = srv.Serve(lis) }()
		c.stops = append(c.stops, srv.Stop)
		lcfg := rcfg.Ring.Ingester
		lcfg.InstanceID = fmt.Sprintf("ingester-%d", i)
		lcfg.InstanceAddr = lis.Addr().String()
		lc, err := ring.NewIngesterLifecycler(lcfg, kv, nil, nil)
		require.NoError(tb, err)
		start(lc)
		require.NoError(tb, lc.Activate(context.Background()))
		c.ingesters = append(c.ingesters, ing)
		c.servers = append(c.servers, srv)
	}
	c.ring, err = ring.NewIngesterRing(rcfg.Ring.Ingester, kv, nil, nil)
	require.NoError(tb, err)
	start(c.ring)
	require.Eventually(tb, func() bool {
		rs, err := c.ring.GetAllHealthy(dsring.Read)
		return err == nil && len(rs.Instances) == n
	}, 10*time.Second, 10*time.Millisecond)
	pool := newClientPool(32 << 20)
	c.stops = append(c.stops, pool.close)
	var dcfg distributor.Config
	dcfg.RegisterFlags(flagSet(tb))
	c.pusher = distributor.NewRingPusher(c.ring, pool.pusher, lim, 5*time.Second)
	c.dist, err = distributor.New(dcfg, lim, c.pusher, tenant.Resolver{MultiTenancy: true}, nil, nil)
	require.NoError(tb, err)
	c.reader = querier.NewRingReader(c.ring, pool.reader, lim, 0)
	// Registered last, so run first: the whole cluster stops in order
	// before the ingesters' own cleanups find them stopped.
	tb.Cleanup(c.stop)
	return c
}

// stop stops everything the cluster started, last started first; a second
// call does nothing.
func (c *cluster) stop() {
	c.stopOnce.Do(func() {
		for i := len(c.stops) - 1; i >= 0; i-- {
			c.stops[i]()
		}
	})
}

func TestReplicatedWritesAndDeduplicatedReads(t *testing.T) {
	lim := testLimits(t)
	c := newCluster(t, 3, 3, lim)
	set := loadgen.NewSeriesSet(300)
	start := time.Now().Add(-10 * time.Minute).UnixMilli()
	for r := 0; r < 4; r++ {
		body, err := set.BuildV1Request(0, 300, r, start+int64(r)*15000)
		require.NoError(t, err)
		if r == 2 {
			// The third replica of earlier pushes may still be on its way
			// (the distributor answers at quorum): let it land, then take
			// one replica down; writes still reach a quorum.
			require.Eventually(t, func() bool { return seriesOn(t, c.ingesters[1], start) == 300 }, 5*time.Second, 10*time.Millisecond)
			c.servers[1].Stop()
		}
		require.Equal(t, http.StatusNoContent, serve(c.dist, loadgen.ProtocolV1, body), "round %d", r)
	}
	for i, ing := range c.ingesters {
		require.Eventually(t, func() bool { return seriesOn(t, ing, start) == 300 }, 5*time.Second, 10*time.Millisecond,
			"RF=3 on 3 ingesters puts every series on ingester %d", i)
	}

	// Reads tolerate the stopped replica and return each sample once.
	q, err := c.reader.Querier("bench", 0, start+time.Hour.Milliseconds())
	require.NoError(t, err)
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	series, samples := 0, 0
	for ss.Next() {
		series++
		it := ss.At().Iterator(nil)
		var last int64 = -1
		for it.Next() != 0 {
			ts, _ := it.At()
			require.Greater(t, ts, last, "no duplicate samples")
			last = ts
			samples++
		}
	}
	require.NoError(t, ss.Err())
	require.Equal(t, 300, series)
	require.Equal(t, 4*300, samples)
	names, _, err := q.LabelNames(context.Background(), nil)
	require.NoError(t, err)
	require.Contains(t, names, "instance")

	// Another tenant sees nothing.
	q, err = c.reader.Querier("other", 0, start+time.Hour.Milliseconds())
	require.NoError(t, err)
	ss = q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	require.False(t, ss.Next())

	// With two of three replicas down there is no quorum: 5xx, never 2xx.
	c.servers[2].Stop()
	body, err := set.BuildV1Request(0, 300, 5, start+5*15000)
	require.NoError(t, err)
	code := serve(c.dist, loadgen.ProtocolV1, body)
	require.GreaterOrEqual(t, code, 500)
}

// BenchmarkDistributedPushPath is BenchmarkPushPath through a distributor
// writing RF=3 copies over gRPC to three ingesters (all on this machine's
// two cores, so it shows the cost of replication as much as of the
// distributor itself).
func BenchmarkDistributedPushPath(b *testing.B) {
	const seriesN, perReq = 20000, 2000
	c := newCluster(b, 3, 3, testLimits(b))
	set := loadgen.NewSeriesSet(seriesN)
	bld := set.NewBuilder()
	start := time.Now().Add(-50 * time.Minute).UnixMilli()
	var bodies [][]byte
	for r := 0; r < 60; r++ {
		for s := 0; s < seriesN; s += perReq {
			p, err := bld.Build(loadgen.ProtocolV1, s, s+perReq, r, start+int64(r)*15000)
			require.NoError(b, err)
			bodies = append(bodies, bytes.Clone(p))
		}
	}
	warm := seriesN / perReq
	for i := 0; i < warm; i++ {
		require.Equal(b, http.StatusNoContent, serve(c.dist, loadgen.ProtocolV1, bodies[i]))
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N && warm+i < len(bodies); i++ {
		if code := serve(c.dist, loadgen.ProtocolV1, bodies[warm+i]); code != http.StatusNoContent {
			b.Fatalf("push answered %d", code)
		}
		n += perReq
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
}

// seriesOn counts the test tenant's series in one ingester.
func seriesOn(t *testing.T, ing *ingester.Ingester, start int64) int {
	q, err := ing.Querier("bench", 0, start+time.Hour.Milliseconds())
	require.NoError(t, err)
	defer q.Close()
	n := 0
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	for ss.Next() {
		n++
	}
	require.NoError(t, ss.Err())
	return n
}
