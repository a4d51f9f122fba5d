package querier

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/querysharding"
	"github.com/weft-io/weft/pkg/tenant"
)

// A selector with the query-frontend's __query_shard__ matcher reads one
// shard of the series, by the TSDB's hash of the label set, with or
// without hints: the shards are disjoint and cover every series.
func TestSelectReadsTheShardOfItsMatcher(t *testing.T) {
	r := newFakeReader(t, "a")
	for i := range 40 {
		r.add(t, labels.FromStrings(labels.MetricName, "m", "i", fmt.Sprint(i)), ident, 1, 2)
	}
	q, err := NewQueryable(r, testOverrides(t, nil)).Querier(0, 100)
	require.NoError(t, err)
	defer q.Close()
	ctx := tenant.With(context.Background(), "a")
	name := labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "m")

	for _, hints := range []*storage.SelectHints{nil, {Start: 0, End: 100, Func: "rate", Range: 50}} {
		const n = 4
		seen := map[string]int{}
		for i := range n {
			ss := q.Select(ctx, true, hints, name, querysharding.ShardMatcher(i, n))
			var got int
			for ss.Next() {
				ls := ss.At().Labels()
				require.Equal(t, uint64(i), labels.StableHash(ls)%n, "%s in shard %d", ls, i)
				_, dup := seen[ls.String()]
				require.False(t, dup, "%s in shards %d and %d", ls, seen[ls.String()], i)
				seen[ls.String()] = i
				got++
			}
			require.NoError(t, ss.Err())
			require.NotZero(t, got)
		}
		require.Len(t, seen, 40)
	}

	_, _, err = collect(q.Select(ctx, true, nil, name, labels.MustNewMatcher(labels.MatchEqual, querysharding.ShardLabel, "5_of_4")))
	require.ErrorContains(t, err, "cannot parse query shard")
}
