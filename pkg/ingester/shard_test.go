package ingester

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-io/weft/pkg/wire"
)

// The query-frontend's shards of an ingester's series, asked over gRPC,
// are disjoint, cover every series of its blocks and its head, and hold
// the series whose labels.StableHash falls in the shard.
func TestShardsOverGRPCAreDisjointAndComplete(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "-ingester.tsdb.block-ranges-period=1m", "-ingester.tsdb.ship-interval=1h", "-ingester.tsdb.head-compaction-interval=1h")
	ing := startIngester(t, cfg, testOverrides(t), objstore.NewInMemBucket())
	now := time.Now().Truncate(time.Minute).UnixMilli()
	push := func(prefix string, from int64) {
		req := &wire.PushRequest{}
		for i := range 60 {
			s := wire.Series{Labels: labels.FromStrings("__name__", "m", "series", fmt.Sprintf("%s%d", prefix, i))}
			for ts := from; ts < from+60_000; ts += 15_000 {
				if i%4 == 0 {
					s.Histograms = append(s.Histograms, wire.Histogram{T: ts, H: tsdbutil.GenerateTestHistogram(ts / 15_000)})
				} else {
					s.Samples = append(s.Samples, wire.Sample{T: ts, V: float64(ts + int64(i))})
				}
			}
			req.Series = append(req.Series, s)
		}
		_, err := ing.Push(context.Background(), "a", req)
		require.NoError(t, err)
	}
	push("block", now-120_000)
	require.NoError(t, ing.Flush(context.Background()))
	require.NotEmpty(t, ing.get("a").db.Blocks())
	push("head", now)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	wire.Register(srv, ing, wire.Stores{wire.StoreIngester: ing})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() { srv.Stop(); <-done })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	client := wire.NewStoreClient(conn, wire.StoreIngester)

	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")
	mint, maxt := now-10*60_000, now+10*60_000
	for _, n := range []uint64{2, 5} {
		seen := map[string]uint64{}
		for i := range n {
			hints := &storage.SelectHints{Start: mint, End: maxt, ShardIndex: i, ShardCount: n}
			q, err := client.Querier("a", mint, maxt)
			require.NoError(t, err)
			ss := q.Select(context.Background(), true, hints, m)
			for ss.Next() {
				ls := ss.At().Labels()
				require.Equal(t, i, labels.StableHash(ls)%n, "%s in shard %d of %d", ls, i, n)
				_, dup := seen[ls.String()]
				require.False(t, dup, "%s in shards %d and %d of %d", ls, seen[ls.String()], i, n)
				seen[ls.String()] = i
				it := ss.At().Iterator(nil)
				samples := 0
				for it.Next() != 0 {
					samples++
				}
				require.NoError(t, it.Err())
				require.Equal(t, 4, samples, "%s", ls)
			}
			require.NoError(t, ss.Err())
			require.NoError(t, q.Close())
		}
		require.Len(t, seen, 120, "the %d shards cover every series", n)
	}

	// The blocks' series were hashed by the first shard that reached
	// them, then found in their block's cache by the six other shards.
	misses := testutil.ToFloat64(ing.m.seriesHashMisses)
	require.GreaterOrEqual(t, misses, 60.0)
	require.Equal(t, 6*misses, testutil.ToFloat64(ing.m.seriesHashHits))
	left := ing.hashBudget.Left()
	ing.pruneHashes() // the blocks are still there
	require.Equal(t, left, ing.hashBudget.Left())
	ing.get("a").hashes.prune(nil)
	require.Equal(t, left+int64(misses), ing.hashBudget.Left(), "a block's hashes are released with it")
}
