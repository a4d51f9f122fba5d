package scheduler

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchmarkRoundTrip sends queries through rt to a handler that answers
// 64 KiB, as a small range query's JSON: the scheduler's cost per query.
func benchmarkRoundTrip(b *testing.B, rt http.RoundTripper) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, "http://weft/prometheus/api/v1/query_range?query=up&start=0&end=3600&step=15", nil)
			req.Header.Set("X-Scope-OrgID", "t")
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

var answer = strings.Repeat("x", 64<<10)

func benchHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	})
}

// BenchmarkRoundTripLocal is the all-in-one's path: RoundTripper,
// scheduler and worker in one process.
func BenchmarkRoundTripLocal(b *testing.B) {
	s := New(newOverrides(nil, nil), nil, nil, nil)
	w := NewLocalWorker(WorkerConfig{QuerierID: "q", Parallelism: 4}, s, benchHandler(), nil)
	startBench(b, s, w)
	benchmarkRoundTrip(b, NewRoundTripper(s, resolver()))
}

// BenchmarkRoundTripGRPC is the distributed path, over loopback gRPC.
func BenchmarkRoundTripGRPC(b *testing.B) {
	s := New(newOverrides(nil, nil), nil, nil, nil)
	addr := serveGRPCB(b, s)
	w := NewWorker(WorkerConfig{QuerierID: "q", Parallelism: 4}, static(addr), benchHandler(), nil)
	startBench(b, s, w)
	c := NewClient(static(addr))
	b.Cleanup(c.Close)
	benchmarkRoundTrip(b, NewRoundTripper(c, resolver()))
}

func startBench(b *testing.B, s *Scheduler, w *Worker) {
	ctx := context.Background()
	require.NoError(b, s.StartAsync(ctx))
	require.NoError(b, s.AwaitRunning(ctx))
	require.NoError(b, w.StartAsync(ctx))
	require.NoError(b, w.AwaitRunning(ctx))
	b.Cleanup(func() {
		w.StopAsync()
		_ = w.AwaitTerminated(ctx)
		s.StopAsync()
		_ = s.AwaitTerminated(ctx)
	})
}
