package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// TestRulersShareGroups runs an ingester, a distributor with a querier, and
// two rulers as real processes. The rulers share the groups by the ruler
// ring: each group is evaluated by one of them (their
// weft_ruler_group_evaluations_total summed show no group twice), the
// results are pushed through the distributor and read back through the
// querier, and when one ruler is killed with SIGKILL its groups move to the
// other within the heartbeat timeout.
func TestRulersShareGroups(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	const heartbeatTimeout = 6 * time.Second
	c := newCluster(t, 4,
		"-distributor.replication-factor=1",
		"-ingester.ring.heartbeat-period=2s",
		"-ruler.ring.heartbeat-period=2s",
		"-ruler.ring.heartbeat-timeout="+heartbeatTimeout.String(),
		"-ruler.poll-interval=1s",
	)
	c.startIngester("ing-1")
	front := c.start("front", "distributor,querier")
	waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), front)
	rulers := []*weftProcess{
		c.start("ruler-1", "ruler", "-ruler.ring.instance-id=ruler-1"),
		c.start("ruler-2", "ruler", "-ruler.ring.instance-id=ruler-2"),
	}
	eventually(t, 30*time.Second, 200*time.Millisecond, "two ACTIVE rulers in the ruler ring", func() error {
		body, err := httpGet(ctx, rulers[0].URL()+"/ruler/ring?format=json")
		if err != nil {
			return err
		}
		if strings.Count(body, `"ACTIVE"`) != 2 {
			return fmt.Errorf("ruler ring: %s", body)
		}
		return nil
	})

	const tenant = "team-x"
	now := time.Now()
	if err := front.Client(tenant).Push(ctx, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels: lbls("up", "job", "api"), Samples: []prompb.Sample{{Timestamp: now.UnixMilli(), Value: 1}},
	}}}); err != nil {
		t.Fatal(err)
	}
	const groups = 12
	for i := range groups {
		body := fmt.Sprintf("name: g%d\ninterval: 1s\nrules:\n  - record: rule:up:g%d\n    expr: sum(up)\n", i, i)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, rulers[0].URL()+"/prometheus/config/v1/rules/ns", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(tenantHeader, tenant)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("upload of g%d: %s", i, resp.Status)
		}
	}

	// evaluations returns each group's evaluation count on each ruler.
	evalRe := regexp.MustCompile(`^weft_ruler_group_evaluations_total\{group="([^"]+)",namespace="ns",tenant="` + tenant + `"\} (\S+)$`)
	evaluations := func(procs ...*weftProcess) (map[string][]float64, error) {
		out := map[string][]float64{}
		for i, p := range procs {
			body, err := httpGet(ctx, p.URL()+"/metrics")
			if err != nil {
				return nil, err
			}
			for _, line := range strings.Split(body, "\n") {
				m := evalRe.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				v, _ := strconv.ParseFloat(m[2], 64)
				if out[m[1]] == nil {
					out[m[1]] = make([]float64, len(procs))
				}
				out[m[1]][i] = v
			}
		}
		return out, nil
	}
	eventually(t, 30*time.Second, 500*time.Millisecond, "every group's recording rule queryable", func() error {
		v, err := front.Client(tenant).Query(ctx, `count({__name__=~"rule:up:.*"})`, time.Now())
		if err != nil {
			return err
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) != 1 || vec[0].Value != groups {
			return fmt.Errorf("count of recorded series: %v", v)
		}
		return nil
	})
	before, err := evaluations(rulers...)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	after, err := evaluations(rulers...)
	if err != nil {
		t.Fatal(err)
	}
	share := make([]int, len(rulers))
	for i := range groups {
		g := fmt.Sprintf("g%d", i)
		var by []int
		var total float64
		for r := range rulers {
			if d := after[g][r] - before[g][r]; d > 0 {
				by = append(by, r)
				total += d
				share[r]++
			}
		}
		if len(by) != 1 || total > 6 {
			t.Fatalf("group %s: evaluated %g times in 4s by rulers %v (want one ruler, once a second): %v -> %v", g, total, by, before[g], after[g])
		}
	}
	t.Logf("groups per ruler: %v", share)
	if share[0] == 0 || share[1] == 0 {
		t.Fatalf("the groups are not spread over both rulers: %v", share)
	}

	// /api/v1/rules on a ruler lists the groups it evaluates.
	body, err := httpGetTenant(ctx, rulers[0].URL()+"/prometheus/api/v1/rules", tenant)
	if err != nil || !strings.Contains(body, `"health":"ok"`) {
		t.Fatalf("/api/v1/rules of ruler-1: %v %s", err, body)
	}

	// The querier, which runs no ruler, asks both: every group.
	body, err = httpGetTenant(ctx, front.URL()+"/prometheus/api/v1/rules", tenant)
	if err != nil || strings.Count(body, `"name":"g`) != groups {
		t.Fatalf("/api/v1/rules of the querier does not list the %d groups: %v %s", groups, err, body)
	}

	rulers[1].Kill()
	killed := time.Now()
	eventually(t, heartbeatTimeout+15*time.Second, 500*time.Millisecond, "ruler-1 evaluates every group", func() error {
		e1, err := evaluations(rulers[0])
		if err != nil {
			return err
		}
		for i := range groups {
			if e1[fmt.Sprintf("g%d", i)] == nil {
				return fmt.Errorf("ruler-1 has not evaluated g%d", i)
			}
		}
		return nil
	})
	t.Logf("ruler-2's groups moved %s after its SIGKILL (heartbeat timeout %s)", time.Since(killed).Round(100*time.Millisecond), heartbeatTimeout)
}

// httpGetTenant is httpGet with the tenant header.
func httpGetTenant(ctx context.Context, url, tenant string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(tenantHeader, tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s", resp.Status)
	}
	return string(b), nil
}
