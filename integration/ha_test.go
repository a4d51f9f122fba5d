package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// haTarget is a scrape target whose one gauge says which replica scraped
// it: each Prometheus of the pair asks with its own ?replica= parameter,
// which does not reach the target's labels. So every stored sample tells
// which replica sent it.
func haTarget(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := map[string]string{"r1": "1", "r2": "2"}[r.URL.Query().Get("replica")]
		if v == "" {
			http.Error(w, "unknown replica", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE ha_demo_replica gauge\nha_demo_replica %s\n", v)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// startHAPrometheus starts one Prometheus of the HA pair: it scrapes the
// targets every interval with the external labels cluster=c1 and
// __replica__=replica, and remote-writes them to weft.
func startHAPrometheus(t *testing.T, w *weftProcess, replica string, targets []string, interval, sendDeadline time.Duration) *prometheusProcess {
	t.Helper()
	dir := t.TempDir()
	p := &prometheusProcess{Addr: freeAddr(t), LogPath: filepath.Join(dir, "prometheus.log"), exited: make(chan struct{})}
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
  external_labels:
    cluster: c1
    __replica__: %s
scrape_configs:
  - job_name: ha
    params:
      replica: [%s]
    static_configs:
      - targets: [%s]
remote_write:
  - url: %s/api/v1/push
    queue_config:
      capacity: 10000
      min_shards: 1
      max_shards: 1
      max_samples_per_send: 2000
      batch_send_deadline: %s
      min_backoff: 50ms
      max_backoff: 1s
    metadata_config:
      send: false
`, model.Duration(interval), model.Duration(interval), replica, replica, strings.Join(quoted, ", "), w.URL(), model.Duration(sendDeadline))
	runPrometheus(t, p, prometheusBinary, dir, "prometheus "+replica, cfg, "info")
	return p
}

// haSample is one stored sample of a target: its time and which replica
// scraped it (the gauge's value).
type haSample struct {
	t       int64
	replica float64
}

// haFailover is the time a replica may be silent before the other is
// elected, in the HA tests; their Prometheus servers scrape every
// haInterval and send within haSendDeadline.
const (
	haFailover     = 5 * time.Second
	haInterval     = time.Second
	haSendDeadline = 200 * time.Millisecond
)

// haArgs are the flags of the weft processes that take the HA pair's
// pushes.
var haArgs = []string{
	"-auth.multitenancy-enabled=false",
	"-distributor.accept-ha-samples=true",
	"-distributor.ha-tracker-failover-timeout=" + haFailover.String(),
}

// Two real Prometheus servers scrape the same targets as one HA pair and
// both remote-write to weft. weft stores the elected replica's samples
// only, without the replica label; when the elected one is killed, the
// other takes over within the failover timeout, and each target's series
// shows no duplicate sample and no gap longer than the failover timeout
// plus a scrape interval (plus the sender's batch deadline, the time a
// sample may wait in the sender's queue).
func TestHAPairFailoverWithRealPrometheus(t *testing.T) {
	requirePrometheus(t)
	w := startWeft(t, weftOptions{Args: haArgs})
	// One distributor takes every push, and knows when it took the last.
	runHAPair(t, w, w, w, 0)
}

// The same pair, each replica pushing to its own distributor: the two
// distributors agree on the elected replica through the ring's KV store,
// here a real etcd, where the election is a key.
func TestHAPairAcrossDistributorsWithEtcd(t *testing.T) {
	requirePrometheus(t)
	etcd := startEtcd(t)
	const update = 500 * time.Millisecond
	c := newEtcdCluster(t, etcd.Endpoint, append([]string{
		"-distributor.replication-factor=1",
		"-ingester.ring.heartbeat-period=1s",
		"-distributor.ha-tracker.update-timeout=" + update.String(),
	}, haArgs...)...)
	ing := c.startIngester("ing-1")
	d1 := c.start("distributor-1", "distributor")
	d2 := c.start("distributor-2", "distributor")
	qr := c.start("querier", "querier")
	waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), d1, d2, qr)
	_ = ing
	// d2 learns r1's last push from etcd, where it is written at most
	// every update timeout: the failover may come that much later.
	runHAPair(t, d1, d2, qr, update)
	keys, err := etcdKeys(testContext(t, time.Minute), etcd, "weft/")
	if err != nil {
		t.Fatalf("cannot list the keys in etcd: %v", err)
	}
	if !contains(keys, "weft/ha-tracker/anonymous/c1") {
		t.Errorf("etcd has keys %q, want weft/ha-tracker/anonymous/c1", keys)
	}
	// Both distributors show r2 elected.
	for _, d := range []*weftProcess{d1, d2} {
		requireElected(t, d, "r2")
	}
}

// requireElected checks that the status page of distributor d shows
// replica elected for the one cluster c1 of tenant anonymous.
func requireElected(t *testing.T, d *weftProcess, replica string) {
	t.Helper()
	eventually(t, 10*time.Second, 100*time.Millisecond, d.name+" shows "+replica+" elected", func() error {
		body, err := httpGet(context.Background(), d.URL()+"/distributor/ha_tracker?format=json")
		if err != nil {
			return err
		}
		var status struct {
			Clusters []struct {
				Tenant, Cluster, Replica string
			} `json:"clusters"`
		}
		if err := json.Unmarshal([]byte(body), &status); err != nil {
			return err
		}
		if len(status.Clusters) != 1 || status.Clusters[0].Tenant != "anonymous" || status.Clusters[0].Cluster != "c1" || status.Clusters[0].Replica != replica {
			return fmt.Errorf("/distributor/ha_tracker: %s", body)
		}
		return nil
	})
}

// runHAPair runs the pair: r1 pushes to d1 and is elected, r2 pushes to d2
// and is dropped, r1 is killed, r2 takes over. It reads the series back
// through q and checks them; lag is how late d2 may know of r1's last
// push.
func runHAPair(t *testing.T, d1, d2, q *weftProcess, lag time.Duration) {
	t.Helper()
	const (
		failover     = haFailover
		interval     = haInterval
		sendDeadline = haSendDeadline
	)
	api := q.Client("")
	ctx := testContext(t, 5*time.Minute)
	targets := []string{haTarget(t), haTarget(t)}

	// samples returns each target's stored samples, in time order.
	samples := func() (map[string][]haSample, error) {
		now := time.Now().UnixMilli()
		m, err := api.RawSamples(ctx, `ha_demo_replica`, now-10*60*1000, now)
		if err != nil {
			return nil, err
		}
		out := map[string][]haSample{}
		for series, pts := range m {
			for ts, v := range pts {
				out[series] = append(out[series], haSample{t: ts, replica: v})
			}
			slices.SortFunc(out[series], func(a, b haSample) int { return int(a.t - b.t) })
		}
		return out, nil
	}
	// lastReplica reports whether every target's latest sample is of
	// replica.
	everyTargetAt := func(replica float64) func() error {
		return func() error {
			s, err := samples()
			if err != nil {
				return err
			}
			if len(s) != len(targets) {
				return fmt.Errorf("%d series, want %d: %v", len(s), len(targets), s)
			}
			for series, ss := range s {
				if last := ss[len(ss)-1]; last.replica != replica {
					return fmt.Errorf("the latest sample of %s is from r%g", series, last.replica)
				}
			}
			return nil
		}
	}

	// r1 starts first and is elected by its first push.
	r1 := startHAPrometheus(t, d1, "r1", targets, interval, sendDeadline)
	eventually(t, 60*time.Second, 200*time.Millisecond, "r1's samples in weft", everyTargetAt(1))
	startHAPrometheus(t, d2, "r2", targets, interval, sendDeadline)
	// r2's pushes are accepted (202) and dropped.
	eventually(t, 60*time.Second, 200*time.Millisecond, "r2's samples dropped as duplicates", func() error {
		body, err := httpGet(ctx, d2.URL()+"/metrics")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, `weft_distributor_ha_deduplicated_samples_total{tenant="anonymous"}`) {
				if f := strings.Fields(line); len(f) == 2 && f[1] != "0" {
					return nil
				}
			}
		}
		return fmt.Errorf("no duplicates counted yet")
	})
	// Both run side by side for a while: r1 stays elected.
	time.Sleep(3 * failover / 2)
	if err := everyTargetAt(1)(); err != nil {
		t.Fatalf("r1 must stay elected while it pushes: %v", err)
	}

	// Kill the elected one: r2 takes over.
	if err := r1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r1.exited
	killed := time.Now()
	eventually(t, 60*time.Second, 200*time.Millisecond, "r2 takes over", everyTargetAt(2))
	t.Logf("r2's samples visible %s after r1 was killed", time.Since(killed).Round(time.Millisecond))
	// Some more of r2's samples.
	time.Sleep(3 * interval)

	got, err := samples()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(targets) {
		t.Fatalf("want one series per target, got %d: %v", len(got), got)
	}
	// The pair's stream: from the old replica's last sample, of any
	// target, to the new one's first, no longer than the failover timeout
	// plus a scrape interval (the new replica pushes once per scrape, so
	// its first push after the timeout comes within one) plus the send
	// deadline (a sample waits that long in the sender's queue).
	pairGap := (failover + lag + interval + sendDeadline).Milliseconds()
	// One target's series: its last sample of the old replica may have
	// been scraped up to a scrape interval (plus the deadline) before the
	// replica's last push, which carried the other targets' samples; and
	// its first of the new replica may come one push after the failover.
	maxGap := (failover + lag + 2*interval + 2*sendDeadline).Milliseconds()
	lastR1, firstR2 := int64(0), int64(math.MaxInt64)
	for series, ss := range got {
		// One series per target, of the cluster, without the replica
		// label.
		if strings.Contains(series, "__replica__") || !strings.Contains(series, `cluster="c1"`) || !strings.Contains(series, `job="ha"`) {
			t.Errorf("series %s: want the cluster label and no replica label", series)
		}
		switches := 0
		for i := 1; i < len(ss); i++ {
			prev, cur := ss[i-1], ss[i]
			gap := cur.t - prev.t
			switch {
			case cur.replica != prev.replica:
				switches++
				lastR1, firstR2 = max(lastR1, prev.t), min(firstR2, cur.t)
				if prev.replica != 1 || cur.replica != 2 {
					t.Errorf("%s: r%g's sample at %d follows r%g's at %d", series, cur.replica, cur.t, prev.replica, prev.t)
				}
				t.Logf("%s: failover from r1 at %s to r2 at %s: a gap of %dms", series,
					time.UnixMilli(prev.t).Format("15:04:05.000"), time.UnixMilli(cur.t).Format("15:04:05.000"), gap)
				if gap > maxGap {
					t.Errorf("%s: a gap of %dms at the failover, more than the failover timeout, two scrape intervals, two send deadlines and the lag (%dms)", series, gap, maxGap)
				}
			case gap < interval.Milliseconds()/2:
				// Timestamps of one replica are a scrape interval apart:
				// closer ones are a second copy.
				t.Errorf("%s: samples at %d and %d are %dms apart, less than half the scrape interval: a duplicate", series, prev.t, cur.t, gap)
			case gap > maxGap:
				t.Errorf("%s: a gap of %dms between %d and %d", series, gap, prev.t, cur.t)
			}
		}
		if switches != 1 {
			t.Errorf("%s: %d changes of replica, want exactly one (r1 then r2): %v", series, switches, ss)
		}
	}
	t.Logf("the pair: r1's last sample at %s, r2's first at %s: a gap of %dms", time.UnixMilli(lastR1).Format("15:04:05.000"), time.UnixMilli(firstR2).Format("15:04:05.000"), firstR2-lastR1)
	// And no earlier than the failover timeout, less what a sample of r2
	// may wait in its queue: r2 pushes what it scraped before the failover
	// too (a scrape interval is plenty for the send deadline).
	if minGap := (failover - interval).Milliseconds(); firstR2-lastR1 < minGap {
		t.Errorf("the pair's samples have a gap of %dms at the failover: r2 was elected before r1 was silent for the failover timeout (want at least %dms)", firstR2-lastR1, minGap)
	}
	if firstR2-lastR1 > pairGap {
		t.Errorf("the pair's samples have a gap of %dms at the failover, more than the failover timeout, a scrape interval, the send deadline and the lag (%dms)", firstR2-lastR1, pairGap)
	}

	// The status page says r2 is elected.
	requireElected(t, d2, "r2")
	// No stored series carries the replica label.
	v, err := api.Query(ctx, `count({__replica__!=""})`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if vec, ok := v.(model.Vector); !ok || len(vec) != 0 {
		t.Errorf("series with a replica label: %v", v)
	}
}
