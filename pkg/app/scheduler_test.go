package app

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/scheduler"
	"github.com/weft-io/weft/pkg/tenant"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
}

type schedulerStatus struct {
	Tenants  []struct{ Tenant string }
	Queriers []struct {
		ID      string
		Workers int
	}
}

// In the all-in-one the query API goes through the query-scheduler's
// fair queue to the querier's workers, in the process: the answer says
// how long it was queued, the scheduler is a service of /services, and
// its status page shows the querier's workers.
func TestAllInOneQueriesGoThroughTheScheduler(t *testing.T) {
	base := startApp(t, "-querier.max-concurrent=3")
	now := time.Now().UnixMilli()
	require.Equal(t, 204, push(t, base, "t", ctV1, v1Body(t, series(now, 7, "__name__", "m"))).code)

	req, err := http.NewRequest(http.MethodGet, base+"/prometheus/api/v1/query?query=m", nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, "t")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), `"7"`)
	qt, err := strconv.ParseFloat(resp.Header.Get(scheduler.QueueTimeHeader), 64)
	require.NoError(t, err, "the answer says how long it was queued")
	require.GreaterOrEqual(t, qt, 0.0)

	var names []string
	for _, s := range getServices(t, base) {
		names = append(names, s.Name)
		require.Equal(t, "Running", s.State, s.Name)
	}
	require.Contains(t, names, RoleQueryScheduler)
	require.Less(t, slices.Index(names, RoleQueryScheduler), slices.Index(names, RoleQuerier), "the querier's workers stop before the scheduler")

	var st schedulerStatus
	getJSON(t, base+"/query-scheduler/status?format=json", &st)
	require.Len(t, st.Queriers, 1)
	require.Equal(t, 3, st.Queriers[0].Workers)
	resp, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Regexp(t, `(?m)^weft_query_scheduler_connected_querier_workers 3$`, string(metrics))
	require.Regexp(t, `(?m)^weft_query_scheduler_queue_duration_seconds_count [1-9]`, string(metrics))
}

// A distributed weft: a query-scheduler process registers in its ring and
// serves gRPC; a querier process pulls from it; a frontend's
// RoundTripper (QueryRoundTripper of a process without a scheduler) sends
// a query through the scheduler to the querier.
func TestDistributedSchedulerAndQuerier(t *testing.T) {
	schedGRPC := freeAddr(t)
	schedBase := startApp(t, "-target=query-scheduler", "-ring.store=inmemory", "-grpc.listen-address="+schedGRPC)
	var ring struct {
		Instances []struct{ ID, Address, State string }
	}
	require.Eventually(t, func() bool {
		getJSON(t, schedBase+"/query-scheduler/ring?format=json", &ring)
		return len(ring.Instances) == 1 && ring.Instances[0].State == "ACTIVE"
	}, 10*time.Second, 50*time.Millisecond, "the scheduler is ACTIVE in its ring")
	require.Equal(t, schedGRPC, ring.Instances[0].Address)
	var names []string
	for _, s := range getServices(t, schedBase) {
		names = append(names, s.Name)
	}
	require.Contains(t, names, RoleQueryScheduler)

	querierBase := startApp(t, "-target=distributor,ingester,querier", "-ring.store=inmemory", "-grpc.listen-address="+freeAddr(t),
		"-distributor.replication-factor=1", "-query-scheduler.addresses="+schedGRPC, "-query-scheduler.querier-id=querier-x", "-querier.max-concurrent=2")
	now := time.Now().UnixMilli()
	require.Eventually(t, func() bool {
		return push(t, querierBase, "t", ctV1, v1Body(t, series(now, 42, "__name__", "m"))).code == 204
	}, 10*time.Second, 100*time.Millisecond)

	var st schedulerStatus
	require.Eventually(t, func() bool {
		getJSON(t, schedBase+"/query-scheduler/status?format=json", &st)
		return len(st.Queriers) == 1 && st.Queriers[0].Workers == 2
	}, 10*time.Second, 50*time.Millisecond, "the querier's workers connect to the scheduler")
	require.Equal(t, "querier-x", st.Queriers[0].ID)

	// The frontend's side, in a process without a scheduler.
	cfg, _, err := ParseFlags([]string{"-target=querier", "-query-scheduler.addresses=" + schedGRPC}, nil)
	require.NoError(t, err)
	a := &App{cfg: cfg}
	rt := a.QueryRoundTripper()
	t.Cleanup(a.schedClient.Close)
	req, err := http.NewRequest(http.MethodGet, "http://frontend/prometheus/api/v1/query?query="+url.QueryEscape("m"), nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, "t")
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), `"42"`)
	require.NotEmpty(t, resp.Header.Get(scheduler.QueueTimeHeader))

	// Remote read's binary request and answers cross the scheduler's gRPC
	// intact, in both answer types.
	for _, typ := range []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES, prompb.ReadRequest_STREAMED_XOR_CHUNKS} {
		require.Equal(t, map[string][]float64{`{__name__="m"}`: {42}}, remoteReadVia(t, rt, "t", typ, now-1000, now+1000, "m"), typ.String())
	}
}
