package app

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// In the all-in-one, old data is read from the bucket through the embedded
// store-gateway once the ingester shipped it, each sample once, after the
// compactor deduplicated and compacted the blocks.
func TestAllInOneReadsOldDataFromTheBucket(t *testing.T) {
	dir := t.TempDir()
	base := startApp(t,
		"-ingester.tsdb.block-ranges-period=1m", "-ingester.tsdb.ship-interval=200ms", "-ingester.tsdb.head-compaction-interval=200ms",
		"-querier.query-ingesters-within=90s", "-querier.query-store-after=60s",
		"-store-gateway.sync-interval=200ms", "-store-gateway.cache.backend=inmemory",
		"-compactor.block-ranges=1m,3m", "-compactor.compaction-interval=500ms", "-compactor.cleanup-interval=500ms", "-compactor.consistency-delay=0s",
		"-compactor.data-dir="+filepath.Join(dir, "compactor"), "-bucket.filesystem.dir="+filepath.Join(dir, "bucket"),
	)
	now := time.Now().Truncate(time.Minute)
	from := now.Add(-6 * time.Minute)
	var ts []prompb.Sample
	for t0 := from; t0.Before(now); t0 = t0.Add(10 * time.Second) {
		ts = append(ts, prompb.Sample{Timestamp: t0.UnixMilli(), Value: float64(t0.Unix())})
	}
	s := series(0, 0, "__name__", "old_metric", "job", "x")
	s.Samples = ts
	require.Equal(t, 204, push(t, base, "t", ctV1, v1Body(t, s)).code)

	// Samples older than the ingesters' window come from the store only.
	q := fmt.Sprintf(`count_over_time(old_metric[%ds] @ %d)`, int((5*time.Minute)/time.Second), now.Add(-2*time.Minute).Unix())
	// (now-7m, now-2m] holds the samples from now-6m to now-2m.
	want := fmt.Sprint(int((4*time.Minute)/(10*time.Second)) + 1)
	require.Eventually(t, func() bool {
		code, ans := query(t, base, "t", q)
		return code == 200 && vectorValue(t, ans) == want
	}, 30*time.Second, 200*time.Millisecond, "old samples are read from the bucket's blocks")

	// The compactor merged the shipped 1m blocks into 3m blocks and wrote
	// the bucket index the store-gateways read.
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "bucket", "t", "bucket-index.json.gz"))
		return err == nil
	}, 20*time.Second, 100*time.Millisecond)
	code, ans := query(t, base, "t", q)
	require.Equal(t, 200, code, ans)
	require.Equal(t, want, vectorValue(t, ans), "each sample once after compaction")
}

func TestDeleteSeriesRequestIsRecorded(t *testing.T) {
	base := startApp(t)
	form := url.Values{"match[]": {`{job="x"}`}}
	req, _ := http.NewRequest(http.MethodPost, base+"/prometheus/api/v1/admin/tsdb/delete_series?"+form.Encode(), nil)
	req.Header.Set("X-Scope-OrgID", "t")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	req, _ = http.NewRequest(http.MethodPost, base+"/prometheus/api/v1/admin/tsdb/delete_series", nil)
	req.Header.Set("X-Scope-OrgID", "t")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a delete request needs match[]")
}

// Deleting a tenant marks it; the compactor then deletes its blocks after
// the tenant deletion delay, and the status says so.
func TestDeleteTenant(t *testing.T) {
	dir := t.TempDir()
	base := startApp(t, "-ingester.tsdb.block-ranges-period=1m", "-ingester.tsdb.ship-interval=200ms", "-ingester.tsdb.head-compaction-interval=200ms",
		"-compactor.compaction-interval=300ms", "-compactor.cleanup-interval=300ms", "-compactor.tenant-deletion-delay=0s",
		"-bucket.filesystem.dir="+filepath.Join(dir, "bucket"))
	now := time.Now().Truncate(time.Minute)
	s := series(0, 0, "__name__", "m")
	s.Samples = nil
	for t0 := now.Add(-4 * time.Minute); t0.Before(now); t0 = t0.Add(10 * time.Second) {
		s.Samples = append(s.Samples, prompb.Sample{Timestamp: t0.UnixMilli(), Value: 1})
	}
	require.Equal(t, 204, push(t, base, "doomed", ctV1, v1Body(t, s)).code)
	require.Equal(t, 204, push(t, base, "kept", ctV1, v1Body(t, s)).code)
	blocks := func(tenantID string) int {
		m, _ := filepath.Glob(filepath.Join(dir, "bucket", tenantID, "*", "meta.json"))
		return len(m)
	}
	require.Eventually(t, func() bool { return blocks("doomed") > 0 && blocks("kept") > 0 }, 20*time.Second, 100*time.Millisecond)

	do := func(method string) (int, string) {
		req, _ := http.NewRequest(method, base+"/compactor/delete_tenant", nil)
		req.Header.Set("X-Scope-OrgID", "doomed")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := do(http.MethodPost)
	require.Equal(t, http.StatusAccepted, code)
	require.Eventually(t, func() bool {
		_, body := do(http.MethodGet)
		return blocks("doomed") == 0 && strings.Contains(body, `"blocks_deleted":true`)
	}, 20*time.Second, 100*time.Millisecond)
	require.Positive(t, blocks("kept"), "other tenants keep their blocks")
}
