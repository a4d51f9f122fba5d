package querysharding_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/querysharding"
)

// A query that does not shard is not run: the caller runs it whole.
func TestExecDoesNotRunWhatDoesNotShard(t *testing.T) {
	s := querysharding.New(querysharding.Options{})
	run := func(context.Context, string) (parser.Value, annotations.Annotations, error) {
		t.Fatal("run called")
		return nil, nil, nil
	}
	for _, q := range []string{`rate(x[5m])`, `quantile(0.5, x)`, `sum(x / y)`, `sum(x`} {
		v, annos, sharded, err := s.Exec(context.Background(), q, time.Unix(0, 0), time.Unix(600, 0), time.Minute, 4, run)
		require.False(t, sharded, q)
		require.NoError(t, err)
		require.Nil(t, v)
		require.Empty(t, annos)
	}
	_, _, sharded, _ := s.Exec(context.Background(), `sum(x)`, time.Unix(0, 0), time.Unix(600, 0), time.Minute, 1, run)
	require.False(t, sharded, "one shard is no sharding")
}

// Each sub-query runs once, at most Parallelism at a time; the shards'
// results are combined.
func TestExecRunsEachSubqueryOnce(t *testing.T) {
	s := querysharding.New(querysharding.Options{Parallelism: 2})
	var (
		mu       sync.Mutex
		seen     = map[string]int{}
		running  atomic.Int32
		maxInFly atomic.Int32
	)
	run := func(_ context.Context, q string) (parser.Value, annotations.Annotations, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxInFly.Load()
			if n <= m || maxInFly.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		seen[q]++
		mu.Unlock()
		// Each shard counts 2 series of job a at 0s and 60s.
		return promql.Matrix{{Metric: labels.FromStrings("job", "a"), Floats: []promql.FPoint{{T: 0, F: 2}, {T: 60_000, F: 2}}}}, nil, nil
	}
	v, _, sharded, err := s.Exec(context.Background(), `count by (job) (x)`, time.Unix(0, 0), time.Unix(60, 0), time.Minute, 5, run)
	require.NoError(t, err)
	require.True(t, sharded)
	require.Equal(t, promql.Matrix{{Metric: labels.FromStrings("job", "a"), Floats: []promql.FPoint{{T: 0, F: 10}, {T: 60_000, F: 10}}}}, v)
	require.Len(t, seen, 5)
	for q, n := range seen {
		require.Equal(t, 1, n, q)
		require.Contains(t, q, `__query_shard__="`)
	}
	require.LessOrEqual(t, maxInFly.Load(), int32(2))
}

// An error of a sub-query is the query's, and the other sub-queries are
// cancelled.
func TestExecFailsWithTheFirstError(t *testing.T) {
	s := querysharding.New(querysharding.Options{})
	boom := errors.New("boom")
	var started, cancelled atomic.Int32
	run := func(ctx context.Context, q string) (parser.Value, annotations.Annotations, error) {
		started.Add(1)
		if strings.Contains(q, `"1_of_4"`) {
			return nil, nil, boom
		}
		select {
		case <-ctx.Done():
			cancelled.Add(1)
			return nil, nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return promql.Matrix{}, nil, nil
		}
	}
	began := time.Now()
	_, _, sharded, err := s.Exec(context.Background(), `sum(x)`, time.Unix(0, 0), time.Unix(60, 0), time.Minute, 4, run)
	require.True(t, sharded)
	require.ErrorIs(t, err, boom)
	require.Less(t, time.Since(began), 5*time.Second)
	require.Equal(t, started.Load()-1, cancelled.Load(), "every other sub-query that started was cancelled")
}

// The outer expression may hold a subquery without a step: it is
// evaluated at the querier's default step, also when the engine options
// do not give one (as the query-frontend's do not).
func TestExecOuterSubqueryWithoutStep(t *testing.T) {
	s := querysharding.New(querysharding.Options{})
	run := func(context.Context, string) (parser.Value, annotations.Annotations, error) {
		return promql.Matrix{{Metric: labels.EmptyLabels(), Floats: []promql.FPoint{{T: 0, F: 1}, {T: 60_000, F: 1}}}}, nil, nil
	}
	v, _, sharded, err := s.Exec(context.Background(), `sum(x) + on() group_left max_over_time(vector(1)[10m:])`, time.Unix(0, 0), time.Unix(60, 0), time.Minute, 3, run)
	require.NoError(t, err)
	require.True(t, sharded)
	require.Equal(t, promql.Matrix{{Metric: labels.EmptyLabels(), Floats: []promql.FPoint{{T: 0, F: 4}, {T: 60_000, F: 4}}}}, v)
}
