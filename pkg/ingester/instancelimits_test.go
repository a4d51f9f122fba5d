package ingester

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

func pushSeries(ing *Ingester, tenantID string, ts int64, names ...string) (wire.PushResult, error) {
	req := &wire.PushRequest{}
	for _, n := range names {
		req.Series = append(req.Series, wire.Series{Labels: labels.FromStrings("__name__", n), Samples: []wire.Sample{{T: ts, V: 1}}})
	}
	return ing.Push(context.Background(), tenantID, req)
}

func requireInstanceLimit(t *testing.T, err error, id string) {
	t.Helper()
	var we *wire.Error
	require.ErrorAs(t, err, &we)
	require.Equal(t, wire.KindUnavailable, we.Kind, "an instance limit is not the tenant's fault: retryable")
	require.Equal(t, id, we.ID)
}

// The limit of series holds over all tenants; existing series keep
// taking samples; a restart replays every series of the WAL, even over a
// lowered limit, and only new series are refused.
func TestInstanceMaxSeries(t *testing.T) {
	dir := t.TempDir()
	lim := testOverrides(t)
	ing := startIngester(t, testConfig(t, dir, "-ingester.instance-limits.max-series=3"), lim, nil)
	now := time.Now().UnixMilli()
	_, err := pushSeries(ing, "a", now, "a1", "a2")
	require.NoError(t, err)
	res, err := pushSeries(ing, "b", now, "b1", "b2")
	requireInstanceLimit(t, err, errIDInstanceMaxSeries)
	require.Contains(t, err.Error(), "-ingester.instance-limits.max-series")
	require.Equal(t, 1, res.Samples, "b1 was created, b2 refused")
	require.Equal(t, 1.0, testutil.ToFloat64(ing.inst.rejected.WithLabelValues(limitMaxSeries)))
	_, err = pushSeries(ing, "a", now+1000, "a1", "a2")
	require.NoError(t, err, "existing series take samples at the limit")
	require.Equal(t, int64(3), ing.inst.series.Load())

	require.NoError(t, stopIngester(ing))
	require.Zero(t, ing.inst.series.Load(), "the series of closed TSDBs leave the count (a TSDB reopened after a WAL failure counts them again)")
	ing = startIngester(t, testConfig(t, dir, "-ingester.instance-limits.max-series=1"), lim, nil)
	require.Equal(t, int64(3), ing.inst.series.Load(), "the WAL replay is never refused")
	require.Equal(t, 2, countSamples(t, ing, "a", "a1", 0, now+2000))
	_, err = pushSeries(ing, "b", now+2000, "b1")
	require.NoError(t, err)
	_, err = pushSeries(ing, "c", now+2000, "c1")
	requireInstanceLimit(t, err, errIDInstanceMaxSeries)
}

func TestInstanceMaxTenants(t *testing.T) {
	ing := startIngester(t, testConfig(t, t.TempDir(), "-ingester.instance-limits.max-tenants=1"), testOverrides(t), nil)
	now := time.Now().UnixMilli()
	_, err := pushSeries(ing, "a", now, "m")
	require.NoError(t, err)
	_, err = pushSeries(ing, "b", now, "m")
	requireInstanceLimit(t, err, errIDInstanceMaxTenants)
	require.Contains(t, err.Error(), "tenant b")
	_, err = pushSeries(ing, "a", now+1000, "m2")
	require.NoError(t, err, "a tenant it holds pushes on")
	require.Equal(t, 1.0, testutil.ToFloat64(ing.inst.rejected.WithLabelValues(limitMaxTenants)))
}

func TestInstanceMaxInflightPushRequests(t *testing.T) {
	ing := startIngester(t, testConfig(t, t.TempDir(), "-ingester.instance-limits.max-inflight-push-requests=2"), testOverrides(t), nil)
	now := time.Now().UnixMilli()
	// Two pushes in flight already.
	ing.inst.inflight.Store(2)
	_, err := pushSeries(ing, "a", now, "m")
	requireInstanceLimit(t, err, errIDInstanceMaxInflight)
	require.Equal(t, int64(2), ing.inst.inflight.Load(), "the refused push is not counted")
	ing.inst.inflight.Store(1)
	_, err = pushSeries(ing, "a", now, "m")
	require.NoError(t, err)
	require.Equal(t, int64(1), ing.inst.inflight.Load())
	require.Equal(t, 1.0, testutil.ToFloat64(ing.inst.rejected.WithLabelValues(limitMaxInflight)))
}
