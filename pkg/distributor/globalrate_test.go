package distributor

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// readCounter counts the reads of a request body.
type readCounter struct {
	r     io.Reader
	reads int
}

func (c *readCounter) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// A tenant over its rate is refused before its body is read, from the
// size of its last push; once the limiter has room for such a push, its
// pushes are read again.
func TestOverRateRefusedBeforeReading(t *testing.T) {
	d := testDistributor(t, &capturePusher{}, "-distributor.ingestion-rate-limit=10", "-distributor.ingestion-burst-size=10")
	now := time.Now()
	d.now = func() time.Time { return now }
	series := make([][]string, 4)
	for i := range series {
		series[i] = []string{"__name__", fmt.Sprintf("m%d", i)}
	}
	body := v1Body(t, series...)
	push := func() (int, int) {
		rc := &readCounter{r: bytes.NewReader(body)}
		w := httptest.NewRecorder()
		d.ServeHTTP(w, pushRequest(rc, int64(len(body))))
		return w.Code, rc.reads
	}
	code, reads := push()
	require.Equal(t, http.StatusNoContent, code)
	require.NotZero(t, reads)
	code, _ = push()
	require.Equal(t, http.StatusNoContent, code) // 2 tokens left
	code, reads = push()
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Zero(t, reads, "refused before reading")
	now = now.Add(200 * time.Millisecond) // 4 tokens
	code, reads = push()
	require.Equal(t, http.StatusNoContent, code)
	require.NotZero(t, reads)
}
