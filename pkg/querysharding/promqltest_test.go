package querysharding_test

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/querysharding"
)

// engineOpts are the options of Prometheus' own test engine, with every
// feature the scripts use.
func engineOpts() promql.EngineOpts {
	return promql.EngineOpts{
		MaxSamples:               50000000,
		Timeout:                  100 * time.Second,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		LookbackDelta:            5 * time.Minute,
		EnableDelayedNameRemoval: true,
		UseStartTimestamps:       true,
		Parser:                   parser.NewParser(promqltest.TestParserOpts),
	}
}

// shardedEngine runs each query through a Sharder's engine: the
// sub-queries on a real engine over the storage, each selector's shard
// chosen by its __query_shard__ matcher (querysharding.Queryable does what
// the querier does), and the unshardable queries on that engine as they
// are. The queries of unshardedInScripts run whole.
type shardedEngine struct {
	sharder *querysharding.Sharder
	engine  *promql.Engine
	shards  int

	mu       sync.Mutex
	excepted map[string]string // the queries of unshardedInScripts run
	sharded  int               // queries that shard
}

var atModifier = regexp.MustCompile(` @ [0-9.]+`)

// unshardedInScripts are the queries of Prometheus' scripts whose sharded
// answer differs from the unsharded one for a reason of principle; the
// scripts run them whole, and the test checks that each one still occurs.
var unshardedInScripts = map[string]string{
	// Kahan summation compensates within one shard, not across shards:
	// 1e100 + 2 + 8 - 1e100 is 10 in one sum, but 0 when 1e100 and
	// -1e100 are summed in different shards with the small values.
	`sum(data{test="ten"})`: "Kahan compensation does not cross shards",
	`avg(data{test="ten"})`: "Kahan compensation does not cross shards",
	`sum(histogram_sum)`:    "Kahan compensation does not cross shards (of the histograms' sums)",
	`avg(histogram_sum)`:    "Kahan compensation does not cross shards (of the histograms' sums)",
	// histogram_count over an aggregation makes the engine read the
	// histograms through its HistogramStatsIterator, which makes up
	// counter-reset hints that then conflict and warn; the shards run
	// the aggregation alone, decode the histograms whole and do not warn.
	// The values are the same.
	`histogram_count(sum(metric))`: "the conflicting-counter-resets warning of the HistogramStatsIterator",
	`histogram_count(avg(metric))`: "the conflicting-counter-resets warning of the HistogramStatsIterator",
	`histogram_count(sum(reset))`:  "the conflicting-counter-resets warning of the HistogramStatsIterator",
	`histogram_count(avg(reset))`:  "the conflicting-counter-resets warning of the HistogramStatsIterator",
}

func newShardedEngine(t testing.TB, shards int, opts promql.EngineOpts) *shardedEngine {
	eng := promql.NewEngine(opts)
	t.Cleanup(func() { _ = eng.Close() })
	return &shardedEngine{sharder: querysharding.New(querysharding.Options{Engine: opts}), engine: eng, shards: shards, excepted: map[string]string{}}
}

// pick returns the engine that runs qs, and counts.
func (e *shardedEngine) pick(qs string) promql.QueryEngine {
	e.mu.Lock()
	defer e.mu.Unlock()
	// The scripts run each instant query with @ modifiers too.
	if reason, ok := unshardedInScripts[atModifier.ReplaceAllString(qs, "")]; ok {
		e.excepted[atModifier.ReplaceAllString(qs, "")] = reason
		return e.engine
	}
	if _, ok := e.sharder.Shardable(qs, e.shards); ok {
		e.sharded++
	}
	return e.sharder.Engine(e.engine, e.shards)
}

func (e *shardedEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	return e.pick(qs).NewInstantQuery(ctx, querysharding.Queryable(q), opts, qs, ts)
}

func (e *shardedEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	return e.pick(qs).NewRangeQuery(ctx, querysharding.Queryable(q), opts, qs, start, end, step)
}

// shardingStorage is the scripts' storage with the head's sharding
// enabled, as the ingester's.
func shardingStorage(t testing.TB) storage.Storage {
	return teststorage.New(t, func(opt *tsdb.Options) {
		opt.EnableSTStorage = true
		opt.FloatChunkEncoding = chunkenc.EncXOR2
		opt.EnableHistogramSTEncoding = true
		opt.EnableSharding = true
	})
}

// Prometheus' own PromQL scripts pass with every shardable aggregation run
// in shards.
// The few queries that cannot give the same answer sharded are listed in
// unshardedInScripts, with the reason, and run whole.
func TestPromQLScriptsSharded(t *testing.T) {
	for _, n := range []int{2, 5} {
		t.Run(fmt.Sprintf("%d shards", n), func(t *testing.T) {
			e := newShardedEngine(t, n, engineOpts())
			promqltest.RunBuiltinTestsWithStorage(t, e, shardingStorage)
			t.Logf("%d queries ran sharded", e.sharded)
			require.Greater(t, e.sharded, 1000)
			for qs := range unshardedInScripts {
				require.Contains(t, e.excepted, qs, "a listed exception no longer occurs in the scripts")
			}
		})
	}
}
