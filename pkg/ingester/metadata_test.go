package ingester

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/wire"
)

func TestMetadataLogReplaysWhatWasWrittenWithoutAClose(t *testing.T) {
	dir := t.TempDir()
	s, err := openMetadataStore(dir)
	require.NoError(t, err)
	require.NoError(t, s.set([]wire.Metadata{
		{MetricFamily: "b_total", Type: "counter", Help: "B."},
		{MetricFamily: "a", Type: "gauge", Help: "A.", Unit: "seconds"},
	}))
	require.NoError(t, s.set([]wire.Metadata{{MetricFamily: "b_total", Type: "counter", Help: "B, changed."}}))
	// No close: as after a kill -9, the log holds what each set wrote.
	r, err := openMetadataStore(dir)
	require.NoError(t, err)
	defer r.close()
	require.Equal(t, []wire.Metadata{
		{MetricFamily: "a", Type: "gauge", Help: "A.", Unit: "seconds"},
		{MetricFamily: "b_total", Type: "counter", Help: "B, changed."},
	}, r.get("", 0))
	require.NoError(t, s.close())
	require.NoError(t, s.close(), "close is safe twice")
}

func TestMetadataLogDropsATornLastLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, metadataLogName)
	require.NoError(t, os.WriteFile(p, []byte(`{"metric":"a","type":"gauge"}`+"\n"+`{"metric":"b","ty`), 0o644))
	s, err := openMetadataStore(dir)
	require.NoError(t, err)
	require.NoError(t, s.set([]wire.Metadata{{MetricFamily: "c", Type: "counter"}}))
	require.NoError(t, s.close())
	s, err = openMetadataStore(dir)
	require.NoError(t, err)
	defer s.close()
	require.Equal(t, []wire.Metadata{{MetricFamily: "a", Type: "gauge"}, {MetricFamily: "c", Type: "counter"}}, s.get("", 0))
}

func TestMetadataLogWritesOnlyChangesAndIsRewrittenWhenMostlySuperseded(t *testing.T) {
	dir := t.TempDir()
	s, err := openMetadataStore(dir)
	require.NoError(t, err)
	defer s.close()
	md := []wire.Metadata{{MetricFamily: "a", Type: "gauge"}}
	for range 10 {
		require.NoError(t, s.set(md))
	}
	b, err := os.ReadFile(filepath.Join(dir, metadataLogName))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(b), "\n"), "an unchanged family is not written again")

	for i := range 3 * metadataLogSlack {
		require.NoError(t, s.set([]wire.Metadata{{MetricFamily: "a", Type: "gauge", Help: fmt.Sprint(i)}}))
	}
	b, err = os.ReadFile(filepath.Join(dir, metadataLogName))
	require.NoError(t, err)
	require.LessOrEqual(t, strings.Count(string(b), "\n"), metadataLogSlack+3)
	r, err := openMetadataStore(dir)
	require.NoError(t, err)
	defer r.close()
	require.Equal(t, []wire.Metadata{{MetricFamily: "a", Type: "gauge", Help: fmt.Sprint(3*metadataLogSlack - 1)}}, r.get("a", 0))
}

func TestIngesterMetadataSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	ing := startIngester(t, testConfig(t, dir), testOverrides(t), nil)
	// A metadata-only push, as remote write 1.0 sends it.
	_, err := ing.Push(context.Background(), "t1", &wire.PushRequest{Metadata: []wire.Metadata{{MetricFamily: "up", Type: "gauge", Help: "Up."}}})
	require.NoError(t, err)
	require.NoError(t, stopIngester(ing))

	ing = startIngester(t, testConfig(t, dir), testOverrides(t), nil)
	md, err := ing.Metadata(context.Background(), "t1", "", 0)
	require.NoError(t, err)
	require.Equal(t, []wire.Metadata{{MetricFamily: "up", Type: "gauge", Help: "Up."}}, md)
}

// A shipped block carries into the bucket the metadata of the families
// that have series in it, and the exemplars of its range.
func TestShippedBlocksCarryMetadataAndExemplars(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	cfg := testConfig(t, t.TempDir(), "-ingester.tsdb.ship-interval=1h", "-ingester.tsdb.head-compaction-interval=1h")
	ing := startIngester(t, cfg, testOverrides(t), bkt)
	ctx := context.Background()
	base := time.Now().Add(-3 * time.Hour).Truncate(2 * time.Hour).UnixMilli()
	hist := labels.FromStrings("__name__", "lat_seconds_count", "job", "j")
	ctr := labels.FromStrings("__name__", "req_total", "job", "j")
	trace := labels.FromStrings("trace_id", "abc")
	req := &wire.PushRequest{
		Series: []wire.Series{
			{Labels: hist, Samples: []wire.Sample{{T: base, V: 1}, {T: base + 1000, V: 2}}},
			{Labels: ctr, Samples: []wire.Sample{{T: base, V: 1}, {T: base + 1000, V: 2}},
				Exemplars: []wire.Exemplar{{Labels: trace, V: 2, T: base + 1000}}},
		},
		Metadata: []wire.Metadata{
			{MetricFamily: "lat_seconds", Type: "histogram", Help: "Latency."},
			{MetricFamily: "req_total", Type: "counter", Help: "Requests."},
			{MetricFamily: "no_series", Type: "gauge"},
		},
	}
	_, err := ing.Push(ctx, "t1", req)
	require.NoError(t, err)
	require.NoError(t, ing.Flush(ctx))
	blocks := ing.get("t1").db.Blocks()
	require.Len(t, blocks, 1)
	id := blocks[0].Meta().ULID

	md, err := bucketindex.ReadMetadata(ctx, bkt, "t1", id)
	require.NoError(t, err)
	require.Equal(t, []bucketindex.MetricMetadata{
		{Metric: "lat_seconds", Type: "histogram", Help: "Latency."},
		{Metric: "req_total", Type: "counter", Help: "Requests."},
	}, md, "the families with series in the block, a histogram's by its _count series")
	ex, err := bucketindex.ReadExemplars(ctx, bkt, "t1", id)
	require.NoError(t, err)
	require.Equal(t, []exemplar.QueryResult{{SeriesLabels: ctr, Exemplars: []exemplar.Exemplar{{Labels: trace, Value: 2, Ts: base + 1000, HasTs: true}}}}, ex)
}

func TestMetadataNotPushedForLongIsForgotten(t *testing.T) {
	dir := t.TempDir()
	s, err := openMetadataStore(dir)
	require.NoError(t, err)
	defer s.close()
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }
	require.NoError(t, s.set([]wire.Metadata{{MetricFamily: "a", Type: "gauge"}, {MetricFamily: "b", Type: "gauge"}}))
	now = now.Add(2 * time.Hour)
	require.NoError(t, s.set([]wire.Metadata{{MetricFamily: "b", Type: "gauge"}}), "unchanged, but pushed again")
	n, err := s.prune(now.Add(-time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []wire.Metadata{{MetricFamily: "b", Type: "gauge"}}, s.get("", 0))

	r, err := openMetadataStore(dir)
	require.NoError(t, err)
	defer r.close()
	require.Equal(t, []wire.Metadata{{MetricFamily: "b", Type: "gauge"}}, r.get("", 0), "the log forgot it too")
}
