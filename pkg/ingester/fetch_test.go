package ingester

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/wire"
)

// A querier of the same process (the all-in-one) counts the bytes of the
// chunks it reads, from the head and from the blocks, in the query's
// wire.FetchStats, and stops at its limit.
func TestQuerierCountsChunkBytes(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "-ingester.tsdb.block-ranges-period=1m", "-ingester.tsdb.ship-interval=1h", "-ingester.tsdb.head-compaction-interval=1h")
	ing := startIngester(t, cfg, testOverrides(t), objstore.NewInMemBucket())
	now := time.Now().Truncate(time.Minute).UnixMilli()
	pushSamples(t, ing, "a", "m", now-150_000, now-150_000, 1000)
	ing.get("a").db.DisableCompactions()
	pushSamples(t, ing, "a", "m", now-149_000, now-60_000, 1000)
	require.NoError(t, ing.Flush(context.Background()))
	pushSamples(t, ing, "a", "m", now+60_000, now+150_000, 1000)
	require.NotEmpty(t, ing.get("a").db.Blocks())

	// What the chunks weigh, as the gRPC server would send them.
	// A range that holds every sample, not all time: a query's range that
	// reaches the head's out-of-order range (empty: all time) is read
	// through the TSDB's out-of-order querier, which is not counted.
	mint, maxt := now-time.Hour.Milliseconds(), now+time.Hour.Milliseconds()
	cq, err := ing.ChunkQuerier("a", mint, maxt)
	require.NoError(t, err)
	var total int64
	chunks := 0
	cs := cq.Select(context.Background(), false, &storage.SelectHints{Start: mint, End: maxt, DisableTrimming: true}, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	for cs.Next() {
		it := cs.At().Iterator(nil)
		for it.Next() {
			total += int64(len(it.At().Chunk.Bytes()))
			chunks++
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, cs.Err())
	require.NoError(t, cq.Close())
	require.Greater(t, chunks, 1, "chunks of blocks and of the head")

	read := func(fetch *wire.FetchStats) (int, error) {
		q, err := ing.Querier("a", mint, maxt)
		require.NoError(t, err)
		defer q.Close()
		ss := q.Select(wire.WithFetchStats(context.Background(), fetch), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
		n := 0
		for ss.Next() {
			it := ss.At().Iterator(nil)
			for it.Next() != 0 {
				n++
			}
			if err := it.Err(); err != nil {
				return n, err
			}
		}
		return n, ss.Err()
	}
	fetch := wire.NewFetchStats(0, total)
	n, err := read(fetch)
	require.NoError(t, err, "exactly the limit is allowed")
	require.Equal(t, 182, n)
	require.Equal(t, total, fetch.ChunkBytes())

	fetch = wire.NewFetchStats(0, total-1)
	_, err = read(fetch)
	var lim *wire.FetchLimitError
	require.ErrorAs(t, err, &lim)
	require.Equal(t, wire.LimitFetchedChunkBytes, lim.Limit)
	require.Equal(t, error(lim), fetch.Err(), "the error the querier answers with")
}
