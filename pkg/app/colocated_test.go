package app

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// An ingester and a store-gateway run in one distributed process: its one
// gRPC server serves the ingester's weft.Writer and both stores on
// weft.Store, and the querier's clients, dialing the same address through
// the ingester ring and the store-gateway ring, each read the store they
// name: recent samples from the ingester, shipped ones from the blocks.
func TestDistributedIngesterAndStoreGatewayInOneProcess(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	grpcAddr := lis.Addr().String()
	require.NoError(t, lis.Close())
	base := startApp(t,
		// Without the compactor the roles are distributed: the
		// distributor and the querier reach the ingester and the
		// store-gateway through the rings and gRPC.
		"-target=distributor,ingester,querier,store-gateway",
		"-ring.store=inmemory", "-grpc.listen-address="+grpcAddr,
		"-distributor.replication-factor=1", "-store-gateway.sharding-replication-factor=1",
		"-ingester.tsdb.block-ranges-period=1m", "-ingester.tsdb.ship-interval=200ms", "-ingester.tsdb.head-compaction-interval=200ms",
		"-querier.query-ingesters-within=90s", "-querier.query-store-after=60s",
		"-store-gateway.sync-interval=200ms",
	)
	now := time.Now().Truncate(time.Minute)
	from := now.Add(-6 * time.Minute)
	s := series(0, 0, "__name__", "colocated", "job", "x")
	s.Samples = nil
	for t0 := from; t0.Before(now); t0 = t0.Add(10 * time.Second) {
		s.Samples = append(s.Samples, prompb.Sample{Timestamp: t0.UnixMilli(), Value: 1})
	}
	require.Eventually(t, func() bool {
		return push(t, base, "t", ctV1, v1Body(t, s)).code == 204
	}, 10*time.Second, 100*time.Millisecond, "the ingester is ACTIVE in the ring")

	// (now-7m, now-2m] is older than the ingesters' window: only the
	// store-gateway answers it, once the blocks are shipped and synced.
	q := fmt.Sprintf(`count_over_time(colocated[5m] @ %d)`, now.Add(-2*time.Minute).Unix())
	want := fmt.Sprint(int((4*time.Minute)/(10*time.Second)) + 1)
	require.Eventually(t, func() bool {
		code, ans := query(t, base, "t", q)
		return code == 200 && vectorValue(t, ans) == want
	}, 30*time.Second, 200*time.Millisecond, "shipped samples are read from the store-gateway of the same process")
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Regexp(t, `(?m)^weft_storegateway_queried_blocks_total [1-9]`, string(metrics))

	// The last minute is the ingester's alone: samples at now-40s..now-10s.
	code, ans := query(t, base, "t", fmt.Sprintf(`count_over_time(colocated[50s] @ %d)`, now.Unix()))
	require.Equal(t, 200, code)
	require.Equal(t, "4", vectorValue(t, ans))
}
