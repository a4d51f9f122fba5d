package frontend

import (
	"context"
	"sync"
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
// Which queries answered histograms is remembered (a bounded set), so a
// dashboard's refreshes of such a query run it whole at once instead of
// running the sub-queries first again.
func Sharding(s *querysharding.Sharder, lim *limits.Overrides) Middleware {
	whole := &querySet{max: 4096}
	return func(next Runner) Runner {
		return func(ctx context.Context, r RangeRequest) (*Result, error) {
			id, err := tenant.From(ctx)
			if err != nil {
				return nil, err
			}
			n := lim.For(id).QueryShardingTotalShards
			key := id + "\x00" + r.Query
			if n <= 1 || whole.has(key) {
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
				if _, ok := s.Shardable(r.Query, n); ok {
					whole.add(key) // it shards, but its answers are histograms
				}
				return next(ctx, r)
			}
			return &Result{Matrix: m, Warnings: warnings, Infos: infos, uncacheable: uncacheable.Load()}, nil
		}
	}
}

// querySet is a set of queries bounded in count: when full, it starts
// again empty, which costs a query that answers histograms one more
// sharded attempt.
type querySet struct {
	max int

	mu  sync.Mutex
	set map[string]struct{} // guarded by mu
}

func (q *querySet) has(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.set[key]
	return ok
}

func (q *querySet) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.set == nil || len(q.set) >= q.max {
		q.set = make(map[string]struct{})
	}
	q.set[key] = struct{}{}
}
