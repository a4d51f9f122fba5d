package app

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/cmd/weft-load/loadgen"
	"github.com/weft-io/weft/pkg/distributor"

	"github.com/weft-io/weft/pkg/tenant"
)

// BenchmarkPushPath measures the whole write hot path in one process:
// HTTP handler, snappy + protobuf decode, validation, limits, and the
// append to the tenant's TSDB head, with requests of 2,000 node-exporter-like
// series (10 labels) × 1 sample, as Prometheus sends them.
func BenchmarkPushPath(b *testing.B) {
	for _, proto := range []loadgen.Protocol{loadgen.ProtocolV1, loadgen.ProtocolV2} {
		b.Run(string(proto), func(b *testing.B) { benchmarkPushPath(b, proto) })
	}
}

func benchmarkPushPath(b *testing.B, proto loadgen.Protocol) {
	const seriesN, perReq = 20000, 2000
	lim := testLimits(b)
	ing := startIngester(b, testIngesterConfig(b), lim, nil)
	var dcfg distributor.Config
	dcfg.RegisterFlags(flagSet(b))
	d, err := distributor.New(dcfg, lim, ing, tenant.Resolver{MultiTenancy: true}, nil, nil)
	require.NoError(b, err)

	set := loadgen.NewSeriesSet(seriesN)
	bld := set.NewBuilder()
	start := time.Now().Add(-50 * time.Minute).UnixMilli()
	// Pre-build enough rounds; each round advances 15s of sample time.
	rounds := 60
	bodies := make([][]byte, 0, rounds*seriesN/perReq)
	for r := 0; r < rounds; r++ {
		for s := 0; s < seriesN; s += perReq {
			p, err := bld.Build(proto, s, s+perReq, r, start+int64(r)*15000)
			require.NoError(b, err)
			bodies = append(bodies, bytes.Clone(p))
		}
	}
	// Warm up: create every series so the benchmark measures steady state.
	for i := 0; i < seriesN/perReq; i++ {
		require.Equal(b, http.StatusNoContent, serve(d, proto, bodies[i]))
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		idx := seriesN/perReq + i%(len(bodies)-seriesN/perReq)
		if i > 0 && idx == seriesN/perReq {
			b.StopTimer() // out of pre-built rounds: the rest would be duplicates
			break
		}
		if code := serve(d, proto, bodies[idx]); code != http.StatusNoContent {
			b.Fatalf("push answered %d", code)
		}
		n += perReq
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(n, 1)), "ns/sample")
}

func serve(d *distributor.Distributor, proto loadgen.Protocol, body []byte) int {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/push", bytes.NewReader(body))
	req.Header.Set("Content-Type", proto.ContentType())
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set(tenant.Header, "bench")
	w := httptest.NewRecorder()
	d.ServeHTTP(w, req)
	return w.Code
}
