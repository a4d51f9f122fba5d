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
	"github.com/prometheus/prometheus/util/annotations"
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

// shardedEngine is a promql.QueryEngine that runs each query through a
// Sharder: the sub-queries on a real engine over the storage, each
// selector's shard chosen by its __query_shard__ matcher (as the querier
// does), and the unshardable queries on that engine as they are.
type shardedEngine struct {
	sharder *querysharding.Sharder
	engine  *promql.Engine
	shards  int

	mu       sync.Mutex
	excepted map[string]string // the queries of unshardedInScripts run
	sharded  int               // queries run sharded
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

func (e *shardedEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	whole, err := e.engine.NewInstantQuery(ctx, q, opts, qs, ts)
	if err != nil {
		return nil, err
	}
	return &shardedQuery{Query: whole, e: e, q: q, opts: opts, qs: qs, start: ts, end: ts}, nil
}

func (e *shardedEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	whole, err := e.engine.NewRangeQuery(ctx, q, opts, qs, start, end, step)
	if err != nil {
		return nil, err
	}
	return &shardedQuery{Query: whole, e: e, q: q, opts: opts, qs: qs, start: start, end: end, step: step}, nil
}

// shardedQuery runs sharded when its query shards, else as whole.
type shardedQuery struct {
	promql.Query // the query run whole
	e            *shardedEngine
	q            storage.Queryable
	opts         promql.QueryOpts
	qs           string
	start, end   time.Time
	step         time.Duration
}

func (s *shardedQuery) Exec(ctx context.Context) *promql.Result {
	// The scripts run each instant query with @ modifiers too.
	qs := atModifier.ReplaceAllString(s.qs, "")
	if reason, ok := unshardedInScripts[qs]; ok {
		s.e.mu.Lock()
		s.e.excepted[qs] = reason
		s.e.mu.Unlock()
		return s.Query.Exec(ctx)
	}
	v, annos, sharded, err := s.e.sharder.Exec(ctx, s.qs, s.start, s.end, s.step, s.e.shards, s.run)
	if !sharded {
		return s.Query.Exec(ctx)
	}
	s.e.mu.Lock()
	s.e.sharded++
	s.e.mu.Unlock()
	return &promql.Result{Value: v, Warnings: annos, Err: err}
}

// run evaluates a sub-query on the storage, its selects sharded by
// querysharding.Queryable. The query is not closed: its value lives on.
func (s *shardedQuery) run(ctx context.Context, sub string) (parser.Value, annotations.Annotations, error) {
	var (
		q   promql.Query
		err error
	)
	sq := querysharding.Queryable(s.q)
	if s.step == 0 {
		q, err = s.e.engine.NewInstantQuery(ctx, sq, s.opts, sub, s.start)
	} else {
		q, err = s.e.engine.NewRangeQuery(ctx, sq, s.opts, sub, s.start, s.end, s.step)
	}
	if err != nil {
		return nil, nil, err
	}
	res := q.Exec(ctx)
	return res.Value, res.Warnings, res.Err
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
