package frontend

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querysharding"
	"github.com/weft-io/weft/pkg/tenant"
)

// Sharding returns the Middleware that runs each range left to compute as
// the tenant's query_sharding_total_shards sub-queries, each reading a
// disjoint shard of the series, and combines their answers with s. A
// query that does not shard, a tenant without sharding, and an answer
// the sharder cannot combine exactly (native histograms) run whole.
//
// Native histograms show only in the sub-queries' answers, so such a query
// costs its sub-queries (stopped at the first histogram) before it runs
// whole. Remembering which queries answered histograms would save that,
// but the same query may answer floats over another range or after a
// backfill; an exact binary answer format would let them shard.
func Sharding(s *querysharding.Sharder, lim *limits.Overrides) Middleware {
	return func(next Runner) Runner {
		return func(ctx context.Context, r RangeRequest) (*Result, error) {
			id, err := tenant.From(ctx)
			if err != nil {
				return nil, err
			}
			n := lim.For(id).QueryShardingTotalShards
			if n <= 1 {
				return next(ctx, r)
			}
			// A part the querier would not let be cached taints the
			// whole.
			var uncacheable atomic.Bool
			m, warnings, infos, sharded, err := s.ExecModel(ctx, r.Query, time.UnixMilli(r.Start), time.UnixMilli(r.End), time.Duration(r.Step)*time.Millisecond, n,
				func(ctx context.Context, sub string) (model.Matrix, []string, []string, error) {
					res, err := next(ctx, RangeRequest{Query: sub, Start: r.Start, End: r.End, Step: r.Step})
					if err != nil {
						return nil, nil, nil, err
					}
					if res.uncacheable {
						uncacheable.Store(true)
					}
					return res.Matrix, res.Warnings, res.Infos, nil
				})
			if err != nil {
				return nil, err
			}
			if !sharded {
				return next(ctx, r)
			}
			return &Result{Matrix: m, Warnings: warnings, Infos: infos, uncacheable: uncacheable.Load()}, nil
		}
	}
}
