package ingester

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/cmd/weft-load/loadgen"
	"github.com/weft-io/weft/pkg/logutil"
)

// BenchmarkBlockShardedPostings is sharding's postings in 2 shards on a
// local block of 100k weft-load (node-exporter-like) series, for a metric
// of 8,696 series: Prometheus' index reader, which decodes every matching
// series' labels in each shard, and the same block through blockHashes.
func BenchmarkBlockShardedPostings(b *testing.B) {
	set := loadgen.NewSeriesSet(100_000)
	series := make([]storage.Series, 0, set.Len())
	for i := range set.Len() {
		series = append(series, storage.NewListSeries(set.Labels(i), []chunks.Sample{sample{0, set.Value(i, 0)}}))
	}
	dir, err := tsdb.CreateBlock(series, b.TempDir(), 2*3_600_000, logutil.Nop())
	require.NoError(b, err)
	blk, err := tsdb.OpenBlock(nil, dir, nil, nil)
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, blk.Close()) })
	ctx := context.Background()
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "node_cpu_seconds_total")
	run := func(b *testing.B, br tsdb.BlockReader) {
		b.ReportAllocs()
		for b.Loop() {
			for s := range uint64(2) {
				ir, err := br.Index()
				require.NoError(b, err)
				p, err := tsdb.PostingsForMatchers(ctx, ir, m)
				require.NoError(b, err)
				refs, err := index.ExpandPostings(ir.ShardedPostings(p, s, 2))
				require.NoError(b, err)
				require.NotEmpty(b, refs)
				require.NoError(b, ir.Close())
			}
		}
	}
	b.Run("prometheus", func(b *testing.B) { run(b, blk) })
	b.Run("cached", func(b *testing.B) {
		h := newBlockHashes(nil, nil, nil)
		defer h.prune(nil)
		run(b, h.wrap(blk))
	})
}

// sample is a float chunks.Sample.
type sample struct {
	t int64
	v float64
}

func (s sample) T() int64                      { return s.t }
func (s sample) ST() int64                     { return 0 }
func (s sample) F() float64                    { return s.v }
func (s sample) H() *histogram.Histogram       { return nil }
func (s sample) FH() *histogram.FloatHistogram { return nil }
func (s sample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s sample) Copy() chunks.Sample           { return s }
