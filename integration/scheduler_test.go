package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/weft-io/weft/pkg/scheduler"
)

// schedulerStatus is /query-scheduler/status?format=json.
type schedulerStatus struct {
	Tenants []struct {
		Tenant          string
		Queued, Running int
	}
	Queriers []struct {
		ID      string
		Workers int
	}
}

func fetchSchedulerStatus(ctx context.Context, w *weftProcess) (schedulerStatus, error) {
	body, err := httpGet(ctx, w.URL()+"/query-scheduler/status?format=json")
	if err != nil {
		return schedulerStatus{}, err
	}
	var st schedulerStatus
	err = json.Unmarshal([]byte(body), &st)
	return st, err
}

// A distributed weft of real processes: a query-scheduler registers in its
// ring over memberlist; two queriers find it there and pull with their
// workers; a frontend's client (pkg/scheduler's, as the query-frontend
// uses it) sends queries to the scheduler, which hands them to the
// queriers. With max_queriers_per_tenant 1 a tenant's queries all run on
// one querier, chosen per tenant. When that querier is killed, the
// scheduler hands the tenant to the one left.
func TestSchedulerPullsQueriesFromRealQueriers(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	c := newCluster(t, 5,
		"-distributor.replication-factor=1",
		"-ingester.ring.heartbeat-period=1s",
		"-query-scheduler.ring.heartbeat-period=1s",
		"-query-scheduler.max-queriers-per-tenant=1",
		"-querier.max-concurrent=2",
	)
	ing := c.startIngester("ing-1")
	dist := c.start("distributor", "distributor")
	sched := c.start("scheduler", "query-scheduler")
	queriers := map[string]*weftProcess{
		"querier-1": c.start("querier-1", "querier", "-query-scheduler.querier-id=querier-1"),
		"querier-2": c.start("querier-2", "querier", "-query-scheduler.querier-id=querier-2"),
	}
	waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), dist)
	_ = ing

	eventually(t, 30*time.Second, 100*time.Millisecond, "both queriers' workers connected to the scheduler", func() error {
		st, err := fetchSchedulerStatus(ctx, sched)
		if err != nil {
			return err
		}
		if len(st.Queriers) != 2 || st.Queriers[0].Workers != 2 || st.Queriers[1].Workers != 2 {
			return fmt.Errorf("queriers %+v", st.Queriers)
		}
		return nil
	})

	now := time.Now().Truncate(time.Second)
	tenants := []string{"team-a", "team-b", "team-c", "team-d"}
	for i, tenant := range tenants {
		req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
			Labels:  []prompb.Label{{Name: "__name__", Value: "sched_test"}, {Name: "tenant", Value: tenant}},
			Samples: []prompb.Sample{{Timestamp: now.UnixMilli(), Value: float64(i + 1)}},
		}}}
		eventually(t, 30*time.Second, 200*time.Millisecond, "push of "+tenant, func() error {
			return dist.Client(tenant).Push(ctx, req)
		})
	}

	// The frontend's side: pkg/scheduler's client and RoundTripper, with
	// the scheduler's gRPC address.
	client := scheduler.NewClient(func() ([]string, error) { return []string{sched.GRPCAddr}, nil })
	defer client.Close()
	rt := scheduler.NewRoundTripper(client, func(r *http.Request) (string, error) { return r.Header.Get("X-Scope-OrgID"), nil })
	query := func(tenant string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://frontend/prometheus/api/v1/query?"+
			url.Values{"query": {"sched_test"}, "time": {fmt.Sprint(now.Unix())}}.Encode(), nil)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("X-Scope-OrgID", tenant)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.Header.Get(scheduler.QueueTimeHeader) == "" {
			return 0, "", fmt.Errorf("no %s header", scheduler.QueueTimeHeader)
		}
		return resp.StatusCode, string(b), err
	}
	evalCount := func(w *weftProcess) float64 {
		f, err := metricValue(ctx, w, `weft_querier_prometheus_engine_query_duration_seconds_count{slice="prepare_time"}`)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	ranOn := map[string]string{} // tenant -> querier
	for i, tenant := range tenants {
		before := map[string]float64{}
		for id, q := range queriers {
			before[id] = evalCount(q)
		}
		for range 6 {
			code, body, err := query(tenant)
			if err != nil {
				t.Fatal(err)
			}
			if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"%d"`, i+1)) {
				t.Fatalf("query of %s: %d %s", tenant, code, body)
			}
		}
		for id, q := range queriers {
			switch d := evalCount(q) - before[id]; d {
			case 6:
				ranOn[tenant] = id
			case 0:
			default:
				t.Fatalf("%s ran %v of %s's 6 queries: max_queriers_per_tenant 1 puts them all on one querier", id, d, tenant)
			}
		}
		if ranOn[tenant] == "" {
			t.Fatalf("no querier ran the queries of %s", tenant)
		}
	}
	t.Logf("tenants' queriers: %v", ranOn)
	used := map[string]bool{}
	for _, id := range ranOn {
		used[id] = true
	}
	if len(used) != 2 {
		t.Fatalf("every tenant was given the same querier: %v", ranOn)
	}

	// A query whose client goes away stops on its querier: a query of
	// tens of millions of evaluation steps (half a minute) ends within
	// moments of its cancellation. (time(), not a constant: the engine
	// evaluates a constant once and copies it to every step, without
	// looking at its context.)
	long := ranOn[tenants[0]]
	qctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(qctx, http.MethodGet, "http://frontend/prometheus/api/v1/query?"+
			url.Values{"query": {"max_over_time((max_over_time(vector(time())[1m:1ms]))[10h:1m])"}}.Encode(), nil)
		req.Header.Set("X-Scope-OrgID", tenants[0])
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	running := func() (float64, error) {
		return metricValue(ctx, queriers[long], "weft_querier_prometheus_engine_queries")
	}
	eventually(t, 30*time.Second, 20*time.Millisecond, "the long query running on "+long, func() error {
		if n, err := running(); err != nil || n != 1 {
			return fmt.Errorf("%v queries running: %v", n, err)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled query answered")
	}
	eventually(t, 5*time.Second, 20*time.Millisecond, "the cancelled query stopped on "+long, func() error {
		if n, err := running(); err != nil || n != 0 {
			return fmt.Errorf("%v queries running: %v", n, err)
		}
		return nil
	})
	t.Logf("the query stopped %s after its cancellation", time.Since(cancelled).Round(time.Millisecond))
	if n, err := metricValue(ctx, sched, `weft_query_scheduler_cancelled_requests_total{stage="running",tenant="`+tenants[0]+`"}`); err != nil || n != 1 {
		t.Fatalf("the scheduler counted %v running queries cancelled (%v)", n, err)
	}

	// Kill one querier: its workers' streams break, and the tenants it
	// served move to the other.
	killed := ranOn[tenants[0]]
	queriers[killed].Kill()
	eventually(t, 30*time.Second, 100*time.Millisecond, "the killed querier's workers gone", func() error {
		st, err := fetchSchedulerStatus(ctx, sched)
		if err != nil {
			return err
		}
		if len(st.Queriers) != 1 || st.Queriers[0].ID == killed {
			return fmt.Errorf("queriers %+v", st.Queriers)
		}
		return nil
	})
	code, body, err := query(tenants[0])
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"1"`) {
		t.Fatalf("query of %s after its querier died: %d %s %v", tenants[0], code, body, err)
	}
}
