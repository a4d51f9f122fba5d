package compactor

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// uploadSidecars adds the metadata and exemplars files to a block in the
// bucket, as the ingester's shipper does before meta.json.
func (e *env) uploadSidecars(tenantID string, id ulid.ULID, md []bucketindex.MetricMetadata, ex []exemplar.QueryResult) {
	t := e.t
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, bucketindex.WriteLocalMetadata(dir, md))
	require.NoError(t, bucketindex.WriteLocalExemplars(dir, ex))
	for _, name := range []string{bucketindex.MetadataName, bucketindex.ExemplarsName} {
		f, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		require.NoError(t, e.bkt.Upload(context.Background(), path.Join(tenantID, id.String(), name), f))
		require.NoError(t, f.Close())
	}
}

func TestCompactionMergesMetadataAndExemplars(t *testing.T) {
	e := newEnv(t, nil)
	mint := e.dayStart(3) + 4*hour
	maxt := mint + 2*hour
	a := span("up", mint, maxt, 15_000, "job", "a")
	exA := func(trace string, ts int64) exemplar.Exemplar {
		return exemplar.Exemplar{Labels: labels.FromStrings("trace_id", trace), Value: 1, Ts: ts, HasTs: true}
	}
	// Two replicas of the same block, with overlapping exemplars and the
	// metadata each ingester knew; a third without either (an older weft).
	r1 := e.uploadBlock("t1", "ingester-1", mint, maxt, a)
	e.uploadSidecars("t1", r1, []bucketindex.MetricMetadata{{Metric: "up", Type: "gauge", Help: "Up."}},
		[]exemplar.QueryResult{{SeriesLabels: a.lset, Exemplars: []exemplar.Exemplar{exA("1", mint), exA("2", mint+1000)}}})
	r2 := e.uploadBlock("t1", "ingester-2", mint, maxt, a)
	e.uploadSidecars("t1", r2, []bucketindex.MetricMetadata{{Metric: "up", Type: "gauge", Help: "Up."}, {Metric: "other", Type: "counter"}},
		[]exemplar.QueryResult{{SeriesLabels: a.lset, Exemplars: []exemplar.Exemplar{exA("2", mint+1000), exA("3", mint+2000)}}})
	e.uploadBlock("t1", "ingester-3", mint, maxt, a)

	e.runOnce()
	live, _ := e.blocks("t1")
	require.Len(t, live, 1)
	md, err := bucketindex.ReadMetadata(context.Background(), e.bkt, "t1", live[0].ULID)
	require.NoError(t, err)
	require.Equal(t, []bucketindex.MetricMetadata{{Metric: "other", Type: "counter"}, {Metric: "up", Type: "gauge", Help: "Up."}}, md)
	ex, err := bucketindex.ReadExemplars(context.Background(), e.bkt, "t1", live[0].ULID)
	require.NoError(t, err)
	require.Equal(t, []exemplar.QueryResult{{SeriesLabels: a.lset, Exemplars: []exemplar.Exemplar{exA("1", mint), exA("2", mint+1000), exA("3", mint+2000)}}}, ex,
		"each exemplar once")

	// Deleting the sources deletes their files with them.
	e.advance(48 * 3600e9)
	e.runOnce()
	for _, id := range []ulid.ULID{r1, r2} {
		require.Empty(t, e.objects(path.Join("t1", id.String())+"/"))
	}
}

// A delete request takes the exemplars it covers along.
func TestDeleteRequestDeletesExemplars(t *testing.T) {
	e := newEnv(t, nil)
	mint := e.dayStart(2)
	maxt := mint + 2*hour
	a := span("up", mint, maxt, 60_000, "job", "a")
	b := span("up", mint, maxt, 60_000, "job", "b")
	exAt := func(ts int64) exemplar.Exemplar {
		return exemplar.Exemplar{Labels: labels.FromStrings("trace_id", "x"), Value: 1, Ts: ts, HasTs: true}
	}
	id := e.uploadBlock("t1", "ingester-1", mint, maxt, a, b)
	e.uploadSidecars("t1", id, []bucketindex.MetricMetadata{{Metric: "up", Type: "gauge"}}, []exemplar.QueryResult{
		{SeriesLabels: a.lset, Exemplars: []exemplar.Exemplar{exAt(mint), exAt(mint + hour + 1)}},
		{SeriesLabels: b.lset, Exemplars: []exemplar.Exemplar{exAt(mint)}},
	})
	ctx := context.Background()
	_, err := AddDeleteRequest(ctx, e.bkt, "t1", []string{`up{job="a"}`}, mint, mint+hour, e.now())
	require.NoError(t, err)
	e.runOnce()
	live, _ := e.blocks("t1")
	require.Len(t, live, 1)
	require.NotEqual(t, id, live[0].ULID, "the block was rewritten")
	ex, err := bucketindex.ReadExemplars(ctx, e.bkt, "t1", live[0].ULID)
	require.NoError(t, err)
	require.Equal(t, []exemplar.QueryResult{
		{SeriesLabels: a.lset, Exemplars: []exemplar.Exemplar{exAt(mint + hour + 1)}},
		{SeriesLabels: b.lset, Exemplars: []exemplar.Exemplar{exAt(mint)}},
	}, ex)
	md, err := bucketindex.ReadMetadata(ctx, e.bkt, "t1", live[0].ULID)
	require.NoError(t, err)
	require.Equal(t, []bucketindex.MetricMetadata{{Metric: "up", Type: "gauge"}}, md)
}
