package ingester

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/wire"
)

// BenchmarkPushWALSync is the cost of -ingester.wal-sync-before-ack:
// pushes of 500 and of 2,000 series with one sample each (2,000 is
// Prometheus' default max_samples_per_send, and the requests of
// scripts/bench-ingest.sh) into one tenant's real TSDB in a temporary
// directory, by 1 and by 16 concurrent pushers, with the option off and
// on, next to each other so that both see the same load of the machine.
// With it on, concurrent pushes share fsyncs, reported as pushes/sync,
// with the mean time of a sync.
func BenchmarkPushWALSync(b *testing.B) {
	for _, samples := range []int{500, 2000} {
		for _, pushers := range []int{1, 16} {
			for _, syncOn := range []bool{false, true} {
				b.Run(fmt.Sprintf("samples=%d/pushers=%d/sync=%t", samples, pushers, syncOn), func(b *testing.B) {
					benchPushWALSync(b, samples, pushers, syncOn)
				})
			}
		}
	}
}

func benchPushWALSync(b *testing.B, seriesPerPush, pushers int, syncOn bool) {
	cfg := Config{}
	cfg.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	cfg.Dir, cfg.InstanceID, cfg.WALSyncBeforeAck = b.TempDir(), "bench", syncOn
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	l.MaxSeriesPerTenant, l.MaxSeriesPerMetric = 0, 0
	ing, err := New(cfg, limits.NewOverrides(l, nil), nil, nil, prometheus.NewRegistry(), nil)
	require.NoError(b, err)
	require.NoError(b, services.StartAndAwaitRunning(context.Background(), ing))
	b.Cleanup(func() { require.NoError(b, stopIngester(ing)) })

	var nextPusher, ts atomic.Int64
	// pusher pushes its own series, with timestamps increasing, while
	// next says so.
	pusher := func(next func() bool) {
		p := strconv.FormatInt(nextPusher.Add(1), 10)
		req := &wire.PushRequest{Series: make([]wire.Series, seriesPerPush)}
		for i := range req.Series {
			req.Series[i].Labels = labels.FromStrings("__name__", "bench_metric", "pusher", p, "i", strconv.Itoa(i))
			req.Series[i].Samples = []wire.Sample{{}}
		}
		for next() {
			t := ts.Add(1)
			for i := range req.Series {
				req.Series[i].Samples[0] = wire.Sample{T: t, V: float64(t)}
			}
			if _, err := ing.Push(context.Background(), "bench", req); err != nil {
				b.Error(err)
				return
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if pushers == 1 {
		pusher(func() bool { return b.Loop() })
	} else {
		// RunParallel runs parallelism × GOMAXPROCS goroutines.
		b.SetParallelism((pushers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) { pusher(pb.Next) })
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*seriesPerPush)/b.Elapsed().Seconds(), "samples/s")
	if syncOn {
		b.ReportMetric(float64(b.N)/testutil.ToFloat64(ing.m.walSync.syncs), "pushes/sync")
		var m dto.Metric
		require.NoError(b, ing.m.walSync.duration.Write(&m))
		b.ReportMetric(1000*m.GetHistogram().GetSampleSum()/float64(m.GetHistogram().GetSampleCount()), "ms/sync")
	}
}
