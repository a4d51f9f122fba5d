package distributor

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// With the global strategy each distributor enforces its share of the
// tenant's rate and burst, and the share follows the number of
// distributors as it changes.
func TestGlobalIngestionRate(t *testing.T) {
	d := testDistributor(t, &capturePusher{}, "-distributor.ingestion-rate-limit=10", "-distributor.ingestion-burst-size=8")
	n := 2
	d.distributors = func() int { return n }
	now := time.Now()
	d.now = func() time.Time { return now }
	body := func(k int) []byte {
		series := make([][]string, k)
		for i := range series {
			series[i] = []string{"__name__", fmt.Sprintf("m%d", i)}
		}
		return v1Body(t, series...)
	}

	// Two distributors: a burst of 4 here.
	a := doPush(t, d, http.MethodPost, "t", nil, body(5))
	require.Equal(t, http.StatusTooManyRequests, a.code)
	require.Contains(t, a.error, errIDRateLimited)
	require.Contains(t, a.error, "cluster-wide ingestion rate limit of 10 samples/s with burst 8, shared by 2 distributors")
	require.Equal(t, http.StatusNoContent, doPush(t, d, http.MethodPost, "t", nil, body(4)).code)
	require.Equal(t, http.StatusTooManyRequests, doPush(t, d, http.MethodPost, "t", nil, body(1)).code, "the local burst is spent")
	// 5 samples/s here: one second refills 5.
	now = now.Add(time.Second)
	require.Equal(t, http.StatusTooManyRequests, doPush(t, d, http.MethodPost, "t", nil, body(5)).code, "over the local burst of 4")
	require.Equal(t, http.StatusNoContent, doPush(t, d, http.MethodPost, "t", nil, body(4)).code)

	// Alone: the whole rate and burst (the tokens held when the share
	// changed stay capped at the old burst until they refill).
	n = 1
	now = now.Add(time.Second)
	require.Equal(t, http.StatusNoContent, doPush(t, d, http.MethodPost, "t", nil, body(4)).code)
	now = now.Add(time.Second)
	require.Equal(t, http.StatusNoContent, doPush(t, d, http.MethodPost, "t", nil, body(8)).code)
	// Four distributors: a burst of 2 here.
	n = 4
	now = now.Add(10 * time.Second)
	require.Equal(t, http.StatusTooManyRequests, doPush(t, d, http.MethodPost, "t", nil, body(3)).code)
	require.Equal(t, http.StatusNoContent, doPush(t, d, http.MethodPost, "t", nil, body(2)).code)
}

func TestLocalShare(t *testing.T) {
	f := func(rt float64, burst, n int, wantRate float64, wantBurst int) {
		t.Helper()
		r, b := localShare(rt, burst, n)
		require.InDelta(t, wantRate, float64(r), 1e-9)
		require.Equal(t, wantBurst, b)
	}
	f(100, 1000, 1, 100, 1000)
	f(100, 1000, 3, 33.333333333, 333)
	f(1, 1, 4, 0.25, 1)
}
