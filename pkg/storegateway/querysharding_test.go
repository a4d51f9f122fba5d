package storegateway

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/wire"
)

// The query-frontend's shards of a store-gateway's series, asked over
// gRPC, are those Prometheus' own index reader selects from the same
// blocks (the same hash of the label set): disjoint, and together every
// series, with all their samples; in one process too.
func TestQueryShardsOverGRPC(t *testing.T) {
	f := newFixture(t)
	f.addSeriesBlock("t1", 0, hour, 60) // under an hour: CreateBlock appends series after series
	f.addSeriesBlock("t1", 2*hour, 3*hour, 60)
	sg := newSG(t, testConfig(t), f.bkt)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	wire.Register(srv, nil, wire.Stores{wire.StoreGateway: sg})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() { srv.Stop(); <-done })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	client := wire.NewStoreClient(conn, wire.StoreGateway)

	// The reference: a read-only TSDB over the source blocks.
	require.NoError(t, os.Mkdir(filepath.Join(f.src["t1"], "wal"), 0o755))
	db, err := tsdb.OpenDBReadOnly(f.src["t1"], t.TempDir(), logutil.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ref, err := db.Querier(0, 4*hour)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ref.Close() })

	every := collect(t, ref.Select(context.Background(), true, nil, all))
	require.Len(t, every, 60)
	for _, n := range []uint64{2, 7} {
		union := map[string][]sample{}
		for i := range n {
			hints := &storage.SelectHints{Start: 0, End: 4 * hour, ShardIndex: i, ShardCount: n}
			want := collect(t, ref.Select(context.Background(), true, hints, all))
			q, err := client.Querier("t1", 0, 4*hour)
			require.NoError(t, err)
			got := collect(t, q.Select(context.Background(), true, hints, all))
			require.NoError(t, q.Close())
			require.NotEmpty(t, got)
			require.Equal(t, want, got, "shard %d of %d", i, n)
			// And in one process (the all-in-one's querier reads the
			// store-gateway directly).
			dq, err := sg.Querier("t1", 0, 4*hour)
			require.NoError(t, err)
			require.Equal(t, want, collect(t, dq.Select(context.Background(), true, hints, all)), "shard %d of %d, direct", i, n)
			require.NoError(t, dq.Close())
			for k, v := range got {
				require.NotContains(t, union, k, "in two shards")
				union[k] = v
			}
		}
		require.Equal(t, every, union, "the %d shards together are every series", n)
	}
}
