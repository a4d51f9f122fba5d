package wire_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/weft-io/weft/pkg/wire"
)

// A sharded Select answers the series of one shard of the TSDB's hash of
// the label set: the shards are disjoint, cover every series, and each is
// what the TSDB selects for that shard. A server of an older build skips
// the shard fields and answers every series; the client then keeps those of
// the shard itself, so the answers are the same.
func TestSelectShards(t *testing.T) {
	for name, sopts := range map[string][]grpc.ServerOption{"new server": nil, "old server": {wire.AsOldShardlessServer()}} {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			c := serve(t, st, sopts)
			hreq := &wire.PushRequest{}
			for i := range 20 {
				s := wire.Series{Labels: labels.FromStrings("__name__", "metric", "job", "hist", "instance", fmt.Sprintf("h%d", i))}
				for j := range 10 {
					s.Histograms = append(s.Histograms, wire.Histogram{T: int64(j) * 15000, H: tsdbutil.GenerateTestHistogram(int64(j))})
				}
				hreq.Series = append(hreq.Series, s)
			}
			_, err := c.Push(context.Background(), "a", hreq)
			require.NoError(t, err)
			fill(t, c, "a", 300, 20)
			db := st.db(t, "a")
			all := direct(t, db, 0, 1<<40, nil, everything)
			require.Len(t, all, 320)

			for _, n := range []uint64{1, 3, 8} {
				seen := map[string]uint64{}
				for i := range n {
					hints := &storage.SelectHints{Start: 0, End: 1 << 40, ShardIndex: i, ShardCount: n}
					want := direct(t, db, 0, 1<<40, hints, everything)
					q, err := c.Querier("a", 0, 1<<40)
					require.NoError(t, err)
					got := collect(t, q.Select(context.Background(), true, hints, everything))
					require.NoError(t, q.Close())
					require.Equal(t, want, got, "shard %d of %d", i, n)

					cq, err := c.ChunkQuerier("a", 0, 1<<40)
					require.NoError(t, err)
					chunks := collectChunks(t, cq.Select(context.Background(), true, hints, everything))
					require.NoError(t, cq.Close())
					require.Len(t, chunks, len(got))

					for _, s := range got {
						_, dup := seen[s.labels]
						require.False(t, dup, "%s in shards %d and %d of %d", s.labels, seen[s.labels], i, n)
						seen[s.labels] = i
						require.Contains(t, chunks, s.labels)
					}
				}
				require.Len(t, seen, len(all), "the %d shards cover every series", n)
			}
		})
	}
}
