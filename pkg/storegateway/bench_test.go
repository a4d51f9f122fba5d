package storegateway

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/cmd/weft-load/loadgen"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/serieshash"
)

// benchSeries is the size of the benchmarks' block: as many node-exporter
// series as the 24 h figure of BENCHMARKS.md queries.
const benchSeries = 100_000

// benchBlock writes a 2 h block of benchSeries node-exporter-like series
// (weft-load's), a few samples each, uploads it and loads it as the
// store-gateway does. Labels and postings are what the benchmarks
// measure, not samples.
func benchBlock(b *testing.B) *remoteBlock {
	b.Helper()
	set := loadgen.NewSeriesSet(benchSeries)
	series := make([]storage.Series, 0, set.Len())
	for i := range set.Len() {
		var samples []chunks.Sample
		for ts := int64(0); ts < 2*hour; ts += 30 * 60 * 1000 {
			samples = append(samples, fsample{ts, set.Value(i, int(ts/1000))})
		}
		series = append(series, storage.NewListSeries(set.Labels(i), samples))
	}
	bdir, err := tsdb.CreateBlock(series, b.TempDir(), 8*hour, logutil.Nop())
	require.NoError(b, err)
	id, err := tsdb.OpenBlock(nil, bdir, nil, nil)
	require.NoError(b, err)
	meta := id.Meta()
	require.NoError(b, id.Close())
	f := newFixture(b)
	f.upload("t1", bdir, meta.ULID)
	rb, err := openRemoteBlock(context.Background(), f.bkt, newMetrics(prometheus.NewRegistry()), nil, "t1", meta.ULID, filepath.Join(b.TempDir(), "block"))
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, rb.Close()) })
	return rb
}

var benchMatcher = labels.MustNewMatcher(labels.MatchEqual, "__name__", "node_cpu_seconds_total")

// BenchmarkSeriesLabels decodes the labels and chunk metas of every series
// of a metric, as a query's Select does after its postings.
func BenchmarkSeriesLabels(b *testing.B) {
	rb := benchBlock(b)
	ctx := context.Background()
	var (
		builder labels.ScratchBuilder
		chks    []chunks.Meta
	)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		ir, err := rb.view(ctx).Index()
		require.NoError(b, err)
		p, err := tsdb.PostingsForMatchers(ctx, ir, benchMatcher)
		require.NoError(b, err)
		n := 0
		for p.Next() {
			require.NoError(b, ir.Series(p.At(), &builder, &chks))
			n++
		}
		require.NoError(b, p.Err())
		require.Positive(b, n)
	}
}

// BenchmarkShardedSelect selects a metric's series in 2 shards, as the
// store-gateway does for the two shards of a sharded query: each shard's
// postings, then its series' labels and chunk metas.
func BenchmarkShardedSelect(b *testing.B) {
	rb := benchBlock(b)
	ctx := context.Background()
	const shards = 2
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		n := 0
		for s := range uint64(shards) {
			q, err := tsdb.NewBlockChunkQuerier(rb.view(ctx), 0, 2*hour)
			require.NoError(b, err)
			ss := q.Select(ctx, false, &storage.SelectHints{Start: 0, End: 2 * hour, ShardIndex: s, ShardCount: shards}, benchMatcher)
			for ss.Next() {
				n++
			}
			require.NoError(b, ss.Err())
			require.NoError(b, q.Close())
		}
		require.Positive(b, n)
	}
}

// BenchmarkShardedPostings is sharding's postings alone: each of 2 shards
// keeps its series of a metric's postings.
func BenchmarkShardedPostings(b *testing.B) {
	benchmarkShardedPostings(b, false)
}

// BenchmarkShardedPostingsCold is BenchmarkShardedPostings with the
// block's series hashes dropped before each query: the first sharded
// query of a block.
func BenchmarkShardedPostingsCold(b *testing.B) {
	benchmarkShardedPostings(b, true)
}

func benchmarkShardedPostings(b *testing.B, cold bool) {
	rb := benchBlock(b)
	ctx := context.Background()
	const shards = 2
	b.ReportAllocs()
	defer reportCPU(b)()
	misses0 := testutil.ToFloat64(rb.m.seriesHashMisses)
	for b.Loop() {
		if cold {
			rb.hashes.Release()
			rb.hashes = serieshash.NewCache(nil, rb.m.seriesHashHits, rb.m.seriesHashMisses)
		}
		var wg sync.WaitGroup
		start := make(chan struct{}) // the shards' postings at once
		for s := range uint64(shards) {
			wg.Go(func() {
				ir, err := rb.view(ctx).Index()
				require.NoError(b, err)
				p, err := tsdb.PostingsForMatchers(ctx, ir, benchMatcher)
				require.NoError(b, err)
				<-start
				_, err = index.ExpandPostings(ir.ShardedPostings(p, s, shards))
				require.NoError(b, err)
			})
		}
		close(start)
		wg.Wait()
	}
	// Series whose labels were decoded for their hash, per query of
	// both shards (8,696 series match).
	b.ReportMetric((testutil.ToFloat64(rb.m.seriesHashMisses)-misses0)/float64(b.N), "hashed/op")
}

// reportCPU reports the CPU time the process spent per op (cpu-ns/op)
// when the returned function is called: on a shared machine it tells
// versions apart better than the time the benchmark took.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0 := cpu()
	return func() { b.ReportMetric(float64(cpu()-c0)/float64(b.N), "cpu-ns/op") }
}
