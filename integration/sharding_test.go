package integration

import (
	"context"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// Query sharding across real processes: three ingesters hold every series
// (RF 3), a querier reads them, and a query-frontend in its own process
// shards each shardable query four ways before sending it to the querier.
// Each shard's selectors reach every ingester with the shard's matcher, and
// every replica must pick the same series by the hash of their labels:
// shards that overlapped would count series twice, shards that missed
// some would count too few. So the sharded answers, through the frontend,
// must equal the querier's unsharded ones: exactly for counts, min, max,
// topk and selectors, within float rounding for sums and averages.
func TestQueryShardingAcrossProcesses(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	const tenant = "shard-tenant"
	const shards = 4
	c := newCluster(t, 6, "-distributor.replication-factor=3", "-auth.multitenancy-enabled=true", "-ingester.ring.heartbeat-period=1s")
	c.startIngester("ing-1")
	c.startIngester("ing-2")
	c.startIngester("ing-3")
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier")
	waitRing(t, 30*time.Second, "the ingesters ACTIVE", allActive("ing-1", "ing-2", "ing-3"), dist, qr)
	fe := c.start("query-frontend", "query-frontend",
		"-query-frontend.downstream-url="+qr.URL(),
		fmt.Sprintf("-query-frontend.query-sharding-total-shards=%d", shards))
	requireService(ctx, t, fe, "query-frontend")

	start, end := pushHistory(ctx, t, dist.Client(tenant), "shard_requests_total", 60)
	step := time.Minute

	exact := []string{
		`count by (job) (shard_requests_total)`,
		`count(shard_requests_total)`,
		`max by (job) (shard_requests_total)`,
		`min(shard_requests_total)`,
		`topk(3, shard_requests_total)`,
		`bottomk by (job) (2, shard_requests_total)`,
		`count(count by (instance) (shard_requests_total))`,
	}
	rounded := []string{
		`sum by (job) (rate(shard_requests_total[2m]))`,
		`avg(shard_requests_total)`,
		`sum(shard_requests_total) / count(shard_requests_total)`,
	}
	downstream := func() float64 {
		f, err := metricValue(ctx, fe, "weft_query_frontend_downstream_requests_total")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		exprs []string
		exact bool
	}{{exact, true}, {rounded, false}} {
		for _, expr := range tc.exprs {
			want, err := qr.Client(tenant).QueryRange(ctx, expr, start, end, step)
			if err != nil {
				t.Fatalf("%s on the querier: %v", expr, err)
			}
			before := downstream()
			got, err := fe.Client(tenant).QueryRange(noStore(ctx), expr, start, end, step)
			if err != nil {
				t.Fatalf("%s through the frontend: %v", expr, err)
			}
			// One split part (or two across midnight), each sent as
			// `shards` shards.
			if n := downstream() - before; n < shards {
				t.Fatalf("%s: %v requests downstream, want at least %d shards", expr, n, shards)
			}
			if err := sameMatrix(want, got, tc.exact); err != nil {
				t.Fatalf("%s: the sharded answer differs from the unsharded one: %v", expr, err)
			}
		}
	}

	// Another tenant's shards read none of this tenant's series.
	other, err := fe.Client("shard-other").QueryRange(noStore(ctx), `count(shard_requests_total)`, start, end, step)
	if err != nil {
		t.Fatal(err)
	}
	if m := other.(model.Matrix); len(m) != 0 {
		t.Fatalf("another tenant's sharded query found %d series", len(m))
	}
}

// noStore asks the frontend not to answer from, nor fill, its results
// cache, so that every query is computed by its shards.
func noStore(ctx context.Context) context.Context {
	return withHeader(ctx, "Cache-Control", "no-store")
}

// sameMatrix compares two range query answers: the same series with the
// same timestamps, and values equal, or within 1e-9 relative when exact is
// false (a sharded sum adds the same numbers in another order).
func sameMatrix(want, got model.Value, exact bool) error {
	w, ok1 := want.(model.Matrix)
	g, ok2 := got.(model.Matrix)
	if !ok1 || !ok2 {
		return fmt.Errorf("want two matrices, got %T and %T", want, got)
	}
	if len(w) == 0 {
		return fmt.Errorf("the unsharded answer is empty")
	}
	if len(w) != len(g) {
		return fmt.Errorf("%d series, want %d", len(g), len(w))
	}
	sort.Sort(w)
	sort.Sort(g)
	for i := range w {
		if !w[i].Metric.Equal(g[i].Metric) {
			return fmt.Errorf("series %d is %v, want %v", i, g[i].Metric, w[i].Metric)
		}
		if len(w[i].Values) != len(g[i].Values) {
			return fmt.Errorf("%v has %d points, want %d", w[i].Metric, len(g[i].Values), len(w[i].Values))
		}
		for j, wp := range w[i].Values {
			gp := g[i].Values[j]
			if wp.Timestamp != gp.Timestamp {
				return fmt.Errorf("%v point %d at %v, want %v", w[i].Metric, j, gp.Timestamp, wp.Timestamp)
			}
			a, b := float64(wp.Value), float64(gp.Value)
			if exact && a != b || !exact && math.Abs(a-b) > 1e-9*math.Max(math.Abs(a), math.Abs(b)) {
				return fmt.Errorf("%v at %v is %v, want %v", w[i].Metric, wp.Timestamp, b, a)
			}
		}
	}
	return nil
}
