package querysharding_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// BenchmarkShardedQuery compares a dashboard query run whole and in
// shards in one process (Sharder.Engine over a TSDB with sharding): the
// cost of the sharded form (sub-queries, the outer evaluation) against its
// parallelism.
//
//	go test -run '^$' -bench ShardedQuery -benchtime 5x ./pkg/querysharding
func BenchmarkShardedQuery(b *testing.B) {
	db := shardingStorage(b)
	app := db.Appender(context.Background())
	for i := range 10_000 {
		ls := labels.FromStrings("__name__", "cpu_seconds_total", "job", fmt.Sprintf("job%d", i%10), "instance", fmt.Sprintf("i%d", i))
		for ts := int64(0); ts <= 3600_000; ts += 15_000 {
			_, err := app.Append(0, ls, ts, float64(ts/1000+int64(i)))
			require.NoError(b, err)
		}
	}
	require.NoError(b, app.Commit())
	const q = `sum by (job) (rate(cpu_seconds_total[5m]))`
	for _, shards := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			e := newShardedEngine(b, shards, engineOpts())
			b.ReportAllocs()
			for b.Loop() {
				qry, err := e.NewRangeQuery(context.Background(), db, nil, q, time.UnixMilli(0), time.UnixMilli(3600_000), time.Minute)
				require.NoError(b, err)
				res := qry.Exec(context.Background())
				require.NoError(b, res.Err)
				qry.Close()
			}
		})
	}
}
