package integration

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// This file is the harness of the distributed tests: a cluster of weft
// processes, one per role (or mix of roles), that gossip on loopback (or
// share an etcd), with helpers to read the ring's status page, ingesters'
// metrics, and to push and read back numbered samples.

// cluster starts the weft processes of one distributed weft. With
// memberlist, the gossip ports of every member are picked before any
// starts, so that each member joins all the others: any of them, restarted,
// finds the cluster again, whichever are down.
type cluster struct {
	t      *testing.T
	root   string
	bucket string
	// common flags of every member (replication factor, heartbeats, ...).
	common []string
	// gossip holds the gossip address of each member slot; nil when the
	// ring is not kept in memberlist.
	gossip []string
	next   int
	// tls is given to each member's weftProcess (its HTTPS client side).
	tls *tls.Config
	// hosts, when set, gives each member slot an IP address of its own
	// (a network namespace, entered with prefixes[slot]): the member
	// listens there for HTTP, gRPC and gossip, on fixed ports.
	hosts    []string
	prefixes [][]string
}

// Fixed ports of a member with an address of its own (cluster.hosts).
const (
	hostHTTPPort   = "8080"
	hostGRPCPort   = "9095"
	hostGossipPort = "7946"
)

// newHostsCluster returns a cluster whose member slot i listens on
// hosts[i] and runs under prefixes[i] (see cluster.hosts), gossiping with
// memberlist.
func newHostsCluster(t *testing.T, hosts []string, prefixes [][]string, common ...string) *cluster {
	c := &cluster{t: t, root: t.TempDir(), common: common, hosts: hosts, prefixes: prefixes}
	c.bucket = filepath.Join(c.root, "bucket")
	for _, h := range hosts {
		c.gossip = append(c.gossip, net.JoinHostPort(h, hostGossipPort))
	}
	return c
}

// newCluster returns a cluster of at most members processes that gossip
// with memberlist. common flags are given to each of them.
func newCluster(t *testing.T, members int, common ...string) *cluster {
	c := &cluster{t: t, root: t.TempDir(), common: common}
	c.bucket = filepath.Join(c.root, "bucket")
	for i := 0; i < members; i++ {
		c.gossip = append(c.gossip, freeAddr(t))
	}
	return c
}

// newEtcdCluster returns a cluster whose ring lives in the etcd at endpoint.
func newEtcdCluster(t *testing.T, endpoint string, common ...string) *cluster {
	c := &cluster{t: t, root: t.TempDir()}
	c.bucket = filepath.Join(c.root, "bucket")
	c.common = append([]string{"-ring.store=etcd", "-ring.etcd.endpoints=" + endpoint}, common...)
	return c
}

func (c *cluster) args(slot int, target string, extra []string) []string {
	args := []string{"-target=" + target}
	if c.gossip != nil {
		host, port, _ := net.SplitHostPort(c.gossip[slot])
		var join []string
		for i, a := range c.gossip {
			if i != slot {
				join = append(join, a)
			}
		}
		args = append(args,
			"-memberlist.bind-addr="+host,
			"-memberlist.bind-port="+port,
			"-memberlist.join="+strings.Join(join, ","),
		)
	}
	args = append(args, c.common...)
	return append(args, extra...)
}

// start starts a member named name (also its directory and the name of its
// log in the test output) running target, with extra flags after the
// cluster's, and waits for /ready. It is killed at the end of the test.
func (c *cluster) start(name, target string, extra ...string) *weftProcess {
	t := c.t
	t.Helper()
	slot := c.next
	c.next++
	if c.gossip != nil && slot >= len(c.gossip) {
		t.Fatalf("cluster has room for %d members, starting a %dth", len(c.gossip), slot+1)
	}
	dir := filepath.Join(c.root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &weftProcess{
		t:         t,
		name:      name,
		DataDir:   filepath.Join(dir, "data"),
		BucketDir: c.bucket,
		LogPath:   filepath.Join(dir, "weft.log"),
		TLS:       c.tls,
	}
	if c.hosts != nil {
		w.Prefix = c.prefixes[slot]
	}
	t.Cleanup(func() {
		if cmd, _ := w.running(); cmd != nil {
			w.Kill()
		}
		if t.Failed() {
			dumpLog(t, w.name, w.LogPath)
		}
	})
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if c.hosts != nil {
			// A host of its own: the fixed ports are free.
			w.HTTPAddr, w.GRPCAddr = net.JoinHostPort(c.hosts[slot], hostHTTPPort), net.JoinHostPort(c.hosts[slot], hostGRPCPort)
			w.args = c.args(slot, target, extra)
			if lastErr = w.start(); lastErr == nil {
				return w
			}
			break
		}
		w.HTTPAddr, w.GRPCAddr = freeAddr(t), freeAddr(t)
		if attempt > 0 && c.gossip != nil {
			// Members already running keep the old address in their join
			// list; they know the others.
			c.gossip[slot] = freeAddr(t)
		}
		w.args = c.args(slot, target, extra)
		lastErr = w.start()
		if lastErr == nil {
			return w
		}
		if !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("cannot start %s: %v", name, lastErr)
	return nil
}

// startIngester starts an ingester with ring instance ID id.
func (c *cluster) startIngester(id string, extra ...string) *weftProcess {
	c.t.Helper()
	return c.start(id, "ingester", append([]string{"-ingester.ring.instance-id=" + id}, extra...)...)
}

// ringStatus is the JSON of /ring?format=json.
type ringStatus struct {
	Instances []ringInstance `json:"instances"`
}

type ringInstance struct {
	ID                  string  `json:"id"`
	Address             string  `json:"address"`
	Zone                string  `json:"zone"`
	State               string  `json:"state"`
	Healthy             bool    `json:"healthy"`
	HeartbeatAgeSeconds float64 `json:"heartbeat_age_seconds"`
	Tokens              int     `json:"tokens"`
	OwnedPercent        float64 `json:"owned_percent"`
}

func (s ringStatus) instance(id string) (ringInstance, bool) {
	for _, in := range s.Instances {
		if in.ID == id {
			return in, true
		}
	}
	return ringInstance{}, false
}

func (s ringStatus) String() string {
	var parts []string
	for _, in := range s.Instances {
		h := "healthy"
		if !in.Healthy {
			h = "UNHEALTHY"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s heartbeat %.0fs ago", in.ID, in.State, h, in.HeartbeatAgeSeconds))
	}
	if len(parts) == 0 {
		return "empty ring"
	}
	return strings.Join(parts, "; ")
}

// fetchRing reads the ingester ring as the process w sees it.
func fetchRing(ctx context.Context, w *weftProcess) (ringStatus, error) {
	body, err := httpGetWith(ctx, w.httpClient(0), w.URL()+"/ring?format=json")
	if err != nil {
		return ringStatus{}, err
	}
	var s ringStatus
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return ringStatus{}, fmt.Errorf("cannot decode the ring of %s: %w: %.300s", w.name, err, body)
	}
	return s, nil
}

// waitRing polls the ring as each of procs sees it until cond holds for
// all of them.
func waitRing(t *testing.T, timeout time.Duration, what string, cond func(ringStatus) error, procs ...*weftProcess) {
	t.Helper()
	eventually(t, timeout, 100*time.Millisecond, what, func() error {
		for _, w := range procs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s, err := fetchRing(ctx, w)
			cancel()
			if err != nil {
				return err
			}
			if err := cond(s); err != nil {
				return fmt.Errorf("as %s sees it: %w (ring: %s)", w.name, err, s)
			}
		}
		return nil
	})
}

// allActive holds when the ring has exactly the instances ids, each ACTIVE
// and healthy.
func allActive(ids ...string) func(ringStatus) error {
	return func(s ringStatus) error {
		if len(s.Instances) != len(ids) {
			return fmt.Errorf("%d instances, want %d", len(s.Instances), len(ids))
		}
		for _, id := range ids {
			in, ok := s.instance(id)
			if !ok {
				return fmt.Errorf("%s is not in the ring", id)
			}
			if in.State != "ACTIVE" || !in.Healthy {
				return fmt.Errorf("%s is %s, healthy=%v", id, in.State, in.Healthy)
			}
		}
		return nil
	}
}

// instanceIs holds when instance id is in the ring with state (any state
// when "") and the given health.
func instanceIs(id, state string, healthy bool) func(ringStatus) error {
	return func(s ringStatus) error {
		in, ok := s.instance(id)
		if !ok {
			return fmt.Errorf("%s is not in the ring", id)
		}
		if (state != "" && in.State != state) || in.Healthy != healthy {
			return fmt.Errorf("%s is %s, healthy=%v; want %s, healthy=%v", id, in.State, in.Healthy, state, healthy)
		}
		return nil
	}
}

// instanceDown holds when instance id is unhealthy in the ring or no longer
// in it: a shard ring forgets a dead instance as soon as it is unhealthy
// (at the next heartbeat of another), so the unhealthy state may last
// less than one poll.
func instanceDown(id string) func(ringStatus) error {
	return func(s ringStatus) error {
		if in, ok := s.instance(id); ok && in.Healthy {
			return fmt.Errorf("%s is still healthy in the ring (%s)", id, in.State)
		}
		return nil
	}
}

// instanceGone holds when instance id is not in the ring.
func instanceGone(id string) func(ringStatus) error {
	return func(s ringStatus) error {
		if in, ok := s.instance(id); ok {
			return fmt.Errorf("%s is still in the ring (%s, healthy=%v)", id, in.State, in.Healthy)
		}
		return nil
	}
}

// forgetInstance presses the Forget button of the ring page of w: a POST
// of the form field "forget". dskit answers 302 (post/redirect/get).
func forgetInstance(ctx context.Context, w *weftProcess, id string) error {
	form := url.Values{"forget": {id}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL()+"/ring", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode/100 != 2 {
		b := make([]byte, 300)
		n, _ := resp.Body.Read(b)
		return fmt.Errorf("POST forget=%s to %s/ring: HTTP %d: %s", id, w.URL(), resp.StatusCode, b[:n])
	}
	return nil
}

// ingesterSeries returns the ingester's weft_ingester_series of tenant: the
// series in the tenant's head (0 when the tenant has no TSDB there).
func ingesterSeries(ctx context.Context, w *weftProcess, tenant string) (int, error) {
	f, err := metricValue(ctx, w, `weft_ingester_series{tenant="`+tenant+`"}`)
	return int(f), err
}

// ingesterAppended returns the ingester's
// weft_ingester_samples_appended_total of tenant's float samples.
func ingesterAppended(ctx context.Context, w *weftProcess, tenant string) (float64, error) {
	return metricValue(ctx, w, `weft_ingester_samples_appended_total{tenant="`+tenant+`",type="float"}`)
}

// metricValue returns the value of the sample of /metrics written exactly
// as series (name and labels in the order the server writes them), or 0
// when there is none.
func metricValue(ctx context.Context, w *weftProcess, series string) (float64, error) {
	body, err := httpGet(ctx, w.URL()+"/metrics")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				return 0, fmt.Errorf("cannot parse %q of %s: %w", line, w.name, err)
			}
			return f, nil
		}
	}
	return 0, nil
}

// seriesCounts returns ingesterSeries of tenant on each of ings.
func seriesCounts(ctx context.Context, tenant string, ings []*weftProcess) ([]int, error) {
	out := make([]int, len(ings))
	for i, w := range ings {
		n, err := ingesterSeries(ctx, w, tenant)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// numbered describes the samples the distributed tests push: nSeries
// series of metric, labelled series="0".."n-1", and in round r one sample
// per series at base+r*step with a value that is a pure function of
// (series, round), exact in float64.
type numbered struct {
	metric  string
	nSeries int
	base    int64 // ms
	step    int64 // ms
}

func (n numbered) labels(i int) []prompb.Label {
	return lbls(n.metric, "series", strconv.Itoa(i), "job", "distributed")
}

func (n numbered) ts(round int) int64 { return n.base + int64(round)*n.step }

func (n numbered) value(series, round int) float64 { return float64(round)*1000 + float64(series) }

// request returns the write request of round r: one sample per series.
func (n numbered) request(round int) *prompb.WriteRequest {
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, n.nSeries)}
	for i := range req.Timeseries {
		req.Timeseries[i] = prompb.TimeSeries{
			Labels:  n.labels(i),
			Samples: []prompb.Sample{{Timestamp: n.ts(round), Value: n.value(i, round)}},
		}
	}
	return req
}

// verifyResult compares what a querier returns with what was pushed.
type verifyResult struct {
	acked int      // acknowledged samples
	found int      // acknowledged samples returned with the right value
	extra int      // samples of unacknowledged rounds returned (correctly)
	errs  []string // the first problems found
}

// verify reads every sample of n in rounds [0, next) back with one range
// vector selector and checks that each series comes back once, each
// sample at most once and with its value, that every sample of an acked
// round is there, and that nothing else is.
func (n numbered) verify(ctx context.Context, c *apiClient, acked []int, next int) verifyResult {
	var res verifyResult
	report := func(format string, args ...any) {
		if len(res.errs) < 30 {
			res.errs = append(res.errs, fmt.Sprintf(format, args...))
		}
	}
	res.acked = len(acked) * n.nSeries
	if next == 0 {
		return res
	}
	last := n.ts(next - 1)
	v, err := c.Query(ctx, fmt.Sprintf("%s[%dms]", n.metric, last-n.base+1), time.UnixMilli(last))
	if err != nil {
		report("cannot read the samples of %s back: %v", n.metric, err)
		return res
	}
	m, ok := v.(model.Matrix)
	if !ok {
		report("query of %s returned a %s, want a matrix", n.metric, v.Type())
		return res
	}
	ackedSet := make(map[int]bool, len(acked))
	for _, r := range acked {
		ackedSet[r] = true
	}
	seen := map[int]bool{}
	for _, s := range m {
		i, err := strconv.Atoi(string(s.Metric["series"]))
		if err != nil || i < 0 || i >= n.nSeries {
			report("unexpected series %s", s.Metric)
			continue
		}
		if seen[i] {
			report("series %s returned twice", s.Metric)
			continue
		}
		seen[i] = true
		got := map[int]bool{}
		prev := int64(math.MinInt64)
		for _, p := range s.Values {
			ts := int64(p.Timestamp)
			if ts <= prev {
				report("series %d: sample at %d after one at %d (duplicate or out of order)", i, ts, prev)
			}
			prev = ts
			r := int((ts - n.base) / n.step)
			if (ts-n.base)%n.step != 0 || r < 0 || r >= next {
				report("series %d: unexpected sample %v at %d", i, p.Value, ts)
				continue
			}
			if float64(p.Value) != n.value(i, r) {
				report("series %d: round %d at %d has value %v, want %v", i, r, ts, p.Value, n.value(i, r))
				continue
			}
			if got[r] {
				continue // reported as a duplicate above
			}
			got[r] = true
			if ackedSet[r] {
				res.found++
			} else {
				res.extra++
			}
		}
		var missing []int
		for _, r := range acked {
			if !got[r] {
				missing = append(missing, r)
			}
		}
		if len(missing) > 0 {
			report("series %d: %d acknowledged samples missing, rounds %s", i, len(missing), roundRanges(missing))
		}
	}
	if len(acked) > 0 {
		for i := 0; i < n.nSeries; i++ {
			if !seen[i] {
				report("series %d is missing", i)
			}
		}
	}
	return res
}

// roundRanges renders sorted round numbers as "1-5,9".
func roundRanges(rounds []int) string {
	sort.Ints(rounds)
	var parts []string
	for i := 0; i < len(rounds); {
		j := i
		for j+1 < len(rounds) && rounds[j+1] == rounds[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(rounds[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", rounds[i], rounds[j]))
		}
		i = j + 1
	}
	if len(parts) > 8 {
		parts = append(parts[:8], "...")
	}
	return strings.Join(parts, ",")
}

// pushRounds pushes rounds [from, to) of n and fails the test on any error.
func pushRounds(ctx context.Context, t *testing.T, c *apiClient, n numbered, from, to int) {
	t.Helper()
	for r := from; r < to; r++ {
		if err := c.Push(ctx, n.request(r)); err != nil {
			t.Fatalf("cannot push round %d of %s: %v", r, n.metric, err)
		}
	}
}

// verifyAllRounds checks that rounds [0, next) of n, all acknowledged, are
// returned exactly.
func verifyAllRounds(ctx context.Context, t *testing.T, c *apiClient, n numbered, next int) {
	t.Helper()
	acked := make([]int, next)
	for i := range acked {
		acked[i] = i
	}
	res := n.verify(ctx, c, acked, next)
	if len(res.errs) > 0 || res.found != res.acked {
		t.Fatalf("%s: %d samples pushed, %d returned:\n%s", n.metric, res.acked, res.found, strings.Join(res.errs, "\n"))
	}
}

// phaseLog names what the test is doing now, so that the pusher and the
// query checker can file each failure under the phase it happened in.
type phaseLog struct {
	mu    sync.Mutex
	name  string    // guarded by mu
	since time.Time // guarded by mu
	spans []string  // guarded by mu
}

func (p *phaseLog) set(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.name != "" {
		p.spans = append(p.spans, fmt.Sprintf("%s (%s)", p.name, time.Since(p.since).Round(100*time.Millisecond)))
	}
	p.name, p.since = name, time.Now()
}

func (p *phaseLog) current() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.name
}

// failureReason is a short, stable description of why a request failed.
func failureReason(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		msg := ae.Message
		if msg == "" {
			msg = strings.TrimSpace(ae.Body)
		}
		if len(msg) > 160 {
			msg = msg[:160] + "..."
		}
		return fmt.Sprintf("HTTP %d: %s", ae.StatusCode, msg)
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return "no answer: " + s
}

// isNoAnswer reports whether err is a failure to talk to the server at all
// (refused, reset, timed out) rather than an answer.
func isNoAnswer(err error) bool {
	var ae *apiError
	return err != nil && !errors.As(err, &ae)
}

// etcdServer is an etcd started by a test on loopback.
type etcdServer struct {
	Endpoint string // host:port of the client URL
}

// startEtcd starts /usr/bin/etcd (or etcd on PATH) with a fresh data
// directory on free loopback ports and waits until it is healthy. Without
// etcd the test is skipped, or fails when the environment variable CI is
// set (CI must run .ci/run, which installs it).
func startEtcd(t *testing.T) *etcdServer {
	t.Helper()
	bin := "/usr/bin/etcd"
	if !fileExists(bin) {
		p, err := exec.LookPath("etcd")
		if err != nil {
			msg := "etcd is not installed: run .ci/run (it installs the Debian package etcd-server), or apt-get install etcd-server"
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		bin = p
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "etcd.log")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		client, peer := freeAddr(t), freeAddr(t)
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin,
			"--name", "weft-test",
			"--data-dir", filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--listen-client-urls", "http://"+client,
			"--advertise-client-urls", "http://"+client,
			"--listen-peer-urls", "http://"+peer,
			"--initial-advertise-peer-urls", "http://"+peer,
			"--initial-cluster", "weft-test=http://"+peer,
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("cannot start etcd: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
		stop := func() {
			select {
			case <-exited:
			default:
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		lastErr = waitEtcd(client, exited)
		if lastErr == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					dumpLog(t, "etcd", logPath)
				}
			})
			return &etcdServer{Endpoint: client}
		}
		stop()
		if !strings.Contains(tail(logPath, 4000), "address already in use") {
			break
		}
	}
	t.Fatalf("cannot start etcd: %v\n%s", lastErr, tail(logPath, 4000))
	return nil
}

func waitEtcd(client string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("etcd exited before it was healthy")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		body, err := httpGet(ctx, "http://"+client+"/health")
		cancel()
		if err == nil && strings.Contains(body, `"true"`) {
			return nil
		}
		last = fmt.Errorf("etcd not healthy: %v %s", err, body)
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("etcd was not healthy after 30s: %v", last)
}

// etcdKeys returns the keys under prefix, read through etcd's JSON gateway.
func etcdKeys(ctx context.Context, e *etcdServer, prefix string) ([]string, error) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	// range_end = prefix with its last byte incremented: every key with the prefix.
	end := []byte(prefix)
	end[len(end)-1]++
	body := fmt.Sprintf(`{"key":%q,"range_end":%q,"keys_only":true}`, enc(prefix), enc(string(end)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.Endpoint+"/v3/kv/range", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Kvs []struct {
			Key []byte `json:"key"` // base64 in JSON
		} `json:"kvs"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("etcd range: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	var keys []string
	for _, kv := range out.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys, nil
}
