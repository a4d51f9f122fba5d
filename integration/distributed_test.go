package integration

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// The distributed tests run weft as separate OS processes per role on
// loopback: ingesters that register in a hash ring kept in memberlist (or
// etcd), a distributor that writes each series to the replication factor's
// ingesters, and a querier that reads from a quorum of them. They kill and
// restart processes while pushes and queries go on. They do not call
// t.Parallel: each starts several weft processes, which is all that two
// cores can take.

// ringPusher pushes one round of numbered samples every interval from its
// own goroutine and remembers which rounds weft acknowledged (2xx) and why
// the others failed, by phase.
type ringPusher struct {
	n      numbered
	c      *apiClient
	phases *phaseLog

	mu       sync.Mutex
	next     int            // next round, guarded by mu
	acked    []int          // rounds answered 2xx, guarded by mu
	failures map[string]int // "phase | reason" → pushes, guarded by mu
	noAnswer map[string]int // phase → pushes that got no answer, guarded by mu
	answered map[string]int // phase → pushes answered non-2xx, guarded by mu
}

func (p *ringPusher) run(stop <-chan struct{}, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		round := p.next
		p.next++
		p.mu.Unlock()
		phase := p.phases.current()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.c.Push(ctx, p.n.request(round))
		cancel()
		p.mu.Lock()
		if err == nil {
			p.acked = append(p.acked, round)
		} else {
			if isNoAnswer(err) {
				// A push in flight when the test kills the distributor gets
				// EOF: it belongs to the phase in which the answer was lost,
				// which the test sets just before the kill.
				phase = p.phases.current()
				p.failures[phase+" | "+failureReason(err)]++
				p.noAnswer[phase]++
			} else {
				p.failures[phase+" | "+failureReason(err)]++
				p.answered[phase]++
			}
		}
		p.mu.Unlock()
	}
}

func (p *ringPusher) snapshot() (acked []int, next int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.acked...), p.next
}

// queryChecker runs an instant query every interval and keeps score: the
// queries tried, answered non-2xx, not answered at all (the querier is
// down), answered with a wrong result, and the longest time from a non-2xx
// answer to the next 2xx one.
type queryChecker struct {
	c      *apiClient
	expr   string
	want   float64 // the one value the query must return
	phases *phaseLog

	mu          sync.Mutex
	tried       int            // guarded by mu
	failed      int            // non-2xx answers, guarded by mu
	noAnswer    int            // guarded by mu
	wrong       int            // 2xx answers with a wrong result, guarded by mu
	reasons     map[string]int // "phase | reason", guarded by mu
	failStart   time.Time      // start of the current run of non-2xx answers, guarded by mu
	longest     time.Duration  // guarded by mu
	longestWhen string         // phase where the longest run started, guarded by mu
}

func (q *queryChecker) run(stop <-chan struct{}, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			q.mu.Lock()
			q.endFailureRunLocked(time.Now())
			q.mu.Unlock()
			return
		case <-tick.C:
		}
		phase := q.phases.current()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := q.c.Query(ctx, q.expr, start)
		cancel()
		q.mu.Lock()
		q.tried++
		switch {
		case err == nil:
			q.endFailureRunLocked(time.Now())
			if got, ok := singleValue(v); !ok || got != q.want {
				q.wrong++
				q.reasons[fmt.Sprintf("%s | wrong answer: %v", phase, v)]++
			}
		case isNoAnswer(err):
			// The querier is down: no answer to judge. It neither ends nor
			// extends a run of failed answers. It counts in the phase in
			// which the answer was lost: the test sets "querier down"
			// just before the kill, while this query may be on its way.
			q.noAnswer++
			q.reasons[q.phases.current()+" | "+failureReason(err)]++
		default:
			q.failed++
			q.reasons[phase+" | "+failureReason(err)]++
			if q.failStart.IsZero() {
				q.failStart = start
				q.longestWhen = phase
			}
		}
		q.mu.Unlock()
	}
}

func (q *queryChecker) endFailureRunLocked(now time.Time) {
	if q.failStart.IsZero() {
		return
	}
	if d := now.Sub(q.failStart); d > q.longest {
		q.longest = d
	}
	q.failStart = time.Time{}
}

// singleValue returns the value of a vector with exactly one sample.
func singleValue(v model.Value) (float64, bool) {
	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 1 {
		return 0, false
	}
	return float64(vec[0].Value), true
}

func sortedCounts(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %5d  %s", m[k], k)
	}
	if b.Len() == 0 {
		return " none"
	}
	return b.String()
}

// TestDistributedSurvivesFailures runs 3 ingesters (RF=3), a distributor
// and a querier as separate processes while a pusher writes a round of
// 100 samples every 100ms and a checker queries every 100ms, and in turn:
// kills an ingester with SIGKILL and restarts it; restarts every ingester
// with SIGTERM, one after the other, kept in the ring
// (-ingester.ring.unregister-on-shutdown=false) and replaying its WAL; kills
// the distributor and the querier and restarts them. Every push must
// succeed except while the distributor is down (those get no answer and
// are not acknowledged); every acknowledged sample must then be returned
// exactly once; no run of failed queries may last longer than the
// heartbeat timeout plus a margin.
func TestDistributedSurvivesFailures(t *testing.T) {
	const (
		tenant           = "dist-tenant"
		heartbeatTimeout = 10 * time.Second
		margin           = 5 * time.Second
		interval         = 100 * time.Millisecond
	)
	began := time.Now()
	ctx := testContext(t, 4*time.Minute)
	c := newCluster(t, 5,
		"-distributor.replication-factor=3",
		"-ingester.ring.heartbeat-period=2s",
		"-ingester.ring.heartbeat-timeout="+heartbeatTimeout.String(),
		"-auth.multitenancy-enabled=true",
	)
	ids := []string{"ing-1", "ing-2", "ing-3"}
	ings := make([]*weftProcess, len(ids))
	for i, id := range ids {
		ings[i] = c.startIngester(id, "-ingester.ring.unregister-on-shutdown=false")
	}
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier")
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), dist, qr)
	ringBefore, err := fetchRing(ctx, qr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster up in %s: %s", time.Since(began).Round(time.Millisecond), ringBefore)

	phases := &phaseLog{}
	phases.set("steady")
	n := numbered{metric: "dist_test", nSeries: 100, base: time.Now().Truncate(time.Second).UnixMilli(), step: interval.Milliseconds()}
	p := &ringPusher{n: n, c: dist.Client(tenant), phases: phases,
		failures: map[string]int{}, noAnswer: map[string]int{}, answered: map[string]int{}}
	chk := &queryChecker{c: qr.Client(tenant), expr: "count(dist_test)", want: float64(n.nSeries), phases: phases,
		reasons: map[string]int{}}
	bg := startBackground(t)
	stopAll := bg.Stop
	bg.Go(func(stop <-chan struct{}) { p.run(stop, interval) })
	acks := func() int { a, _ := p.snapshot(); return len(a) }
	// pushFor lets the pusher run for at least d and until it has k more
	// acknowledgements: a stretch of steady load, not a readiness wait.
	pushFor := func(d time.Duration, k int) {
		t.Helper()
		before := acks()
		time.Sleep(d)
		eventually(t, 30*time.Second, 20*time.Millisecond, "pushes acknowledged", func() error {
			if got := acks() - before; got < k {
				return fmt.Errorf("%d pushes acknowledged, want %d", got, k)
			}
			return nil
		})
	}
	// verifyNow reads back everything acknowledged so far while the
	// pusher goes on: a read from a quorum must be complete even while an
	// ingester is down or lacks what was written while it was.
	verifyNow := func(when string) {
		t.Helper()
		acked, next := p.snapshot()
		res := n.verify(ctx, qr.Client(tenant), acked, next)
		t.Logf("read back %s: %d samples acknowledged, %d found, %d found from unacknowledged pushes", when, res.acked, res.found, res.extra)
		if len(res.errs) > 0 || res.found != res.acked {
			t.Errorf("read back %s: acknowledged samples missing, duplicated or changed (%d acknowledged, %d found):\n%s", when, res.acked, res.found, strings.Join(res.errs, "\n"))
		}
	}
	// After an ingester restarts, note when it is ACTIVE; before the next
	// one stops, tell whether the distributor writes to it again (if not,
	// writes depend on the one ingester left).
	var lastBack struct {
		w        *weftProcess
		id       string
		activeAt time.Time
		appended float64
	}
	markActive := func(w *weftProcess, id string) {
		v, err := ingesterAppended(ctx, w, tenant)
		if err != nil {
			t.Fatal(err)
		}
		lastBack.w, lastBack.id, lastBack.activeAt, lastBack.appended = w, id, time.Now(), v
	}
	checkWritten := func(next string) {
		if lastBack.w == nil {
			return
		}
		v, err := ingesterAppended(ctx, lastBack.w, tenant)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s received %.0f samples in the %s between turning ACTIVE after its restart and %s stopping",
			lastBack.id, v-lastBack.appended, time.Since(lastBack.activeAt).Round(100*time.Millisecond), next)
	}
	pushFor(0, 1)
	bg.Go(func(stop <-chan struct{}) { chk.run(stop, interval) })
	pushFor(2*time.Second, 10)

	// (a) SIGKILL an ingester: while it is dead but still healthy in the
	// ring, and after it turned unhealthy, writes reach the other two, a
	// quorum.
	victim := ings[1]
	phases.set("ing-2 killed, still healthy in the ring")
	victim.Kill()
	pushFor(3*time.Second, 10)
	waitRing(t, heartbeatTimeout+10*time.Second, "the killed ingester unhealthy", instanceIs("ing-2", "ACTIVE", false), dist, qr)
	phases.set("ing-2 killed, unhealthy")
	pushFor(3*time.Second, 10)
	verifyNow("with ing-2 dead and unhealthy")
	phases.set("ing-2 restarting after kill -9")
	victim.Restart()
	waitRing(t, 30*time.Second, "the restarted ingester ACTIVE", allActive(ids...), dist, qr)
	markActive(victim, "ing-2")
	phases.set("after ing-2 restart")
	verifyNow("right after ing-2 is back (it lacks what was written while it was dead)")
	pushFor(2*time.Second, 10)

	// (b) A rolling restart: SIGTERM each ingester, which stays in the ring
	// (LEAVING) until it is back, replays its WAL and turns ACTIVE.
	for i, w := range ings {
		id := ids[i]
		checkWritten(id)
		phases.set("rolling: " + id + " stopping")
		w.Stop()
		phases.set("rolling: " + id + " down")
		waitRing(t, 10*time.Second, id+" LEAVING and still in the ring", instanceIs(id, "LEAVING", true), dist, qr)
		verifyNow("with " + id + " down and LEAVING")
		phases.set("rolling: " + id + " restarting")
		w.Restart()
		waitRing(t, 30*time.Second, id+" ACTIVE again", allActive(ids...), dist, qr)
		markActive(w, id)
		phases.set("rolling: after " + id)
		pushFor(time.Second, 5)
	}

	// (c) Kill the distributor and the querier and restart them.
	phases.set("distributor down")
	dist.Kill()
	time.Sleep(2 * time.Second) // the distributor stays down for a while
	phases.set("distributor restarting")
	dist.Restart()
	waitRing(t, 30*time.Second, "the restarted distributor sees every ingester", allActive(ids...), dist)
	phases.set("after distributor restart")
	pushFor(2*time.Second, 10)
	verifyNow("after the distributor restart")
	phases.set("querier down")
	qr.Kill()
	time.Sleep(2 * time.Second) // the querier stays down for a while
	phases.set("querier restarting")
	qr.Restart()
	waitRing(t, 30*time.Second, "the restarted querier sees every ingester", allActive(ids...), qr)
	phases.set("steady at the end")
	pushFor(3*time.Second, 10)
	stopAll()
	phases.set("verify")

	acked, next := p.snapshot()
	res := n.verify(ctx, qr.Client(tenant), acked, next)
	ringAfter, err := fetchRing(ctx, qr)
	if err != nil {
		t.Fatal(err)
	}

	p.mu.Lock()
	chk.mu.Lock()
	defer p.mu.Unlock()
	defer chk.mu.Unlock()
	var pushFailed, pushNoAnswer int
	for _, k := range p.answered {
		pushFailed += k
	}
	for _, k := range p.noAnswer {
		pushNoAnswer += k
	}
	t.Logf("phases: %s", strings.Join(phases.spans, ", "))
	t.Logf("pushes: %d tried, %d acknowledged, %d answered non-2xx, %d not answered; failures by phase and reason:%s",
		next, len(acked), pushFailed, pushNoAnswer, sortedCounts(p.failures))
	t.Logf("samples: %d acknowledged, %d of them found, %d found from unacknowledged pushes", res.acked, res.found, res.extra)
	t.Logf("queries: %d tried, %d failed (non-2xx), %d not answered (querier down), %d wrong answers; longest run of failures %s (from phase %q); by phase and reason:%s",
		chk.tried, chk.failed, chk.noAnswer, chk.wrong, chk.longest.Round(time.Millisecond), chk.longestWhen, sortedCounts(chk.reasons))
	t.Logf("total %s", time.Since(began).Round(time.Millisecond))

	if len(res.errs) > 0 || res.found != res.acked {
		t.Errorf("acknowledged samples lost, duplicated or changed (%d acknowledged, %d found):\n%s", res.acked, res.found, strings.Join(res.errs, "\n"))
	}
	// With RF=3 a write needs 2 of 3 ingesters, and at most one is ever
	// down or LEAVING: every push must succeed, except while the
	// distributor itself is down, when pushes cannot even connect.
	for phase, k := range p.answered {
		t.Errorf("%d pushes answered non-2xx during %q (want none: at most one ingester was down, a quorum was up; "+
			"if the restarted ingester received no samples before the next one stopped (logged above), the distributor had not reconnected to it yet)", k, phase)
	}
	for phase, k := range p.noAnswer {
		if phase != "distributor down" && phase != "distributor restarting" {
			t.Errorf("%d pushes got no answer during %q (the distributor was up)", k, phase)
		}
	}
	if chk.longest > heartbeatTimeout+margin {
		t.Errorf("queries failed for %s in a row from phase %q, longer than the heartbeat timeout %s + %s", chk.longest, chk.longestWhen, heartbeatTimeout, margin)
	}
	if chk.wrong > 0 {
		t.Errorf("%d queries answered 2xx with a wrong result", chk.wrong)
	}
	for q, k := range chk.reasons {
		if !strings.HasPrefix(q, "querier down |") && !strings.HasPrefix(q, "querier restarting |") && strings.Contains(q, "no answer:") {
			t.Errorf("%d queries got no answer while the querier was up: %s", k, q)
		}
	}
	// The ingesters kept their tokens across every restart (tokens file),
	// so each owns the same part of the ring.
	for _, before := range ringBefore.Instances {
		after, ok := ringAfter.instance(before.ID)
		if !ok || after.Tokens != before.Tokens || math.Abs(after.OwnedPercent-before.OwnedPercent) > 1e-9 {
			t.Errorf("%s owned %.4f%% with %d tokens before the restarts and %.4f%% with %d after: its tokens changed", before.ID, before.OwnedPercent, before.Tokens, after.OwnedPercent, after.Tokens)
		}
		if !fileExists(filepath.Join(ings[indexOf(ids, before.ID)].DataDir, "ingester", "ring-tokens")) {
			t.Errorf("%s has no tokens file in <data.dir>/ingester/ring-tokens", before.ID)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// TestDistributedZonesAndShuffleSharding checks where series land. With
// zone awareness (RF=3, two ingesters in each of zones a, b and c) every
// series is on exactly one ingester of each zone: pushing one series at a
// time, exactly one ingester per zone gains it. With shuffle sharding
// (RF=1, three ingesters, a runtime file giving tenant "small"
// ingestion_tenant_shard_size 1) the series of "small" are all on one
// ingester while another tenant's spread over all three; both read back
// complete through a process running distributor and querier together.
func TestDistributedZonesAndShuffleSharding(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	t.Run("zones", func(t *testing.T) {
		c := newCluster(t, 7,
			"-distributor.replication-factor=3",
			"-distributor.zone-awareness-enabled",
			"-ingester.ring.heartbeat-period=2s",
			"-ingester.ring.heartbeat-timeout=20s",
		)
		zones := []string{"a", "b", "c"}
		var ings []*weftProcess
		var ids []string
		for _, z := range zones {
			for k := 1; k <= 2; k++ {
				id := fmt.Sprintf("ing-%s%d", z, k)
				ids = append(ids, id)
				ings = append(ings, c.startIngester(id, "-ingester.availability-zone="+z))
			}
		}
		dq := c.start("distributor-querier", "distributor,querier")
		waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), dq)
		st, err := fetchRing(ctx, dq)
		if err != nil {
			t.Fatal(err)
		}
		owned := map[string]float64{}
		for _, in := range st.Instances {
			want := in.ID[len("ing-") : len("ing-")+1]
			if in.Zone != want {
				t.Errorf("%s is in zone %q in the ring, want %q", in.ID, in.Zone, want)
			}
			owned[in.Zone] += in.OwnedPercent
		}
		for _, z := range zones {
			if math.Abs(owned[z]-100) > 0.01 {
				t.Errorf("the instances of zone %s own %.3f%% of the ring, want 100%% per zone", z, owned[z])
			}
		}

		const tenant = "zoned"
		cl := dq.Client(tenant)
		n := numbered{metric: "zone_test", nSeries: 30, base: time.Now().Add(-time.Minute).Truncate(time.Second).UnixMilli(), step: 1000}
		prev := make([]int, len(ings))
		for i := 0; i < n.nSeries; i++ {
			req := n.request(0)
			req.Timeseries = req.Timeseries[i : i+1]
			if err := cl.Push(ctx, req); err != nil {
				t.Fatalf("cannot push series %d: %v", i, err)
			}
			// The third replica may be written just after the quorum answered.
			var cur []int
			eventually(t, 10*time.Second, 10*time.Millisecond, fmt.Sprintf("series %d on 3 ingesters", i), func() error {
				cur, err = seriesCounts(ctx, tenant, ings)
				if err != nil {
					return err
				}
				total := 0
				for k := range cur {
					total += cur[k] - prev[k]
				}
				if total < 3 {
					return fmt.Errorf("on %d ingesters so far (series counts %v, before %v)", total, cur, prev)
				}
				return nil
			})
			perZone := map[string][]string{}
			for k := range cur {
				switch d := cur[k] - prev[k]; d {
				case 0:
				case 1:
					perZone[zones[k/2]] = append(perZone[zones[k/2]], ids[k])
				default:
					t.Errorf("series %d: %s gained %d series", i, ids[k], d)
				}
			}
			for _, z := range zones {
				if len(perZone[z]) != 1 {
					t.Errorf("series %d is on %v in zone %s, want exactly one ingester of the zone", i, perZone[z], z)
				}
			}
			prev = cur
		}
		pushRounds(ctx, t, cl, n, 1, 20)
		verifyAllRounds(ctx, t, cl, n, 20)
		t.Logf("series per ingester %v (zones a, a, b, b, c, c)", prev)
	})

	t.Run("shuffle-sharding", func(t *testing.T) {
		runtimeFile := filepath.Join(t.TempDir(), "runtime.yaml")
		if err := os.WriteFile(runtimeFile, []byte("overrides:\n  small:\n    ingestion_tenant_shard_size: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c := newCluster(t, 4,
			"-distributor.replication-factor=1",
			"-ingester.ring.heartbeat-period=2s",
			"-ingester.ring.heartbeat-timeout=20s",
			"-runtime-config.file="+runtimeFile,
		)
		ids := []string{"ing-1", "ing-2", "ing-3"}
		var ings []*weftProcess
		for _, id := range ids {
			ings = append(ings, c.startIngester(id))
		}
		dq := c.start("distributor-querier", "distributor,querier")
		waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), dq)
		rc, err := httpGet(ctx, dq.URL()+"/runtime_config")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rc, "ingestion_tenant_shard_size: 1") {
			t.Fatalf("/runtime_config does not show the shard size of tenant small:\n%s", rc)
		}

		base := time.Now().Add(-time.Minute).Truncate(time.Second).UnixMilli()
		const nSeries, rounds = 100, 10
		for _, tenant := range []string{"small", "big"} {
			n := numbered{metric: "shard_test", nSeries: nSeries, base: base, step: 1000}
			pushRounds(ctx, t, dq.Client(tenant), n, 0, rounds)
		}
		counts := map[string][]int{}
		for _, tenant := range []string{"small", "big"} {
			// RF=1: the distributor answered when the one replica had it.
			cur, err := seriesCounts(ctx, tenant, ings)
			if err != nil {
				t.Fatal(err)
			}
			counts[tenant] = cur
			total, holders := 0, 0
			for _, k := range cur {
				total += k
				if k > 0 {
					holders++
				}
			}
			if total != nSeries {
				t.Errorf("tenant %s has %d series over the ingesters %v, want %d (RF=1)", tenant, total, cur, nSeries)
			}
			want := map[string]int{"small": 1, "big": 3}[tenant]
			if holders != want {
				t.Errorf("tenant %s has series on %d ingesters (%v), want %d", tenant, holders, cur, want)
			}
			n := numbered{metric: "shard_test", nSeries: nSeries, base: base, step: 1000}
			verifyAllRounds(ctx, t, dq.Client(tenant), n, rounds)
		}
		t.Logf("series per ingester: small %v, big %v", counts["small"], counts["big"])
	})
}

// TestDistributedEtcdKV runs the happy path with the ring in a real etcd
// (-ring.store=etcd): 2 ingesters at RF=2, a distributor and a querier.
// Samples pushed are read back; an ingester stopped with SIGTERM leaves the
// ring, and its data stays readable from the other replica.
func TestDistributedEtcdKV(t *testing.T) {
	etcd := startEtcd(t)
	ctx := testContext(t, 2*time.Minute)
	c := newEtcdCluster(t, etcd.Endpoint,
		"-distributor.replication-factor=2",
		"-ingester.ring.heartbeat-period=1s",
		"-ingester.ring.heartbeat-timeout=10s",
	)
	ids := []string{"ing-1", "ing-2"}
	var ings []*weftProcess
	for _, id := range ids {
		ings = append(ings, c.startIngester(id))
	}
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier")
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), dist, qr)
	keys, err := etcdKeys(ctx, etcd, "weft/")
	if err != nil {
		t.Fatalf("cannot list the keys in etcd: %v", err)
	}
	t.Logf("etcd keys %q", keys)
	if !contains(keys, "weft/ingester-ring") {
		t.Errorf("etcd has keys %q, want weft/ingester-ring", keys)
	}

	const tenant = "etcd-tenant"
	n := numbered{metric: "etcd_test", nSeries: 50, base: time.Now().Add(-time.Minute).Truncate(time.Second).UnixMilli(), step: 1000}
	pushRounds(ctx, t, dist.Client(tenant), n, 0, 20)
	verifyAllRounds(ctx, t, qr.Client(tenant), n, 20)
	counts, err := seriesCounts(ctx, tenant, ings)
	if err != nil {
		t.Fatal(err)
	}
	if counts[0] != n.nSeries || counts[1] != n.nSeries {
		t.Errorf("series per ingester %v, want %d on each (RF=2 over 2 ingesters)", counts, n.nSeries)
	}

	ings[1].Stop()
	waitRing(t, 15*time.Second, "ing-2 left the ring", func(s ringStatus) error {
		if err := instanceGone("ing-2")(s); err != nil {
			return err
		}
		return instanceIs("ing-1", "ACTIVE", true)(s)
	}, qr, dist, ings[0])
	st, err := fetchRing(ctx, qr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after ing-2 stopped: %s", st)
	verifyAllRounds(ctx, t, qr.Client(tenant), n, 20)
}

func contains(list []string, s string) bool { return indexOf(list, s) >= 0 }

// TestRingForget checks the two ways a dead ingester leaves the ring. An
// ingester killed with SIGKILL (and kept in the ring on shutdown anyway)
// turns unhealthy after the heartbeat timeout and stays; the Forget button
// of /ring removes it. Then, with
// -ingester.ring.auto-forget-unhealthy-period on a surviving ingester, a
// killed one is removed without anybody pressing anything, but only after
// it has been unhealthy for a while.
func TestRingForget(t *testing.T) {
	const (
		heartbeatTimeout = 6 * time.Second
		autoForget       = 10 * time.Second
	)
	ctx := testContext(t, 2*time.Minute)
	c := newCluster(t, 3,
		"-ingester.ring.heartbeat-period=2s",
		"-ingester.ring.heartbeat-timeout="+heartbeatTimeout.String(),
		"-distributor.replication-factor=2",
		"-ingester.ring.unregister-on-shutdown=false",
	)
	ids := []string{"ing-1", "ing-2", "ing-3"}
	var ings []*weftProcess
	for _, id := range ids {
		ings = append(ings, c.startIngester(id))
	}
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), ings...)

	// The Forget button.
	ings[2].Kill()
	killed := time.Now()
	waitRing(t, heartbeatTimeout+15*time.Second, "ing-3 unhealthy", instanceIs("ing-3", "ACTIVE", false), ings[0], ings[1])
	t.Logf("ing-3 unhealthy %s after kill -9", time.Since(killed).Round(100*time.Millisecond))
	if d := time.Since(killed); d < heartbeatTimeout-2*time.Second {
		t.Errorf("ing-3 turned unhealthy %s after its kill, before the heartbeat timeout %s", d, heartbeatTimeout)
	}
	if err := forgetInstance(ctx, ings[0], "ing-3"); err != nil {
		t.Fatal(err)
	}
	waitRing(t, 15*time.Second, "ing-3 forgotten", instanceGone("ing-3"), ings[0], ings[1])
	// It stays forgotten: nothing re-adds a dead instance.
	time.Sleep(3 * time.Second)
	waitRing(t, time.Second, "ing-3 still forgotten", instanceGone("ing-3"), ings[0], ings[1])

	// Auto-forget: ing-2 restarts with the flag (it stays in the ring across
	// the restart), ing-3 comes back, then dies again.
	ings[1].Stop()
	ings[1].args = append(ings[1].args, "-ingester.ring.auto-forget-unhealthy-period="+autoForget.String())
	ings[1].Restart()
	ings[2].Restart()
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), ings...)
	ings[2].Kill()
	killed = time.Now()
	var sawUnhealthy bool
	eventually(t, autoForget+heartbeatTimeout+20*time.Second, 200*time.Millisecond, "ing-3 forgotten automatically", func() error {
		s, err := fetchRing(ctx, ings[0])
		if err != nil {
			return err
		}
		in, ok := s.instance("ing-3")
		if ok {
			sawUnhealthy = sawUnhealthy || !in.Healthy
			return fmt.Errorf("ing-3 is still in the ring (%s, healthy=%v, heartbeat %.0fs ago)", in.State, in.Healthy, in.HeartbeatAgeSeconds)
		}
		return nil
	})
	d := time.Since(killed)
	t.Logf("ing-3 forgotten automatically %s after kill -9", d.Round(100*time.Millisecond))
	if !sawUnhealthy || d < autoForget-2*time.Second {
		t.Errorf("ing-3 was forgotten %s after its kill (seen unhealthy first: %v); want only after the auto-forget period %s", d, sawUnhealthy, autoForget)
	}
	waitRing(t, 10*time.Second, "ing-3 gone for every ingester", instanceGone("ing-3"), ings[0], ings[1])
}
