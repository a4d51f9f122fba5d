package querysharding

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
)

// The sharded form of queries: what runs downstream in each shard (or
// once), and the outer expression over the partial results.
func TestPlan(t *testing.T) {
	f := func(qs, outer string, partials ...string) {
		t.Helper()
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(qs)
		require.NoError(t, err)
		p, ok := newPlan(expr)
		if outer == "" {
			require.False(t, ok, "%s shards as %v", qs, p)
			return
		}
		require.True(t, ok, qs)
		require.Equal(t, outer, p.outer.String())
		var got []string
		for k := range p.partials {
			got = append(got, p.queries(k, 2)...)
		}
		require.Equal(t, partials, got)
		require.Equal(t, qs, expr.String(), "the query is left as it was")
	}
	f(`sum by (job) (rate(x[5m]))`,
		`sum by (job) ({__partial__="0"})`,
		`sum by (job) (rate(x{__query_shard__="1_of_2"}[5m]))`, `sum by (job) (rate(x{__query_shard__="2_of_2"}[5m]))`)
	f(`count without (instance) (x{job="a"} > 1)`,
		`sum without (__shard__) ({__partial__="0"})`,
		`count without (instance) (x{__query_shard__="1_of_2",job="a"} > 1)`, `count without (instance) (x{__query_shard__="2_of_2",job="a"} > 1)`)
	f(`avg(x)`,
		`sum({__partial__="0"} * ({__partial__="1"} / ignoring (__shard__) group_left () sum({__partial__="1"})))`,
		`avg(x{__query_shard__="1_of_2"})`, `avg(x{__query_shard__="2_of_2"})`, `count(x{__query_shard__="1_of_2"})`, `count(x{__query_shard__="2_of_2"})`)
	f(`topk by (job) (3, x)`,
		`label_replace(topk by (job) (3, {__partial__="0"}), "__shard__", "", "", "")`,
		`topk by (job) (3, x{__query_shard__="1_of_2"})`, `topk by (job) (3, x{__query_shard__="2_of_2"})`)
	f(`count_values by (job) ("v", x)`,
		`sum by (job, v) ({__partial__="0"})`,
		`count_values by (job) ("v", x{__query_shard__="1_of_2"})`, `count_values by (job) ("v", x{__query_shard__="2_of_2"})`)
	// Classic histograms' buckets are series: histogram_quantile runs
	// over the sharded sum by le.
	f(`histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))`,
		`histogram_quantile(0.9, sum by (le) ({__partial__="0"}))`,
		`sum by (le) (rate(x_bucket{__query_shard__="1_of_2"}[5m]))`, `sum by (le) (rate(x_bucket{__query_shard__="2_of_2"}[5m]))`)
	// The parts that do not shard run once.
	f(`sum(x) / on () group_left () y`,
		`sum({__partial__="0"}) / on () group_left () {__partial__="1"}`,
		`sum(x{__query_shard__="1_of_2"})`, `sum(x{__query_shard__="2_of_2"})`, `y`)
	f(`max(sum by (i) (x)) - quantile(0.5, y)`,
		`max(sum by (i) ({__partial__="0"})) - {__partial__="1"}`,
		`sum by (i) (x{__query_shard__="1_of_2"})`, `sum by (i) (x{__query_shard__="2_of_2"})`, `quantile(0.5, y)`)

	// Nothing shards.
	f(`x`, "")
	f(`rate(x[5m])`, "")
	f(`quantile(0.9, x)`, "")
	f(`sum(x / y)`, "") // the series of x and y may lie in different shards
	f(`sum(x * on (i) group_left y)`, "")
	f(`sum(absent(x))`, "")
	f(`sum(scalar(y) * x)`, "")
	f(`topk(scalar(y), x)`, "")
	f(`max_over_time(sum(x)[1h:5m])`, "") // the outer evaluation has only the query's steps
	f(`avg by (__name__) (x)`, "")
	f(`sum by (__name__) (rate(x[5m]))`, "")
	f(`timestamp(sum(x)) - timestamp(y)`, "")
	f(`1 + 2`, "")
}

func TestParseShard(t *testing.T) {
	i, n, err := ParseShard(FormatShard(2, 16))
	require.NoError(t, err)
	require.Equal(t, [2]uint64{2, 16}, [2]uint64{i, n})
	require.Equal(t, "3_of_16", FormatShard(2, 16))
	for _, bad := range []string{"", "0_of_3", "4_of_3", "1of3", "a_of_3", "1_of_", "-1_of_3"} {
		_, _, err := ParseShard(bad)
		require.Error(t, err, bad)
	}
}

func TestSelectShard(t *testing.T) {
	x := labels.MustNewMatcher(labels.MatchEqual, "__name__", "x")
	h, ms, err := SelectShard(nil, 10, 20, []*labels.Matcher{x, ShardMatcher(1, 4)})
	require.NoError(t, err)
	require.Equal(t, &storage.SelectHints{Start: 10, End: 20, ShardIndex: 1, ShardCount: 4}, h)
	require.Equal(t, []*labels.Matcher{x}, ms)

	in := &storage.SelectHints{Start: 1, End: 2, Step: 3}
	h, _, err = SelectShard(in, 10, 20, []*labels.Matcher{ShardMatcher(0, 2), x})
	require.NoError(t, err)
	require.Equal(t, &storage.SelectHints{Start: 1, End: 2, Step: 3, ShardIndex: 0, ShardCount: 2}, h)
	require.Zero(t, in.ShardCount, "the caller's hints are left as they were")

	h, ms, err = SelectShard(in, 10, 20, []*labels.Matcher{x})
	require.NoError(t, err)
	require.Same(t, in, h)
	require.Equal(t, []*labels.Matcher{x}, ms)

	_, _, err = SelectShard(nil, 0, 0, []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, ShardLabel, "1_of_2")})
	require.Error(t, err)
	_, _, err = SelectShard(nil, 0, 0, []*labels.Matcher{ShardMatcher(0, 2), ShardMatcher(1, 2)})
	require.Error(t, err)
}
