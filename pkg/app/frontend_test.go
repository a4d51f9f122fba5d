package app

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/bucket"
	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/compactor"
	"github.com/weft-io/weft/pkg/limits"
)

// metricValue returns the value of an unlabelled metric on /metrics.
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatalf("no %s on /metrics", name)
	return 0
}

func rangeQuery(t *testing.T, base, tenantID, q string, start, end time.Time) string {
	t.Helper()
	params := url.Values{"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"15"}}
	req, err := http.NewRequest(http.MethodGet, base+"/prometheus/api/v1/query_range?"+params.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", tenantID)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Contains(t, resp.Header.Get("Server-Timing"), "eval;dur=")
	return string(b)
}

// In the all-in-one, range queries go through the query-frontend: a
// repeated one is served from its cache, and a series deletion through
// the process makes the tenant's next query compute again.
func TestAllInOneQueryFrontend(t *testing.T) {
	base := startApp(t)
	end := time.Now().Add(-20 * time.Minute).Truncate(time.Minute)
	start := end.Add(-30 * time.Minute)
	s := series(0, 0, "__name__", "fe_m", "job", "a")
	s.Samples = nil
	for at := start; !at.After(end); at = at.Add(15 * time.Second) {
		s.Samples = append(s.Samples, prompb.Sample{Timestamp: at.UnixMilli(), Value: float64(at.Unix() % 100)})
	}
	require.Equal(t, http.StatusNoContent, push(t, base, "t", ctV1, v1Body(t, s)).code)

	const computed = "weft_query_frontend_downstream_range_queries_total"
	first := rangeQuery(t, base, "t", "fe_m", start, end)
	require.Contains(t, first, `"job":"a"`)
	n := metricValue(t, base, computed)
	require.Positive(t, n)
	require.Equal(t, first, rangeQuery(t, base, "t", "fe_m", start, end))
	require.Equal(t, n, metricValue(t, base, computed), "served from the cache")

	req, err := http.NewRequest(http.MethodPost, base+"/prometheus/api/v1/admin/tsdb/delete_series?match[]=fe_m", nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", "t")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	rangeQuery(t, base, "t", "fe_m", start, end)
	require.Greater(t, metricValue(t, base, computed), n, "computed again after the deletion")
}

// The bucket's part of the cache generation: nothing without deletion
// requests or retention; with an old request, it changes when a block
// overlapping it changes, not for other blocks; and with every new
// request. With retention, it changes when the oldest block queriers read
// goes, not when newer blocks come.
func TestCacheGeneration(t *testing.T) {
	var bc bucket.Config
	bc.Backend = bucket.Filesystem
	bc.Filesystem.Dir = t.TempDir()
	bkt, err := bucket.New(bc, "test", nil, nil)
	require.NoError(t, err)
	cfg := &Config{}
	cfg.Querier.QueryIngestersWithin = 13 * time.Hour
	cfg.QueryFrontend.GenerationRefresh = time.Minute
	cfg.StoreGateway.IgnoreDeletionMarksDelay = time.Hour
	var lim limits.Limits
	retained := lim
	retained.CompactorBlocksRetention = model.Duration(30 * 24 * time.Hour)
	a := &App{cfg: cfg, bucket: bkt, overrides: limits.NewOverrides(lim, func() *limits.RuntimeConfig {
		return &limits.RuntimeConfig{Overrides: map[string]*limits.Limits{"r": &retained}}
	})}
	ctx := context.Background()
	genOf := func(tenantID string) string {
		t.Helper()
		g, err := a.cacheGeneration(ctx, tenantID)
		require.NoError(t, err)
		return g
	}
	gen := func() string { return genOf("t") }
	require.Empty(t, gen())

	old := time.Now().Add(-72 * time.Hour)
	_, err = compactor.AddDeleteRequest(ctx, bkt, "t", []string{`{job="x"}`}, old.Add(-time.Hour).UnixMilli(), old.UnixMilli(), old)
	require.NoError(t, err)
	g1 := gen()
	require.NotEmpty(t, g1)
	require.Equal(t, g1, gen())

	block := func(minT, maxT time.Time) bucketindex.Block {
		return bucketindex.Block{ID: ulid.MustNew(ulid.Now(), nil), MinTime: minT.UnixMilli(), MaxTime: maxT.UnixMilli()}
	}
	idx := &bucketindex.Index{Blocks: []bucketindex.Block{block(time.Now().Add(-2*time.Hour), time.Now())}}
	require.NoError(t, bucketindex.Write(ctx, bkt, "t", idx))
	require.Equal(t, g1, gen(), "a block outside the deletion's range")
	idx.Blocks = append(idx.Blocks, block(old.Add(-2*time.Hour), old.Add(-time.Hour/2)))
	require.NoError(t, bucketindex.Write(ctx, bkt, "t", idx))
	g2 := gen()
	require.NotEqual(t, g1, g2, "a block the deletion covers")

	_, err = compactor.AddDeleteRequest(ctx, bkt, "t", []string{`{job="y"}`}, old.UnixMilli(), time.Now().UnixMilli(), time.Now())
	require.NoError(t, err)
	require.NotEqual(t, g2, gen(), "a new deletion request")

	// Retention.
	oldest := block(old.Add(-4*time.Hour), old.Add(-2*time.Hour))
	ridx := &bucketindex.Index{Blocks: []bucketindex.Block{oldest, block(old, old.Add(2*time.Hour))}}
	require.NoError(t, bucketindex.Write(ctx, bkt, "r", ridx))
	r1 := genOf("r")
	require.NotEmpty(t, r1)
	ridx.Blocks = append(ridx.Blocks, block(time.Now().Add(-2*time.Hour), time.Now()))
	require.NoError(t, bucketindex.Write(ctx, bkt, "r", ridx))
	require.Equal(t, r1, genOf("r"), "a newer block")
	ridx.BlockDeletionMarks = []bucketindex.DeletionMark{{ID: oldest.ID, DeletionTime: time.Now().Unix(), Version: 1}}
	require.NoError(t, bucketindex.Write(ctx, bkt, "r", ridx))
	require.Equal(t, r1, genOf("r"), "marked, still read")
	ridx.BlockDeletionMarks[0].DeletionTime = time.Now().Add(-2 * time.Hour).Unix()
	require.NoError(t, bucketindex.Write(ctx, bkt, "r", ridx))
	require.NotEqual(t, r1, genOf("r"), "no longer read")
}
