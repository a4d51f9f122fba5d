package bucketindex

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

func ex(trace string, v float64, ts int64) exemplar.Exemplar {
	return exemplar.Exemplar{Labels: labels.FromStrings("trace_id", trace), Value: v, Ts: ts, HasTs: true}
}

func TestMetadataFileRoundTripsThroughTheBucket(t *testing.T) {
	ctx := context.Background()
	for name, bkt := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			got, err := ReadLocalMetadata(dir)
			require.NoError(t, err)
			require.Empty(t, got, "a block without the file has no metadata")
			md := []MetricMetadata{{Metric: "b", Type: "gauge"}, {Metric: "a", Type: "counter", Help: "A.", Unit: "seconds"}}
			require.NoError(t, WriteLocalMetadata(dir, md))
			require.NoError(t, os.WriteFile(filepath.Join(dir, MetaName), []byte(`{}`), 0o644))
			require.NoError(t, UploadBlock(ctx, bkt, "t", dir, id(1), nil))
			got, err = ReadMetadata(ctx, bkt, "t", id(1))
			require.NoError(t, err)
			require.Equal(t, []MetricMetadata{{Metric: "a", Type: "counter", Help: "A.", Unit: "seconds"}, {Metric: "b", Type: "gauge"}}, got)
			got, err = ReadMetadata(ctx, bkt, "t", id(2))
			require.NoError(t, err)
			require.Empty(t, got)
		})
	}
}

func TestMergeMetadataKeepsTheNewestDescription(t *testing.T) {
	got := MergeMetadata(
		[]MetricMetadata{{Metric: "a", Help: "old"}, {Metric: "c", Help: "c"}},
		[]MetricMetadata{{Metric: "a", Help: "new"}, {Metric: "b", Help: "b"}},
	)
	require.Equal(t, []MetricMetadata{{Metric: "a", Help: "new"}, {Metric: "b", Help: "b"}, {Metric: "c", Help: "c"}}, got)
}

func TestFamilyCandidates(t *testing.T) {
	require.Equal(t, []string{"x"}, FamilyCandidates("x"))
	require.Equal(t, []string{"x_bucket", "x"}, FamilyCandidates("x_bucket"))
	require.Equal(t, []string{"http_requests_total", "http_requests"}, FamilyCandidates("http_requests_total"))
	require.Equal(t, []string{"_sum"}, FamilyCandidates("_sum"))
}

func TestExemplarsFileRoundTrips(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteLocalExemplars(dir, nil))
	require.NoFileExists(t, filepath.Join(dir, ExemplarsName), "no exemplars, no file")
	in := []exemplar.QueryResult{
		{SeriesLabels: labels.FromStrings("__name__", "b"), Exemplars: []exemplar.Exemplar{ex("2", math.Inf(1), 20), ex("1", 1.5, 10)}},
		{SeriesLabels: labels.FromStrings("__name__", "a"), Exemplars: []exemplar.Exemplar{ex("3", math.NaN(), 5)}},
	}
	require.NoError(t, WriteLocalExemplars(dir, in))
	got, err := ReadLocalExemplars(dir)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[0].SeriesLabels.Get("__name__"))
	require.True(t, math.IsNaN(got[0].Exemplars[0].Value))
	require.Equal(t, []exemplar.Exemplar{ex("1", 1.5, 10), ex("2", math.Inf(1), 20)}, got[1].Exemplars, "sorted by time")

	bkt := objstore.NewInMemBucket()
	require.NoError(t, os.WriteFile(filepath.Join(dir, MetaName), []byte(`{}`), 0o644))
	require.NoError(t, UploadBlock(context.Background(), bkt, "t", dir, id(1), nil))
	fromBucket, err := ReadExemplars(context.Background(), bkt, "t", id(1))
	require.NoError(t, err)
	require.Equal(t, got[1], fromBucket[1])
}

func TestMergeExemplarsDeduplicatesReplicasAndKeepsTheNewest(t *testing.T) {
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")
	replica1 := []exemplar.QueryResult{{SeriesLabels: a, Exemplars: []exemplar.Exemplar{ex("1", 1, 10), ex("2", 2, 20)}}}
	replica2 := []exemplar.QueryResult{
		{SeriesLabels: a, Exemplars: []exemplar.Exemplar{ex("2", 2, 20), ex("3", 3, 30)}},
		{SeriesLabels: b, Exemplars: []exemplar.Exemplar{ex("4", 4, 15)}},
	}
	got := MergeExemplars(0, replica1, replica2)
	require.Equal(t, []exemplar.QueryResult{
		{SeriesLabels: a, Exemplars: []exemplar.Exemplar{ex("1", 1, 10), ex("2", 2, 20), ex("3", 3, 30)}},
		{SeriesLabels: b, Exemplars: []exemplar.Exemplar{ex("4", 4, 15)}},
	}, got)

	got = MergeExemplars(2, replica1, replica2)
	require.Equal(t, []exemplar.QueryResult{
		{SeriesLabels: a, Exemplars: []exemplar.Exemplar{ex("2", 2, 20), ex("3", 3, 30)}},
	}, got, "the limit keeps the newest exemplars")
}

func TestFilterExemplars(t *testing.T) {
	a := labels.FromStrings("__name__", "a", "job", "x")
	b := labels.FromStrings("__name__", "b", "job", "y")
	res := []exemplar.QueryResult{
		{SeriesLabels: a, Exemplars: []exemplar.Exemplar{ex("1", 1, 10), ex("2", 2, 20)}},
		{SeriesLabels: b, Exemplars: []exemplar.Exemplar{ex("3", 3, 15)}},
	}
	got := FilterExemplars(res, 15, 30, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "job", "x")})
	require.Equal(t, []exemplar.QueryResult{{SeriesLabels: a, Exemplars: []exemplar.Exemplar{ex("2", 2, 20)}}}, got)
	require.Len(t, FilterExemplars(res, 0, 100), 2)
}
