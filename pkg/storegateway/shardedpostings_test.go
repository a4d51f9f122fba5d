package storegateway

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/serieshash"
)

// TestShardedPostingsCacheHashes checks that sharding's postings with the
// block's hash cache are Prometheus' own for every shard, whether the
// hashes are cached, partly cached (the budget is smaller than the block)
// or not at all, and that the cache gives its budget back when the block
// is closed.
func TestShardedPostingsCacheHashes(t *testing.T) {
	ctx := context.Background()
	bkt := newFixture(t).bkt
	local := bigBlock(t, bkt, false)
	ir, err := local.Index()
	require.NoError(t, err)
	defer ir.Close()
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", "m[0-3]|hist")}
	shardings := [][2]uint64{{0, 1}, {0, 3}, {1, 3}, {2, 3}, {5, 16}}
	want := map[[2]uint64][]storage.SeriesRef{}
	for _, s := range shardings {
		p, err := tsdb.PostingsForMatchers(ctx, ir, ms...)
		require.NoError(t, err)
		want[s], err = index.ExpandPostings(ir.ShardedPostings(p, s[0], s[1]))
		require.NoError(t, err)
		require.NotEmpty(t, want[s])
	}
	all := len(want[[2]uint64{0, 1}])
	require.Greater(t, all, 1024, "several batches of 512")

	for _, tc := range []struct {
		name   string
		budget int // entries
	}{{"unbounded", -1}, {"partly", 700}, {"disabled", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			var budget *serieshash.Budget
			if tc.budget >= 0 {
				budget = serieshash.NewBudget(int64(tc.budget) * serieshash.EntryBytes)
			}
			m := newMetrics(prometheus.NewRegistry())
			rb, err := openRemoteBlock(ctx, bkt, m, budget, "t1", local.Meta().ULID, filepath.Join(t.TempDir(), "block"))
			require.NoError(t, err)
			for round := range 2 {
				for _, s := range shardings {
					r, err := rb.view(ctx).Index()
					require.NoError(t, err)
					p, err := tsdb.PostingsForMatchers(ctx, r, ms...)
					require.NoError(t, err)
					got, err := index.ExpandPostings(r.ShardedPostings(p, s[0], s[1]))
					require.NoError(t, err)
					require.Equal(t, want[s], got, "round %d, shard %d of %d", round, s[0], s[1])
				}
			}
			lookups := float64(2 * len(shardings) * all)
			hits := testutil.ToFloat64(m.seriesHashHits)
			require.Equal(t, lookups, hits+testutil.ToFloat64(m.seriesHashMisses))
			switch tc.budget {
			case -1:
				require.Equal(t, lookups-float64(all), hits, "every series decoded once")
				require.Equal(t, all, rb.hashes.Len())
			case 0:
				require.Zero(t, hits)
				require.Zero(t, rb.hashes.Len())
			default:
				require.Equal(t, tc.budget, rb.hashes.Len())
				require.Zero(t, budget.Left())
				require.Equal(t, float64(tc.budget)*(float64(2*len(shardings))-1), hits)
			}
			require.NoError(t, rb.Close())
			if budget != nil {
				require.Equal(t, int64(tc.budget), budget.Left(), "the budget is given back")
			}
		})
	}
}
