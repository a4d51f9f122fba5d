package ingester

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

// pushCardinalitySeries pushes one sample of each series: http_requests
// {method=GET|POST, status=200|500} (4 series) and up{job=a|b|c} (3).
func pushCardinalitySeries(t *testing.T, ing *Ingester, tenantID string) {
	t.Helper()
	now := time.Now().UnixMilli()
	req := &wire.PushRequest{}
	add := func(ls labels.Labels) {
		req.Series = append(req.Series, wire.Series{Labels: ls, Samples: []wire.Sample{{T: now, V: 1}}})
	}
	for _, m := range []string{"GET", "POST"} {
		for _, s := range []string{"200", "500"} {
			add(labels.FromStrings("__name__", "http_requests", "method", m, "status", s))
		}
	}
	for _, j := range []string{"a", "b", "c"} {
		add(labels.FromStrings("__name__", "up", "job", j))
	}
	_, err := ing.Push(context.Background(), tenantID, req)
	require.NoError(t, err)
}

func TestTSDBStatus(t *testing.T) {
	ing := startIngester(t, testConfig(t, t.TempDir()), testOverrides(t), nil)
	ctx := context.Background()

	empty, err := ing.TSDBStatus(ctx, "nobody", 10)
	require.NoError(t, err)
	require.Equal(t, &wire.TSDBStatus{MinTime: math.MaxInt64, MaxTime: math.MinInt64}, empty)

	pushCardinalitySeries(t, ing, "a")
	pushSamples(t, ing, "b", "other", time.Now().UnixMilli(), time.Now().UnixMilli(), 1)

	st, err := ing.TSDBStatus(ctx, "a", 10)
	require.NoError(t, err)
	require.EqualValues(t, 7, st.NumSeries)
	require.EqualValues(t, 7, st.ChunkCount)
	require.LessOrEqual(t, st.MinTime, st.MaxTime)
	// Label pairs: __name__ x2, method x2, status x2, job x3.
	require.EqualValues(t, 9, st.NumLabelPairs)
	require.Equal(t, []wire.Stat{{Name: "http_requests", Value: 4}, {Name: "up", Value: 3}}, st.SeriesCountByMetricName)
	require.Contains(t, st.LabelValueCountByLabelName, wire.Stat{Name: "job", Value: 3})
	require.Contains(t, st.SeriesCountByLabelValuePair, wire.Stat{Name: "__name__=http_requests", Value: 4})

	top, err := ing.TSDBStatus(ctx, "a", 1)
	require.NoError(t, err)
	require.Equal(t, []wire.Stat{{Name: "http_requests", Value: 4}}, top.SeriesCountByMetricName)
}

func TestLabelCardinality(t *testing.T) {
	ing := startIngester(t, testConfig(t, t.TempDir()), testOverrides(t), nil)
	ctx := context.Background()
	pushCardinalitySeries(t, ing, "a")
	pushSamples(t, ing, "b", "other", time.Now().UnixMilli(), time.Now().UnixMilli(), 1)

	hashes := func(vs ...string) []uint64 {
		out := make([]uint64, len(vs))
		for i, v := range vs {
			out[i] = xxhash.Sum64String(v)
		}
		return out
	}

	t.Run("label names", func(t *testing.T) {
		lc, err := ing.LabelCardinality(ctx, "a", &wire.CardinalityRequest{})
		require.NoError(t, err)
		require.Equal(t, &wire.LabelCardinality{SeriesCount: 7, Labels: []wire.LabelStats{
			{Name: "__name__", ValueHashes: hashes("http_requests", "up")},
			{Name: "job", ValueHashes: hashes("a", "b", "c")},
			{Name: "method", ValueHashes: hashes("GET", "POST")},
			{Name: "status", ValueHashes: hashes("200", "500")},
		}}, lc)
	})
	t.Run("label names with a selector", func(t *testing.T) {
		lc, err := ing.LabelCardinality(ctx, "a", &wire.CardinalityRequest{Matchers: []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchEqual, "__name__", "http_requests"),
			labels.MustNewMatcher(labels.MatchEqual, "status", "500"),
		}})
		require.NoError(t, err)
		require.Equal(t, &wire.LabelCardinality{SeriesCount: 2, Labels: []wire.LabelStats{
			{Name: "__name__", ValueHashes: hashes("http_requests")},
			{Name: "method", ValueHashes: hashes("GET", "POST")},
			{Name: "status", ValueHashes: hashes("500")},
		}}, lc)
	})
	t.Run("label values", func(t *testing.T) {
		lc, err := ing.LabelCardinality(ctx, "a", &wire.CardinalityRequest{LabelNames: []string{"__name__", "job", "missing"}})
		require.NoError(t, err)
		require.Equal(t, &wire.LabelCardinality{SeriesCount: 7, Labels: []wire.LabelStats{
			{Name: "__name__", SeriesCount: 7, Values: []wire.Stat{{Name: "http_requests", Value: 4}, {Name: "up", Value: 3}}},
			{Name: "job", SeriesCount: 3, Values: []wire.Stat{{Name: "a", Value: 1}, {Name: "b", Value: 1}, {Name: "c", Value: 1}}},
			{Name: "missing", Values: []wire.Stat{}},
		}}, lc)
	})
	t.Run("label values with a selector", func(t *testing.T) {
		lc, err := ing.LabelCardinality(ctx, "a", &wire.CardinalityRequest{
			Matchers:   []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "method", "GET")},
			LabelNames: []string{"status", "__name__"},
		})
		require.NoError(t, err)
		require.Equal(t, &wire.LabelCardinality{SeriesCount: 2, Labels: []wire.LabelStats{
			{Name: "status", SeriesCount: 2, Values: []wire.Stat{{Name: "200", Value: 1}, {Name: "500", Value: 1}}},
			{Name: "__name__", SeriesCount: 2, Values: []wire.Stat{{Name: "http_requests", Value: 2}}},
		}}, lc)
	})
	t.Run("another tenant", func(t *testing.T) {
		lc, err := ing.LabelCardinality(ctx, "b", &wire.CardinalityRequest{LabelNames: []string{"__name__"}})
		require.NoError(t, err)
		require.Equal(t, &wire.LabelCardinality{SeriesCount: 1, Labels: []wire.LabelStats{
			{Name: "__name__", SeriesCount: 1, Values: []wire.Stat{{Name: "other", Value: 1}}},
		}}, lc)
		lc, err = ing.LabelCardinality(ctx, "nobody", &wire.CardinalityRequest{})
		require.NoError(t, err)
		require.Equal(t, &wire.LabelCardinality{}, lc)
	})
}
