package frontend

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querysharding"
)

// A shardable range query runs as the tenant's shards, each a sub-query
// of its own shard, and answers what the querier answers whole; a query
// that does not shard, and a tenant without sharding, run whole; a query
// whose sub-queries answer native histograms runs whole.
func TestShardingMiddleware(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, func(l *limits.Limits) { l.QueryShardingTotalShards = 3; l.ResultsCacheEnabled = false })
	q := newQuerier(t, db, lim)
	rec := &recorder{h: q}
	sharder := querysharding.New(querysharding.Options{Engine: promql.EngineOpts{}})
	fe, _ := newFrontend(t, testConfig(t, nil), rec, lim, base.Add(72*time.Hour), WithMiddleware(Sharding(sharder, lim)))
	run := func(query string) (answer, []recorded) {
		t.Helper()
		params := rangeParams(query, 10*time.Hour, 11*time.Hour, time.Minute)
		want := do(t, q, "t", http.MethodGet, "/query_range", params, nil)
		got := do(t, fe, "t", http.MethodGet, "/query_range", params, nil)
		require.Equal(t, http.StatusOK, got.code, string(got.body))
		if !strings.Contains(query, "h[") {
			require.Equal(t, want.matrix(t), got.matrix(t), query)
		}
		return got, rec.take()
	}
	shards := func(rs []recorded) (n int) {
		for _, r := range rs {
			if strings.Contains(r.query, "__query_shard__") {
				n++
			}
		}
		return n
	}

	_, rs := run(`sum by (job) (rate(x_total[5m]))`)
	require.Equal(t, 3, shards(rs), "%v", rs)
	require.Len(t, rs, 3)
	_, rs = run(`max(x_total)`)
	require.Equal(t, 3, shards(rs), "%v", rs)

	_, rs = run(`rate(x_total[5m])`)
	require.Equal(t, 0, shards(rs), "no aggregation: nothing to shard")
	require.Len(t, rs, 1)

	got, rs := run(`sum(rate(h[5m]))`)
	require.Contains(t, string(got.body), `"histograms"`)
	// The first histogram answer stops the other sub-queries.
	require.Positive(t, shards(rs), "the first run tries the shards")
	require.Len(t, rs, shards(rs)+1, "and runs the query whole")

	unsharded := testLimits(t, func(l *limits.Limits) { l.ResultsCacheEnabled = false })
	fe, _ = newFrontend(t, testConfig(t, nil), rec, unsharded, base.Add(72*time.Hour), WithMiddleware(Sharding(sharder, unsharded)))
	got = do(t, fe, "t", http.MethodGet, "/query_range", rangeParams(`sum(x_total)`, 10*time.Hour, 11*time.Hour, time.Minute), nil)
	require.Equal(t, http.StatusOK, got.code)
	require.Zero(t, shards(rec.take()), "a tenant without sharding")
}
