package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// TestAlertingEndToEnd runs the alerting path of a distributed weft as
// real processes on loopback, gossiping with memberlist: an ingester
// (replication factor 1), a distributor with a querier, two rulers and
// three Alertmanager replicas (each tenant's Alertmanager on all three).
// The rulers send every alert to the three replicas. Two tenants upload
// rules and an Alertmanager configuration whose webhook is a receiver the
// test runs. The test shows:
//   - an alert fires from pushed data and is notified exactly once;
//   - after kill -9 of the Alertmanager replica that notified and of the
//     ruler that evaluates the group, a new alert is still notified, once,
//     and the firing one is not notified again (repeat interval 1h);
//   - a silence made with the real amtool, through a proxy that adds the
//     tenant header, suppresses the next notification;
//   - the resolution arrives as a resolved notification;
//   - tenant B's rules see only B's series, and B's alerts reach B's
//     receiver only.
func TestAlertingEndToEnd(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	hookA, hookB := newWebhook(t), newWebhook(t)
	const (
		heartbeatTimeout = 4 * time.Second
		peerTimeout      = 2 * time.Second
		// The rulers resend a firing alert every resendDelay, and it is
		// valid in the Alertmanager for 4 times that (as in Prometheus):
		// long enough to outlive the move of a dead ruler's group
		// (heartbeat timeout, a poll, the rule's for).
		resendDelay = 5 * time.Second
	)
	c := newCluster(t, 7,
		"-distributor.replication-factor=1",
		"-ingester.ring.heartbeat-period=1s",
		"-ruler.ring.heartbeat-period=1s",
		"-ruler.ring.heartbeat-timeout="+heartbeatTimeout.String(),
		"-ruler.poll-interval=1s",
		"-ruler.resend-delay="+resendDelay.String(),
		"-alertmanager.ring.heartbeat-period=1s",
		"-alertmanager.peer-timeout="+peerTimeout.String(),
		"-alertmanager.poll-interval=1s",
	)
	c.startIngester("ing-1")
	front := c.start("front", "distributor,querier")
	waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), front)
	var ams []*weftProcess
	var amURLs []string
	for i := range 3 {
		id := fmt.Sprintf("am%d", i)
		am := c.start(id, "alertmanager", "-alertmanager.ring.instance-id="+id)
		ams = append(ams, am)
		amURLs = append(amURLs, am.URL()+"/alertmanager")
	}
	var rulers []*weftProcess
	for i := range 2 {
		id := fmt.Sprintf("ruler-%d", i)
		rulers = append(rulers, c.start(id, "ruler", "-ruler.ring.instance-id="+id,
			"-ruler.alertmanager-url="+strings.Join(amURLs, ",")))
	}
	ringHas := func(path string, n int) func() error {
		return func() error {
			for _, w := range append(append([]*weftProcess{}, ams...), rulers...) {
				if (path == "/ruler/ring") != strings.HasPrefix(w.name, "ruler") {
					continue
				}
				body, err := httpGet(ctx, w.URL()+path+"?format=json")
				if err != nil {
					return err
				}
				if got := strings.Count(body, `"ACTIVE"`); got != n {
					return fmt.Errorf("%s of %s: %d ACTIVE, want %d", path, w.name, got, n)
				}
			}
			return nil
		}
	}
	eventually(t, 30*time.Second, 200*time.Millisecond, "3 ACTIVE alertmanagers", ringHas("/alertmanager/ring", 3))
	eventually(t, 30*time.Second, 200*time.Millisecond, "2 ACTIVE rulers", ringHas("/ruler/ring", 2))

	// Each tenant's Alertmanager configuration: one aggregation group per
	// alert (alertname, instance), so that each alert is one notification.
	amConfig := func(hook string) string {
		return `alertmanager_config: |
  route:
    receiver: hook
    group_by: [alertname, instance]
    group_wait: 1s
    group_interval: 2s
    repeat_interval: 1h
  receivers:
  - name: hook
    webhook_configs:
    - url: ` + hook + "\n"
	}
	for tenant, hook := range map[string]string{"team-a": hookA.URL, "team-b": hookB.URL} {
		if code, body := amDo(t, ams[0], tenant, http.MethodPost, "/api/v1/alerts", amConfig(hook)); code != http.StatusCreated {
			t.Fatalf("upload of %s's Alertmanager configuration: %d %s", tenant, code, body)
		}
	}
	eventually(t, 30*time.Second, 200*time.Millisecond, "every replica runs both tenants' Alertmanagers", func() error {
		for _, w := range ams {
			for _, tenant := range []string{"team-a", "team-b"} {
				if code, body := amDo(t, w, tenant, http.MethodGet, "/alertmanager/api/v2/status", ""); code != http.StatusOK || !strings.Contains(body, `"status":"ready"`) {
					return fmt.Errorf("%s, %s: %d %.200s", w.name, tenant, code, body)
				}
			}
		}
		return nil
	})

	// The same rules for both tenants: an alert on latency_seconds, and a
	// count of the latency_seconds series the tenant's rules see.
	const rules = `name: latency
interval: 1s
rules:
  - record: tenant:latency_seconds:count
    expr: count(latency_seconds)
  - alert: HighLatency
    expr: latency_seconds > 1
    for: 2s
    labels:
      severity: page
    annotations:
      summary: '{{ $labels.instance }} answers in {{ $value }}s'
`
	for _, tenant := range []string{"team-a", "team-b"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, rulers[0].URL()+"/prometheus/config/v1/rules/ops", strings.NewReader(rules))
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
			t.Fatalf("upload of %s's rules: %s", tenant, resp.Status)
		}
	}
	push := func(tenant, instance string, v float64) {
		t.Helper()
		if err := front.Client(tenant).Push(ctx, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
			Labels:  lbls("latency_seconds", "instance", instance),
			Samples: []prompb.Sample{{Timestamp: time.Now().UnixMilli(), Value: v}},
		}}}); err != nil {
			t.Fatalf("push of %s's %s: %v", tenant, instance, err)
		}
	}

	// 1. Data that makes the alert fire: one notification, from one
	// replica of three. Tenant B's own series fires B's alert, to B's
	// receiver only.
	push("team-a", "api", 5)
	push("team-b", "web", 5)
	hookA.waitFor(t, 30*time.Second, "firing HighLatency api")
	hookB.waitFor(t, 30*time.Second, "firing HighLatency web")
	// Two peer timeouts and more: the other replicas had their turn.
	time.Sleep(2*peerTimeout + 2*time.Second)
	if got := hookA.all(); len(got) != 1 {
		t.Fatalf("team-a's receiver got %q, want one notification of api", got)
	}
	// The querier asks both rulers: each tenant's alerts, and only its own.
	for tenant, want := range map[string]string{"team-a": "api", "team-b": "web"} {
		body, err := httpGetTenant(ctx, front.URL()+"/prometheus/api/v1/alerts", tenant)
		if err != nil {
			t.Fatalf("the querier's /alerts of %s: %v %s", tenant, err, body)
		}
		var resp struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatal(err)
		}
		if a := resp.Data.Alerts; len(a) != 1 || a[0].Labels["instance"] != want || a[0].State != "firing" {
			t.Fatalf("the querier's /alerts of %s: %s, want %s firing only", tenant, body, want)
		}
	}
	notifier := -1
	for i, w := range ams {
		n, err := metricValue(ctx, w, `weft_alertmanager_notifications_total{integration="webhook",tenant="team-a"}`)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if notifier >= 0 {
				t.Fatalf("both %s and %s notified team-a", ams[notifier].name, w.name)
			}
			notifier = i
		}
	}
	if notifier < 0 {
		t.Fatal("no alertmanager counts team-a's notification")
	}

	// 2. kill -9 of the replica that notified and of the ruler that
	// evaluates team-a's group, while api fires. A new alert (db) is
	// still notified, once, by another replica, after the other ruler
	// took the group; api is not notified again.
	owner, err := groupOwner(ctx, rulers, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killing %s (it notified) and %s (it evaluates team-a's group)", ams[notifier].name, rulers[owner].name)
	ams[notifier].Kill()
	rulers[owner].Kill()
	killed := time.Now()
	push("team-a", "db", 7)
	hookA.waitFor(t, heartbeatTimeout+30*time.Second, "firing HighLatency db")
	t.Logf("db notified %s after the kills", time.Since(killed).Round(100*time.Millisecond))
	survivor := rulers[1-owner]
	eventually(t, 10*time.Second, 200*time.Millisecond, "the surviving ruler evaluates team-a's group", func() error {
		body, err := httpGetTenant(ctx, survivor.URL()+"/prometheus/api/v1/alerts", "team-a")
		if err != nil {
			return err
		}
		if !strings.Contains(body, `"instance":"api"`) || !strings.Contains(body, `"state":"firing"`) {
			return fmt.Errorf("alerts of %s: %.500s", survivor.name, body)
		}
		return nil
	})
	time.Sleep(2*peerTimeout + 2*time.Second)
	if got := hookA.all(); len(got) != 2 || hookA.count("firing HighLatency db") != 1 {
		t.Fatalf("team-a's receiver got %q, want api then db, once each", got)
	}

	// 3. A silence made with amtool, through a proxy that adds the
	// tenant header to a surviving replica, suppresses the next
	// notification (cache); 4. api's resolution arrives as a resolved
	// notification.
	var live *weftProcess
	for i, w := range ams {
		if i != notifier {
			live = w
			break
		}
	}
	proxy := startTenantProxy(t, live.URL(), "team-a")
	id := strings.TrimSpace(amtoolAt(t, proxy.URL, "silence", "add", "instance=cache", "--author=weft", "--comment=maintenance", "--duration=1h"))
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) {
		t.Fatalf("amtool silence add printed %q, want a silence ID", id)
	}
	if out := amtoolAt(t, proxy.URL, "silence", "query", "-q"); strings.TrimSpace(out) != id {
		t.Fatalf("amtool silence query -q through the proxy: %q, want %s", out, id)
	}
	push("team-a", "cache", 9)
	push("team-a", "api", 0)
	hookA.waitFor(t, 30*time.Second, "resolved HighLatency api")
	eventually(t, 15*time.Second, 200*time.Millisecond, "amtool lists cache as silenced", func() error {
		out := amtoolAt(t, proxy.URL, "alert", "query", "--silenced", "instance=cache")
		if !strings.Contains(out, "HighLatency") {
			return fmt.Errorf("amtool alert query --silenced: %s", out)
		}
		return nil
	})
	// cache reached the Alertmanager and was silenced: after its group
	// wait and the peer timeouts, still nothing was sent for it.
	time.Sleep(2*peerTimeout + 2*time.Second)
	if got := hookA.all(); len(got) != 3 || hookA.count("resolved HighLatency api") != 1 {
		t.Fatalf("team-a's receiver got %q, want api, db and api resolved, once each (cache silenced)", got)
	}

	// 5. Tenants apart: B's rules counted one latency_seconds series (its
	// own) at every evaluation, while A has three; A's receiver got none
	// of B's alerts, and B's got only B's.
	for tenant, want := range map[string]float64{"team-a": 3, "team-b": 1} {
		v, err := front.Client(tenant).Query(ctx, `max_over_time(tenant:latency_seconds:count[10m])`, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) != 1 || float64(vec[0].Value) != want {
			t.Fatalf("%s's rules saw %v latency_seconds series at most, want %v", tenant, v, want)
		}
	}
	if got := hookB.all(); len(got) != 1 || got[0] != "firing HighLatency web" {
		t.Fatalf("team-b's receiver got %q, want its own web alert once", got)
	}
	for _, s := range hookA.all() {
		if strings.HasSuffix(s, " web") {
			t.Fatalf("team-b's alert reached team-a's receiver: %q", hookA.all())
		}
	}
}

// groupOwner returns the index of the ruler that evaluates tenant's
// groups (weft_ruler_group_evaluations_total counts them).
func groupOwner(ctx context.Context, rulers []*weftProcess, tenant string) (int, error) {
	owner := -1
	for i, r := range rulers {
		body, err := httpGet(ctx, r.URL()+"/metrics")
		if err != nil {
			return 0, err
		}
		if strings.Contains(body, `weft_ruler_group_evaluations_total{group="latency",namespace="ops",tenant="`+tenant+`"}`) {
			if owner >= 0 {
				return 0, fmt.Errorf("both %s and %s evaluate %s's group", rulers[owner].name, r.name, tenant)
			}
			owner = i
		}
	}
	if owner < 0 {
		return 0, fmt.Errorf("no ruler evaluates %s's group", tenant)
	}
	return owner, nil
}
