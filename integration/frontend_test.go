package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/prometheus/prompb"
)

// pushHistory pushes nSeries series of metric, one sample every 15s over
// the 40 minutes that ended 20 minutes ago (older than the results
// cache's freshness limit), and returns that time range.
func pushHistory(ctx context.Context, t *testing.T, c *apiClient, metric string, nSeries int) (time.Time, time.Time) {
	t.Helper()
	end := time.Now().Add(-20 * time.Minute).Truncate(time.Minute)
	start := end.Add(-40 * time.Minute)
	req := &prompb.WriteRequest{}
	for i := range nSeries {
		ts := prompb.TimeSeries{Labels: lbls(metric, "job", "j"+strconv.Itoa(i%3), "instance", "i"+strconv.Itoa(i))}
		for at := start; !at.After(end); at = at.Add(15 * time.Second) {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: at.UnixMilli(), Value: float64(at.Unix()%1000)/7 + float64(i)})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	if err := c.Push(ctx, req); err != nil {
		t.Fatalf("cannot push: %v", err)
	}
	return start, end
}

var serverTimingRE = regexp.MustCompile(`^queue;dur=[0-9.]+, split;dur=[0-9.]+, cache;dur=[0-9.]+, eval;dur=[0-9.]+$`)

// rangeQueryRaw runs a range query on base and returns its body, after
// checking the status and, from a frontend, the Server-Timing header.
func rangeQueryRaw(ctx context.Context, t *testing.T, base, tenant, expr string, start, end time.Time, step time.Duration, frontend bool) string {
	t.Helper()
	params := url.Values{"query": {expr}, "start": {formatTime(start)}, "end": {formatTime(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/prometheus/api/v1/query_range?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(tenantHeader, tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("range query: %d %s", resp.StatusCode, body)
	}
	if st := resp.Header.Get("Server-Timing"); frontend && !serverTimingRE.MatchString(st) {
		t.Fatalf("Server-Timing %q", st)
	}
	return string(body)
}

// frontendCounters reads the frontend's cache hits and the ranges it
// computed downstream.
func frontendCounters(ctx context.Context, t *testing.T, w *weftProcess) (hits, computed float64) {
	t.Helper()
	hits, err := metricValue(ctx, w, "weft_query_frontend_results_cache_hits_total")
	if err != nil {
		t.Fatal(err)
	}
	computed, err = metricValue(ctx, w, "weft_query_frontend_downstream_range_queries_total")
	if err != nil {
		t.Fatal(err)
	}
	return hits, computed
}

// requireService checks that /services lists name as running.
func requireService(ctx context.Context, t *testing.T, w *weftProcess, name string) {
	t.Helper()
	body, err := httpGet(ctx, w.URL()+"/services?format=json")
	if err != nil {
		t.Fatal(err)
	}
	var list []struct{ Name, State string }
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Name == name {
			if s.State != "Running" {
				t.Fatalf("%s is %s", name, s.State)
			}
			return
		}
	}
	t.Fatalf("/services of %s does not list %s: %s", w.name, name, body)
}

// The query-frontend answers range queries in the all-in-one, and a
// repeated query is served from its results cache, the same answer.
// As its own process (-target=query-frontend) in front of a querier it
// gives the querier's answers, and caches them too.
func TestQueryFrontend(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	const tenant = "fe-tenant"
	expr := `sum by (job) (rate(fe_requests_total[2m]))`

	t.Run("all-in-one", func(t *testing.T) {
		w := startWeft(t, weftOptions{})
		requireService(ctx, t, w, "query-frontend")
		start, end := pushHistory(ctx, t, w.Client(tenant), "fe_requests_total", 30)
		first := rangeQueryRaw(ctx, t, w.URL(), tenant, expr, start, end, 15*time.Second, true)
		hits0, computed0 := frontendCounters(ctx, t, w)
		if computed0 == 0 {
			t.Fatal("the first query computed nothing downstream")
		}
		second := rangeQueryRaw(ctx, t, w.URL(), tenant, expr, start, end, 15*time.Second, true)
		hits1, computed1 := frontendCounters(ctx, t, w)
		if diff := cmp.Diff(first, second); diff != "" {
			t.Fatalf("the cached answer differs (-first +second):\n%s", diff)
		}
		if hits1 <= hits0 || computed1 != computed0 {
			t.Fatalf("the repeated query was not served from the cache: hits %v -> %v, computed ranges %v -> %v", hits0, hits1, computed0, computed1)
		}
	})

	t.Run("distributed", func(t *testing.T) {
		c := newCluster(t, 4, "-distributor.replication-factor=1", "-auth.multitenancy-enabled=true")
		ing := c.startIngester("ing-1")
		dist := c.start("distributor", "distributor")
		qr := c.start("querier", "querier")
		waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), dist, qr)
		fe := c.start("query-frontend", "query-frontend", "-query-frontend.downstream-url="+qr.URL())
		requireService(ctx, t, fe, "query-frontend")
		_ = ing
		start, end := pushHistory(ctx, t, dist.Client(tenant), "fe_requests_total", 30)
		want := rangeQueryRaw(ctx, t, qr.URL(), tenant, expr, start, end, 15*time.Second, false)
		for round := range 2 {
			got := rangeQueryRaw(ctx, t, fe.URL(), tenant, expr, start, end, 15*time.Second, true)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("round %d: the frontend's answer differs from the querier's (-querier +frontend):\n%s", round, diff)
			}
		}
		// One split part, or two across a UTC midnight.
		hits, computed := frontendCounters(ctx, t, fe)
		if hits < 1 || hits != computed {
			t.Fatalf("want the second query served from the cache: %v cache hits, %v computed ranges", hits, computed)
		}
		// Pass-through: the labels, and the querier's errors.
		labels, err := fe.Client(tenant).Labels(ctx, nil, start, end)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(labels) != "[__name__ instance job]" {
			t.Fatalf("labels %v", labels)
		}
		if _, err := fe.Client(tenant).Query(ctx, "sum(", end); err == nil {
			t.Fatal("a bad query succeeded")
		} else if ae, ok := err.(*apiError); !ok || ae.StatusCode != http.StatusBadRequest {
			t.Fatalf("a bad query: %v", err)
		}
	})
}
