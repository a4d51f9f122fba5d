package storegateway

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/bucket"
	"github.com/weft-io/weft/pkg/logutil"
)

// hsample is a native histogram chunks.Sample.
type hsample struct {
	t int64
	h *histogram.Histogram
}

func (s hsample) T() int64                      { return s.t }
func (s hsample) ST() int64                     { return 0 }
func (s hsample) F() float64                    { return 0 }
func (s hsample) H() *histogram.Histogram       { return s.h }
func (s hsample) FH() *histogram.FloatHistogram { return nil }
func (s hsample) Type() chunkenc.ValueType      { return chunkenc.ValHistogram }
func (s hsample) Copy() chunks.Sample           { return hsample{s.t, s.h.Copy()} }

// bigBlock writes a block of 2,000 float series (5 metric names, 10 jobs,
// 400 instances, several chunks each) and 20 native histogram series over
// [0, 3h), with tombstones deleting job j3 in [1h, 2h] when asked,
// uploads it to bkt under tenant t1 and returns the local copy, opened by
// the TSDB.
func bigBlock(t *testing.T, bkt objstore.Bucket, withTombstones bool) *tsdb.Block {
	var series []storage.Series
	const span, every = 3 * hour, 30 * 1000
	for i := range 2000 {
		lset := labels.FromStrings("__name__", fmt.Sprintf("m%d", i%5), "job", fmt.Sprintf("j%d", i%10), "instance", fmt.Sprintf("host-%03d:9100", i%400), "i", fmt.Sprint(i))
		var samples []chunks.Sample
		for ts := int64(i % 7 * 1000); ts < span; ts += every {
			samples = append(samples, fsample{ts, float64(ts/every*int64(i%13)) + 0.5})
		}
		series = append(series, storage.NewListSeries(lset, samples))
	}
	for i := range 20 {
		lset := labels.FromStrings("__name__", "hist", "job", fmt.Sprintf("j%d", i%10), "i", fmt.Sprint(i))
		var samples []chunks.Sample
		for ts := int64(0); ts < span; ts += every {
			samples = append(samples, hsample{ts, tsdbutil.GenerateTestHistogram(ts / every * int64(i+1))})
		}
		series = append(series, storage.NewListSeries(lset, samples))
	}
	dir := t.TempDir()
	bdir, err := tsdb.CreateBlock(series, dir, 8*hour, logutil.Nop())
	require.NoError(t, err)
	b, err := tsdb.OpenBlock(nil, bdir, nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	if withTombstones {
		require.NoError(t, b.Delete(context.Background(), hour, 2*hour, labels.MustNewMatcher(labels.MatchEqual, "job", "j3")))
	}
	f := &fixture{t: t, bkt: bkt}
	f.upload("t1", bdir, b.Meta().ULID)
	return b
}

// expand returns every series of ss with its samples, in order.
func expand(t *testing.T, ss storage.SeriesSet) map[string][]chunks.Sample {
	out := map[string][]chunks.Sample{}
	for ss.Next() {
		s := ss.At()
		samples, err := storage.ExpandSamples(s.Iterator(nil), nil)
		require.NoError(t, err)
		out[s.Labels().String()] = samples
	}
	require.NoError(t, ss.Err())
	return out
}

// expandChunks returns every series of ss with the bytes of its chunks.
func expandChunks(t *testing.T, ss storage.ChunkSeriesSet) map[string][][]byte {
	out := map[string][][]byte{}
	for ss.Next() {
		s := ss.At()
		it := s.Iterator(nil)
		var chks [][]byte
		for it.Next() {
			m := it.At()
			chks = append(chks, append([]byte{byte(m.Chunk.Encoding())}, m.Chunk.Bytes()...))
		}
		require.NoError(t, it.Err())
		out[s.Labels().String()] = chks
	}
	require.NoError(t, ss.Err())
	return out
}

// TestRemoteBlockAnswersAsTheTSDB reads a block through its index header
// and range reads, and checks every answer against Prometheus' own reader
// of the same block on local disk.
func TestRemoteBlockAnswersAsTheTSDB(t *testing.T) {
	t.Run("without tombstones", func(t *testing.T) { testRemoteBlock(t, false) })
	t.Run("with tombstones", func(t *testing.T) { testRemoteBlock(t, true) })
}

func testRemoteBlock(t *testing.T, withTombstones bool) {
	ctx := context.Background()
	bkt := newFixture(t).bkt
	local := bigBlock(t, bkt, withTombstones)
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	dir := filepath.Join(t.TempDir(), "block")
	rb, err := openRemoteBlock(ctx, bkt, m, nil, "t1", local.Meta().ULID, dir)
	require.NoError(t, err)
	defer rb.Close()

	// Only the header (and the tombstones, which CreateBlock writes
	// empty when there are none) are on local disk, and it is a small part of the
	// index.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"index-header", "tombstones"}, names)
	require.Equal(t, withTombstones, rb.hasTombstones())
	indexSize := rb.header.size
	require.Less(t, rb.localBytes(), indexSize/3, "the header is the symbols and the postings offset table")

	matcherSets := [][]*labels.Matcher{
		{labels.MustNewMatcher(labels.MatchEqual, "__name__", "m1")},
		{labels.MustNewMatcher(labels.MatchRegexp, "job", "j[1-3]")},
		{labels.MustNewMatcher(labels.MatchRegexp, "__name__", "m.*"), labels.MustNewMatcher(labels.MatchNotEqual, "job", "j2")},
		{labels.MustNewMatcher(labels.MatchRegexp, "instance", ".*5:9100")},
		{labels.MustNewMatcher(labels.MatchEqual, "__name__", "m2"), labels.MustNewMatcher(labels.MatchEqual, "job", "")},
		{labels.MustNewMatcher(labels.MatchEqual, "nope", "x")},
		{labels.MustNewMatcher(labels.MatchNotEqual, "__name__", "")},
		{labels.MustNewMatcher(labels.MatchEqual, "__name__", "hist")},
		{labels.MustNewMatcher(labels.MatchEqual, "i", "1234")},
		{labels.MustNewMatcher(labels.MatchNotRegexp, "job", "j[0-8]"), labels.MustNewMatcher(labels.MatchEqual, "__name__", "m3")},
	}
	ranges := [][2]int64{{0, 3 * hour}, {hour / 2, hour + hour/3}, {-hour, 10}, {5 * hour, 6 * hour}}
	for _, r := range ranges {
		want, err := tsdb.NewBlockQuerier(local, r[0], r[1])
		require.NoError(t, err)
		got, err := tsdb.NewBlockQuerier(rb.view(ctx), r[0], r[1])
		require.NoError(t, err)
		wantC, err := tsdb.NewBlockChunkQuerier(local, r[0], r[1])
		require.NoError(t, err)
		gotC, err := tsdb.NewBlockChunkQuerier(rb.view(ctx), r[0], r[1])
		require.NoError(t, err)
		if withTombstones {
			// As the store-gateway queries such blocks: Prometheus'
			// own trimming panics on some of these ranges.
			want = untrimmedQuerier{want, r[0], r[1]}
			got = untrimmedQuerier{got, r[0], r[1]}
			wantC = untrimmedChunkQuerier{wantC, r[0], r[1]}
			gotC = untrimmedChunkQuerier{gotC, r[0], r[1]}
		}
		// Closed before the block (cleanups run last first), even when
		// the test fails: closing a block waits for its queriers.
		t.Cleanup(func() {
			for _, q := range []storage.LabelQuerier{want, got, wantC, gotC} {
				_ = q.Close()
			}
		})
		for _, ms := range matcherSets {
			w := expand(t, want.Select(ctx, true, nil, ms...))
			g := expand(t, got.Select(ctx, true, nil, ms...))
			require.Equal(t, w, g, "range %v matchers %v", r, ms)
			require.Equal(t, expandChunks(t, wantC.Select(ctx, true, nil, ms...)), expandChunks(t, gotC.Select(ctx, true, nil, ms...)), "chunks, range %v matchers %v", r, ms)

			wn, _, err := want.LabelNames(ctx, nil, ms...)
			require.NoError(t, err)
			gn, _, err := got.LabelNames(ctx, nil, ms...)
			require.NoError(t, err)
			require.Equal(t, wn, gn, "label names, matchers %v", ms)
			for _, name := range []string{"job", "instance", "__name__", "nope"} {
				wv, _, err := want.LabelValues(ctx, name, nil, ms...)
				require.NoError(t, err)
				gv, _, err := got.LabelValues(ctx, name, nil, ms...)
				require.NoError(t, err)
				if len(wv) == 0 { // nil or empty, as Prometheus' reader has it
					require.Empty(t, gv, "values of %s, matchers %v", name, ms)
				} else {
					require.Equal(t, wv, gv, "values of %s, matchers %v", name, ms)
				}
			}
		}
		wn, _, err := want.LabelNames(ctx, nil)
		require.NoError(t, err)
		gn, _, err := got.LabelNames(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, wn, gn)
		gv, _, err := got.LabelValues(ctx, "instance", &storage.LabelHints{Limit: 7})
		require.NoError(t, err)
		require.Len(t, gv, 7)
	}

	if withTombstones {
		// The tombstones apply, and the clipped samples are exactly those
		// of the range: job j3 has no samples in [1h, 2h], and samples in
		// [50m, 1h) and (2h, 130m].
		q, err := tsdb.NewBlockQuerier(rb.view(ctx), 50*hour/60, 130*hour/60)
		require.NoError(t, err)
		got := expand(t, untrimmedQuerier{q, 50 * hour / 60, 130 * hour / 60}.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchEqual, "job", "j3")))
		require.Len(t, got, 202) // 200 float and 2 histogram series
		for _, samples := range got {
			require.Len(t, samples, 40)
			for _, s := range samples {
				require.True(t, (s.T() >= 50*hour/60 && s.T() < hour) || (s.T() > 2*hour && s.T() <= 130*hour/60), "sample at %d", s.T())
			}
		}
		require.NoError(t, q.Close())
	}

	// A query of every series reads the series and chunks in few big
	// ranges (read-ahead), not one read per series.
	before := testutil.ToFloat64(m.bucketReads.WithLabelValues(sectionChunks))
	q, err := tsdb.NewBlockQuerier(rb.view(ctx), 0, 3*hour)
	require.NoError(t, err)
	require.Len(t, expand(t, q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))), 2020)
	require.NoError(t, q.Close())
	reads := testutil.ToFloat64(m.bucketReads.WithLabelValues(sectionChunks)) - before
	require.Less(t, reads, 100.0, "chunk reads for 2,020 series")
}

// countingBucket counts the range reads that reach the bucket.
type countingBucket struct {
	objstore.Bucket
	ranges atomic.Int64
}

func (c *countingBucket) GetRange(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.ranges.Add(1)
	return c.Bucket.GetRange(ctx, name, off, n)
}

// TestCachedRangesServeRepeatedQueries: with the in-memory cache, a
// repeated query, and a block loaded again after being unloaded, are
// served without reading the bucket.
func TestCachedRangesServeRepeatedQueries(t *testing.T) {
	f := newFixture(t)
	local := bigBlock(t, f.bkt, false)
	f.blocks["t1"] = []tsdb.BlockMeta{local.Meta()}
	f.writeIndex("t1")
	counting := &countingBucket{Bucket: f.bkt}
	var cc bucket.CacheConfig
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cc.RegisterFlagsWithPrefix(fs, "c.")
	require.NoError(t, fs.Parse([]string{"-c.backend=inmemory"}))
	cached, err := bucket.NewCachingBucket(counting, cc, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	defer cached.Close()

	sg := newSG(t, testConfig(t), cached)
	ctx := context.Background()
	run := func() map[string][]chunks.Sample {
		q, err := sg.Querier("t1", 0, 3*hour)
		require.NoError(t, err)
		defer q.Close()
		return expand(t, q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchRegexp, "job", "j[0-4]")))
	}
	first := run()
	require.Len(t, first, 1010)
	require.Positive(t, counting.ranges.Load())

	counting.ranges.Store(0)
	require.Equal(t, first, run())
	require.Zero(t, counting.ranges.Load(), "a repeated query reads nothing from the bucket")

	// Unload the block (as when it is idle); loading it again reads its
	// header from the cache too.
	var toClose []func() error
	sg.mu.Lock()
	for _, e := range sg.blocks {
		toClose = append(toClose, sg.unloadLocked(e, reasonEvicted))
	}
	sg.mu.Unlock()
	require.NoError(t, sg.runAll(toClose))
	require.Empty(t, sg.Loaded("t1"))
	require.Equal(t, first, run())
	require.Zero(t, counting.ranges.Load(), "a reloaded block reads nothing from the bucket")
}
