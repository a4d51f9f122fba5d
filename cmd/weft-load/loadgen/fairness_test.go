package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RunFairness alternates the probe alone and under the flood, gives up the
// flood's queries at the end of each flood phase, and reports the probe's
// latency and queue time in each kind of phase.
func TestRunFairness(t *testing.T) {
	var flooding atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Scope-OrgID") {
		case "flood":
			// Queued until its client gives up.
			flooding.Add(1)
			defer flooding.Add(-1)
			<-r.Context().Done()
		case "probe":
			if flooding.Load() > 0 {
				time.Sleep(30 * time.Millisecond)
				w.Header().Set("Server-Timing", "queue;dur=2.000, split;dur=0.100, cache;dur=0.000, eval;dur=28.000")
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()

	cfg := FairnessConfig{URL: srv.URL + "/prometheus", FloodTenant: "flood", ProbeTenant: "probe",
		FloodExpr: "heavy", ProbeExpr: "light", FloodClients: 5, Phase: 300 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Rounds: 2, Range: time.Hour, Series: 1000}
	rep, err := RunFairness(context.Background(), cfg, nil)
	require.NoError(t, err)
	require.Positive(t, rep.Alone.Queries)
	require.Positive(t, rep.Flooded.Queries)
	require.Zero(t, rep.Alone.Failed+rep.Flooded.Failed)
	require.Less(t, rep.Alone.Latency.P50, 30*time.Millisecond)
	require.GreaterOrEqual(t, rep.Flooded.Latency.P50, 30*time.Millisecond)
	require.Equal(t, float64(rep.Flooded.Latency.P99)/float64(rep.Alone.Latency.P99), rep.P99Ratio)
	require.Zero(t, rep.Alone.QueueTime.P99.Round(time.Millisecond))
	require.InDelta(t, 2*time.Millisecond, rep.Flooded.QueueTime.P99, float64(100*time.Microsecond))
	require.Equal(t, int64(10), rep.FloodCancelled, "each flood client gives up its query at the end of each round")
	require.Zero(t, rep.FloodOK)
	var text bytes.Buffer
	rep.WriteText(&text)
	require.Contains(t, text.String(), "probe p99 flooded / alone")
}

func TestQueueTime(t *testing.T) {
	h := http.Header{}
	require.Zero(t, queueTime(h))
	h.Set("X-Weft-Queue-Time", "0.25")
	require.Equal(t, 250*time.Millisecond, queueTime(h), "the scheduler's header")
	h.Set("Server-Timing", "split;dur=1.5, queue;dur=12.500, eval;dur=3")
	require.Equal(t, 12500*time.Microsecond, queueTime(h), "the frontend's, first")
}
