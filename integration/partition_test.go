package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// weftKeepalive is how long weft's gRPC clients take at most to find a
// connection dead: a ping every 10 s, answered within 5 s
// (pkg/grpcclient; the tests see weft as a black box).
const weftKeepalive = 15 * time.Second

// The partition tests cut one ingester of three off the others, or stop
// it with SIGSTOP, while pushes and queries go on: writes keep their
// quorum and answer within -distributor.remote-timeout, and reads answer
// from the other replicas, complete, within the query timeout
// (docs/durability.md, "Partitions and stopped processes").

// netLab is a network the test builds itself: a bridge in the test's
// network namespace, with an address, and one network namespace per
// member, joined to the bridge by a veth pair. Every neighbour entry is
// static, so that a cut member's packets vanish (no ARP failure tells a
// sender that the host is unreachable). Everything is removed at the end
// of the test, failed or not. It needs root and ip(8); without them the
// test fails.
type netLab struct {
	t      *testing.T
	ip     string // path of ip(8)
	id     string
	bridge string
	subnet string   // "10.a.b."
	ns     []string // the members' namespaces
	veths  []string // host side of each member's veth pair
	mac    func(host int) string

	mu      sync.Mutex
	created []func() // undo steps, in the order of creation; guarded by mu
}

const labBridgeHost = 254 // the bridge's address in the subnet

func newNetLab(t *testing.T, members int) *netLab {
	t.Helper()
	ip := "/usr/sbin/ip"
	if !fileExists(ip) {
		p, err := exec.LookPath("ip")
		if err != nil {
			t.Fatalf("cannot build the test network: no ip(8) (iproute2): %v", err)
		}
		ip = p
	}
	id := fmt.Sprintf("%04x", (os.Getpid()^int(time.Now().UnixNano()))&0xffff)
	l := &netLab{t: t, ip: ip, id: id, bridge: "wpb" + id}
	l.mac = func(host int) string { return fmt.Sprintf("02:77:%s:%s:00:%02x", id[:2], id[2:], host) }
	t.Cleanup(l.destroy)
	subnet, err := freeSubnet(ip)
	if err != nil {
		t.Fatalf("cannot build the test network: %v", err)
	}
	l.subnet = subnet
	mac := l.mac

	l.run("link", "add", l.bridge, "address", mac(labBridgeHost), "type", "bridge")
	l.undo(func() { l.quiet("link", "del", l.bridge) })
	l.run("addr", "add", l.addr(labBridgeHost)+"/24", "dev", l.bridge)
	l.run("link", "set", l.bridge, "up")
	for i := 0; i < members; i++ {
		ns, veth, peer := fmt.Sprintf("weft-part-%s-%d", id, i), fmt.Sprintf("wpv%s%d", id, i), fmt.Sprintf("wpp%s%d", id, i)
		l.run("netns", "add", ns)
		l.undo(func() { l.killIn(ns); l.quiet("netns", "del", ns) })
		l.run("link", "add", veth, "type", "veth", "peer", "name", peer)
		l.undo(func() { l.quiet("link", "del", veth) })
		l.run("link", "set", peer, "netns", ns)
		l.run("-n", ns, "link", "set", peer, "name", "eth0")
		l.run("-n", ns, "link", "set", "eth0", "address", mac(i+1))
		l.run("-n", ns, "addr", "add", l.addr(i+1)+"/24", "dev", "eth0")
		l.run("-n", ns, "link", "set", "eth0", "up")
		l.run("-n", ns, "link", "set", "lo", "up")
		l.run("link", "set", veth, "master", l.bridge)
		l.run("link", "set", veth, "up")
		l.ns, l.veths = append(l.ns, ns), append(l.veths, veth)
	}
	// Static neighbours everywhere: the bridge's and every member's.
	hosts := []int{labBridgeHost}
	for i := 0; i < members; i++ {
		hosts = append(hosts, i+1)
	}
	for _, h := range hosts {
		if h != labBridgeHost {
			l.run("neigh", "replace", l.addr(h), "lladdr", mac(h), "dev", l.bridge, "nud", "permanent")
		}
		for i, ns := range l.ns {
			if h != i+1 {
				l.run("-n", ns, "neigh", "replace", l.addr(h), "lladdr", mac(h), "dev", "eth0", "nud", "permanent")
			}
		}
	}
	return l
}

// freeSubnet picks a /24 of 10.200.0.0-10.254.255.0 that no address or
// route of this host overlaps.
func freeSubnet(ip string) (string, error) {
	var used []*net.IPNet
	for _, args := range [][]string{{"-o", "-4", "addr", "show"}, {"-4", "route", "show", "table", "all"}} {
		out, err := exec.Command(ip, args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("cannot list the networks in use: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		for _, f := range strings.Fields(string(out)) {
			if !strings.Contains(f, "/") {
				if a := net.ParseIP(f); a != nil && a.To4() != nil {
					f += "/32"
				}
			}
			if _, n, err := net.ParseCIDR(f); err == nil && n.IP.To4() != nil {
				used = append(used, n)
			}
		}
	}
	for try := 0; try < 200; try++ {
		a, b := 200+rand.IntN(55), rand.IntN(256)
		_, cand, _ := net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", a, b))
		free := true
		for _, n := range used {
			if n.Contains(cand.IP) || cand.Contains(n.IP) {
				free = false
				break
			}
		}
		if free {
			return fmt.Sprintf("10.%d.%d.", a, b), nil
		}
	}
	return "", errors.New("no free /24 in 10.200.0.0/8-10.254.255.0")
}

func (l *netLab) addr(host int) string { return l.subnet + strconv.Itoa(host) }

// host returns the address of member i.
func (l *netLab) host(i int) string { return l.addr(i + 1) }

// hosts returns the addresses of every member.
func (l *netLab) hosts() []string {
	out := make([]string, len(l.ns))
	for i := range l.ns {
		out[i] = l.host(i)
	}
	return out
}

// prefixes returns, for each member, the command that runs a program in
// its namespace.
func (l *netLab) prefixes() [][]string {
	out := make([][]string, len(l.ns))
	for i, ns := range l.ns {
		out[i] = []string{l.ip, "netns", "exec", ns}
	}
	return out
}

// cut takes member i off the bridge: its veth stays up on both ends (no
// carrier is lost, no error is reported to anyone), and every packet to or
// from it vanishes.
func (l *netLab) cut(i int) { l.run("link", "set", l.veths[i], "nomaster") }

// heal puts member i back on the bridge.
func (l *netLab) heal(i int) { l.run("link", "set", l.veths[i], "master", l.bridge) }

// cutBetween cuts members i and j off each other only: each one's
// neighbour entry of the other names a MAC address that nobody has, so
// the bridge floods their frames to every port and no one takes them. The
// other members, and the test, still reach both.
func (l *netLab) cutBetween(i, j int) {
	nowhere := fmt.Sprintf("02:77:%s:%s:ff:00", l.id[:2], l.id[2:])
	l.run("-n", l.ns[i], "neigh", "replace", l.host(j), "lladdr", nowhere, "dev", "eth0", "nud", "permanent")
	l.run("-n", l.ns[j], "neigh", "replace", l.host(i), "lladdr", nowhere, "dev", "eth0", "nud", "permanent")
}

// healBetween undoes cutBetween.
func (l *netLab) healBetween(i, j int) {
	l.run("-n", l.ns[i], "neigh", "replace", l.host(j), "lladdr", l.mac(j+1), "dev", "eth0", "nud", "permanent")
	l.run("-n", l.ns[j], "neigh", "replace", l.host(i), "lladdr", l.mac(i+1), "dev", "eth0", "nud", "permanent")
}

func (l *netLab) run(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(l.ip, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("cannot build the test network (it needs root and ip(8)): ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// quiet runs ip for cleanup: a failure is logged, not fatal.
func (l *netLab) quiet(args ...string) {
	if out, err := exec.Command(l.ip, args...).CombinedOutput(); err != nil {
		l.t.Logf("cleanup: ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// killIn kills the processes still in namespace ns: the weft processes
// that the harness started there, should its cleanup have missed one.
func (l *netLab) killIn(ns string) {
	out, _ := exec.Command(l.ip, "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (l *netLab) undo(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.created = append(l.created, f)
}

// destroy undoes what was created, last first.
func (l *netLab) destroy() {
	l.mu.Lock()
	created := l.created
	l.created = nil
	l.mu.Unlock()
	for i := len(created) - 1; i >= 0; i-- {
		created[i]()
	}
}

// timedPusher pushes one round of numbered samples every interval and
// keeps, by phase, the rounds acknowledged, the failures and the longest
// time a push took.
type timedPusher struct {
	n      numbered
	c      *apiClient
	phases *phaseLog

	mu       sync.Mutex
	next     int                      // guarded by mu
	acked    []int                    // guarded by mu
	failures map[string]int           // "phase | reason", guarded by mu
	slowest  map[string]time.Duration // by phase, guarded by mu
}

func newTimedPusher(n numbered, c *apiClient, phases *phaseLog) *timedPusher {
	return &timedPusher{n: n, c: c, phases: phases, failures: map[string]int{}, slowest: map[string]time.Duration{}}
}

func (p *timedPusher) run(stop <-chan struct{}, interval time.Duration) {
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
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		err := p.c.Push(ctx, p.n.request(round))
		took := time.Since(start)
		cancel()
		p.mu.Lock()
		if took > p.slowest[phase] {
			p.slowest[phase] = took
		}
		if err == nil {
			p.acked = append(p.acked, round)
		} else {
			p.failures[phase+" | "+failureReason(err)]++
		}
		p.mu.Unlock()
	}
}

func (p *timedPusher) snapshot() (acked []int, next int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.acked...), p.next
}

// check fails the test for every push that failed and every phase whose
// slowest push took longer than limit.
func (p *timedPusher) check(t *testing.T, limit time.Duration) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var phases []string
	for ph := range p.slowest {
		phases = append(phases, ph)
	}
	sort.Strings(phases)
	var slow []string
	for _, ph := range phases {
		slow = append(slow, fmt.Sprintf("%s %s", ph, p.slowest[ph].Round(time.Millisecond)))
	}
	t.Logf("pushes: %d tried, %d acknowledged; slowest by phase: %s", p.next, len(p.acked), strings.Join(slow, ", "))
	for k, n := range p.failures {
		t.Errorf("%d pushes failed: %s (want none: a quorum of ingesters was always reachable)", n, k)
	}
	for _, ph := range phases {
		if p.slowest[ph] > limit {
			t.Errorf("a push took %s during %q, longer than %s", p.slowest[ph].Round(time.Millisecond), ph, limit)
		}
	}
}

// readChecks reads back, through the querier, every sample acknowledged
// so far, and the label names, the values of the label "series" and the
// series of the metric, each within limit.
func readChecks(ctx context.Context, t *testing.T, qc *apiClient, p *timedPusher, when string, limit time.Duration) {
	t.Helper()
	timed := func(what string, f func(context.Context) error) {
		t.Helper()
		qctx, cancel := context.WithTimeout(ctx, 2*limit)
		defer cancel()
		start := time.Now()
		err := f(qctx)
		took := time.Since(start)
		if err != nil {
			t.Errorf("%s %s: %v (after %s)", what, when, err, took.Round(time.Millisecond))
			return
		}
		if took > limit {
			t.Errorf("%s %s took %s, longer than %s", what, when, took.Round(time.Millisecond), limit)
		}
		t.Logf("%s %s: %s", what, when, took.Round(time.Millisecond))
	}
	timed("read back", func(ctx context.Context) error {
		acked, next := p.snapshot()
		res := p.n.verify(ctx, qc, acked, next)
		if len(res.errs) > 0 || res.found != res.acked {
			return fmt.Errorf("acknowledged samples missing, duplicated or changed (%d acknowledged, %d found):\n%s", res.acked, res.found, strings.Join(res.errs, "\n"))
		}
		return nil
	})
	end := time.Now().Add(time.Minute)
	start := time.UnixMilli(p.n.base).Add(-time.Minute)
	timed("label values", func(ctx context.Context) error {
		vals, err := qc.LabelValues(ctx, "series", []string{p.n.metric}, start, end)
		if err != nil {
			return err
		}
		if len(vals) != p.n.nSeries {
			return fmt.Errorf("%d values of the label series, want %d", len(vals), p.n.nSeries)
		}
		return nil
	})
	timed("label names", func(ctx context.Context) error {
		names, err := qc.Labels(ctx, []string{p.n.metric}, start, end)
		if err != nil {
			return err
		}
		if strings.Join(names, ",") != "__name__,job,series" {
			return fmt.Errorf("label names %v, want __name__, job, series", names)
		}
		return nil
	})
	timed("series", func(ctx context.Context) error {
		ss, err := qc.Series(ctx, []string{p.n.metric}, start, end)
		if err != nil {
			return err
		}
		if len(ss) != p.n.nSeries {
			return fmt.Errorf("%d series, want %d", len(ss), p.n.nSeries)
		}
		return nil
	})
}

// partitionFlags are the flags of every member of the partition tests.
func partitionFlags(heartbeatTimeout, remoteTimeout, queryTimeout time.Duration) []string {
	return []string{
		"-distributor.replication-factor=3",
		"-ingester.ring.heartbeat-period=1s",
		"-ingester.ring.heartbeat-timeout=" + heartbeatTimeout.String(),
		"-distributor.remote-timeout=" + remoteTimeout.String(),
		"-querier.timeout=" + queryTimeout.String(),
		"-auth.multitenancy-enabled=true",
	}
}

// TestPartitionedIngester runs three ingesters (RF=3), a distributor and a
// querier, each in a network namespace of its own on one bridge. It cuts
// the third ingester off the distributor and the querier only (their
// packets vanish, the ring keeps it healthy through the other ingesters),
// then off every other process. While it is cut, every push is acknowledged within the remote timeout (two
// ingesters are a quorum) and every acknowledged sample reads back, with
// the labels and series APIs answering too, within the query timeout; the
// ring shows the ingester unhealthy after the heartbeat timeout. Once the
// cut is lifted, after 35s, memberlist heals: every member sees the three ingesters
// ACTIVE and healthy, and the healed ingester takes writes again.
func TestPartitionedIngester(t *testing.T) {
	const (
		tenant           = "part-tenant"
		heartbeatTimeout = 6 * time.Second
		remoteTimeout    = 2 * time.Second
		queryTimeout     = 10 * time.Second
		interval         = 100 * time.Millisecond
		minCut           = 35 * time.Second
		// slack for a loaded machine over the bounds weft promises.
		slack = time.Second
	)
	began := time.Now()
	ctx := testContext(t, 3*time.Minute)
	lab := newNetLab(t, 5)
	c := newHostsCluster(t, lab.hosts(), lab.prefixes(), partitionFlags(heartbeatTimeout, remoteTimeout, queryTimeout)...)
	ids := []string{"ing-1", "ing-2", "ing-3"}
	ings := make([]*weftProcess, len(ids))
	for i, id := range ids {
		ings[i] = c.startIngester(id)
	}
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier")
	all := append([]*weftProcess{dist, qr}, ings...)
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), all...)
	t.Logf("cluster up in %s on %s0/24", time.Since(began).Round(time.Millisecond), lab.subnet)

	phases := &phaseLog{}
	phases.set("steady")
	n := numbered{metric: "part_test", nSeries: 50, base: time.Now().Truncate(time.Second).UnixMilli(), step: interval.Milliseconds()}
	p := newTimedPusher(n, dist.Client(tenant), phases)
	bg := startBackground(t)
	stopPusher := bg.Stop
	bg.Go(func(stop <-chan struct{}) { p.run(stop, interval) })
	qc := qr.Client(tenant)
	time.Sleep(2 * time.Second)
	readChecks(ctx, t, qc, p, "before the cut", queryTimeout)
	// takesWrites waits until ing-3 appended what ten more rounds bring.
	takesWrites := func(what string) {
		t.Helper()
		before, err := ingesterAppended(ctx, ings[2], tenant)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, 100*time.Millisecond, what, func() error {
			now, err := ingesterAppended(ctx, ings[2], tenant)
			if err != nil {
				return err
			}
			if now-before < float64(10*n.nSeries) {
				return fmt.Errorf("ing-3 appended %.0f samples since, want at least %d", now-before, 10*n.nSeries)
			}
			return nil
		})
	}

	// (a) ing-3 cut off the distributor and the querier only. It still
	// gossips with the other ingesters, which carry its heartbeats: the
	// ring keeps it healthy, and the distributor and the querier keep
	// sending it their share. Their calls must not wait for it, on the
	// connections that go nowhere, nor once gRPC's keepalive closed them
	// (a ping unanswered for 15 s).
	phases.set("ing-3 cut off the distributor and the querier")
	lab.cutBetween(2, 3)
	lab.cutBetween(2, 4)
	asymAt := time.Now()
	time.Sleep(time.Second)
	readChecks(ctx, t, qc, p, "with ing-3 cut off the distributor and the querier", queryTimeout)
	time.Sleep(time.Until(asymAt.Add(weftKeepalive + 2*time.Second)))
	readChecks(ctx, t, qc, p, "with ing-3 cut off the distributor and the querier, after the keepalive", queryTimeout)
	waitRing(t, time.Second, "ing-3 healthy while the other ingesters hear from it", instanceIs("ing-3", "ACTIVE", true), dist, qr)
	phases.set("ing-3 reachable again")
	lab.healBetween(2, 3)
	lab.healBetween(2, 4)
	takesWrites("ing-3 takes writes again after the distributor reaches it")

	phases.set("ing-3 cut, still healthy in the ring")
	lab.cut(2)
	cutAt := time.Now()
	time.Sleep(time.Second)
	readChecks(ctx, t, qc, p, "with ing-3 cut, still healthy in the ring", queryTimeout)
	waitRing(t, heartbeatTimeout+15*time.Second, "the cut ingester unhealthy", instanceIs("ing-3", "", false), dist, qr)
	t.Logf("ing-3 unhealthy in the ring of the distributor and the querier %s after the cut", time.Since(cutAt).Round(100*time.Millisecond))
	phases.set("ing-3 cut, unhealthy")
	time.Sleep(2 * time.Second)
	readChecks(ctx, t, qc, p, "with ing-3 cut and unhealthy", queryTimeout)

	// The cut lasts longer than memberlist's gossip to the dead (30s): by
	// then the members have stopped gossiping to the cut one, which must
	// find them again by itself.
	phases.set("ing-3 cut, unhealthy, waiting")
	time.Sleep(time.Until(cutAt.Add(minCut)))
	phases.set("cut lifted")
	lab.heal(2)
	healAt := time.Now()
	waitRing(t, 45*time.Second, "every member sees the three ingesters ACTIVE and healthy after the cut", allActive(ids...), all...)
	t.Logf("memberlist healed %s after the cut was lifted (the cut lasted %s)", time.Since(healAt).Round(100*time.Millisecond), healAt.Sub(cutAt).Round(100*time.Millisecond))
	takesWrites("the healed ingester takes writes")
	phases.set("healed")
	time.Sleep(time.Second)
	stopPusher()
	readChecks(ctx, t, qc, p, "after the cut", queryTimeout)
	p.check(t, remoteTimeout+slack)
	t.Logf("phases: %s; total %s", strings.Join(append(phases.spans, phases.current()), ", "), time.Since(began).Round(time.Millisecond))
}

// TestStoppedIngester stops one ingester of three with SIGSTOP: its
// connections stay open, and nothing answers on them. Pushes are
// acknowledged within -distributor.remote-timeout by the two others, and
// queries, label and series calls answer within the query timeout with
// every acknowledged sample from the other replicas, rather than wait for
// the stopped one. After SIGCONT it rejoins and takes writes again.
func TestStoppedIngester(t *testing.T) {
	const (
		tenant           = "stop-tenant"
		heartbeatTimeout = 6 * time.Second
		remoteTimeout    = 2 * time.Second
		queryTimeout     = 10 * time.Second
		interval         = 100 * time.Millisecond
		slack            = time.Second
	)
	began := time.Now()
	ctx := testContext(t, 3*time.Minute)
	c := newCluster(t, 5, partitionFlags(heartbeatTimeout, remoteTimeout, queryTimeout)...)
	ids := []string{"ing-1", "ing-2", "ing-3"}
	ings := make([]*weftProcess, len(ids))
	for i, id := range ids {
		ings[i] = c.startIngester(id)
	}
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier")
	all := append([]*weftProcess{dist, qr}, ings...)
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), all...)
	t.Logf("cluster up in %s", time.Since(began).Round(time.Millisecond))

	phases := &phaseLog{}
	phases.set("steady")
	n := numbered{metric: "stop_test", nSeries: 50, base: time.Now().Truncate(time.Second).UnixMilli(), step: interval.Milliseconds()}
	p := newTimedPusher(n, dist.Client(tenant), phases)
	bg := startBackground(t)
	stopPusher := bg.Stop
	bg.Go(func(stop <-chan struct{}) { p.run(stop, interval) })
	qc := qr.Client(tenant)
	time.Sleep(2 * time.Second)
	readChecks(ctx, t, qc, p, "before SIGSTOP", queryTimeout)

	victim := ings[2]
	// Whatever happens, the process is continued before the harness kills
	// it (a stopped process takes SIGKILL too, but is left running
	// otherwise).
	t.Cleanup(func() { _ = victim.Signal(syscall.SIGCONT) })
	phases.set("ing-3 stopped, still healthy in the ring")
	if err := victim.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("cannot stop ing-3: %v", err)
	}
	stoppedAt := time.Now()
	time.Sleep(time.Second)
	readChecks(ctx, t, qc, p, "with ing-3 stopped, still healthy in the ring", queryTimeout)
	waitRing(t, heartbeatTimeout+15*time.Second, "the stopped ingester unhealthy", instanceIs("ing-3", "", false), dist, qr)
	t.Logf("ing-3 unhealthy in the ring %s after SIGSTOP", time.Since(stoppedAt).Round(100*time.Millisecond))
	phases.set("ing-3 stopped, unhealthy")
	time.Sleep(2 * time.Second)
	readChecks(ctx, t, qc, p, "with ing-3 stopped and unhealthy", queryTimeout)

	phases.set("ing-3 continued")
	if err := victim.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("cannot continue ing-3: %v", err)
	}
	contAt := time.Now()
	waitRing(t, 45*time.Second, "every member sees the three ingesters ACTIVE and healthy after SIGCONT", allActive(ids...), all...)
	t.Logf("ing-3 rejoined %s after SIGCONT (stopped for %s)", time.Since(contAt).Round(100*time.Millisecond), contAt.Sub(stoppedAt).Round(100*time.Millisecond))
	before, err := ingesterAppended(ctx, victim, tenant)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, 100*time.Millisecond, "the continued ingester takes writes", func() error {
		now, err := ingesterAppended(ctx, victim, tenant)
		if err != nil {
			return err
		}
		if now-before < float64(10*n.nSeries) {
			return fmt.Errorf("ing-3 appended %.0f samples since it is back, want at least %d", now-before, 10*n.nSeries)
		}
		return nil
	})
	phases.set("continued")
	time.Sleep(time.Second)
	stopPusher()
	readChecks(ctx, t, qc, p, "after SIGCONT", queryTimeout)
	p.check(t, remoteTimeout+slack)
	t.Logf("phases: %s; total %s", strings.Join(append(phases.spans, phases.current()), ", "), time.Since(began).Round(time.Millisecond))
}
