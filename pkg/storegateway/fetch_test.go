package storegateway

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

// A querier of the same process (the all-in-one) counts the bytes of the
// chunks the store-gateway reads from the bucket in the query's
// wire.FetchStats, and stops at its limit.
func TestQuerierCountsChunkBytes(t *testing.T) {
	f := newFixture(t)
	f.addBlock("t1", 0, 2*hour)
	f.addBlock("t1", 2*hour, 4*hour)
	sg := newSG(t, testConfig(t), f.bkt)

	// What the chunks weigh, as the gRPC server would send them.
	cq, err := sg.ChunkQuerier("t1", 0, 4*hour)
	require.NoError(t, err)
	var total int64
	cs := cq.Select(context.Background(), false, &storage.SelectHints{Start: 0, End: 4 * hour, DisableTrimming: true}, all)
	for cs.Next() {
		it := cs.At().Iterator(nil)
		for it.Next() {
			total += int64(len(it.At().Chunk.Bytes()))
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, cs.Err())
	require.NoError(t, cq.Close())
	require.Positive(t, total)

	read := func(fetch *wire.FetchStats) error {
		q, err := sg.Querier("t1", 0, 4*hour)
		require.NoError(t, err)
		defer q.Close()
		ss := q.Select(wire.WithFetchStats(context.Background(), fetch), false, nil, all)
		for ss.Next() {
			it := ss.At().Iterator(nil)
			for it.Next() != 0 {
			}
			if err := it.Err(); err != nil {
				return err
			}
		}
		return ss.Err()
	}
	fetch := wire.NewFetchStats(0, total)
	require.NoError(t, read(fetch), "exactly the limit is allowed")
	require.Equal(t, total, fetch.ChunkBytes())

	fetch = wire.NewFetchStats(0, total-1)
	err = read(fetch)
	var lim *wire.FetchLimitError
	require.ErrorAs(t, err, &lim)
	require.Equal(t, wire.LimitFetchedChunkBytes, lim.Limit)
}
