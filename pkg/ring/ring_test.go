package ring

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/dskit/kv/memberlist"
	dsring "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// dskit's memberlist TCP transport hands each received packet to an
	// unbuffered channel; a packet that arrives while the KV is stopping
	// leaves its connection goroutine blocked on that send forever (seen
	// in CI). That is dskit's, and harmless in a process that is exiting.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/grafana/dskit/kv/memberlist.(*TCPTransport).handleConnection"))
}

// defaults returns a Config with every flag default, as the app builds it.
func defaults(t *testing.T) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	return c
}

func startService(t *testing.T, s services.Service) {
	t.Helper()
	// The service's context derives from the one given to StartAsync: it
	// must outlive the start, so only the wait has a deadline.
	require.NoError(t, s.StartAsync(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.AwaitRunning(ctx))
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), s) })
}

func stopService(t *testing.T, s services.Service) {
	t.Helper()
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), s))
}

// newInMemoryKV starts an in-memory KV of its own.
func newInMemoryKV(t *testing.T) *KV {
	t.Helper()
	cfg := defaults(t)
	cfg.Ring.Store = StoreInMemory
	k, err := NewKV(cfg, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	startService(t, k)
	return k
}

// newMemberlistKV starts a memberlist node on 127.0.0.1 with a random port
// that joins the given members.
func newMemberlistKV(t *testing.T, reg prometheus.Registerer, join ...string) *KV {
	t.Helper()
	cfg := defaults(t)
	cfg.Memberlist.BindAddr = StringList{"127.0.0.1"}
	cfg.Memberlist.BindPort = 0
	cfg.Memberlist.Join = join
	cfg.Memberlist.LeaveTimeout = time.Second
	cfg.Memberlist.tweak = func(c *memberlist.KVConfig) {
		c.GossipInterval = 50 * time.Millisecond
		c.PushPullInterval = time.Second
		c.MinJoinBackoff = 50 * time.Millisecond
		c.BroadcastTimeoutForLocalUpdatesOnShutdown = time.Second
	}
	require.NoError(t, cfg.Validate())
	k, err := NewKV(cfg, reg, testLogger)
	require.NoError(t, err)
	startService(t, k)
	require.NotZero(t, k.GossipPort())
	return k
}

func ingesterConfig(t *testing.T, id, zone string) IngesterConfig {
	t.Helper()
	c := defaults(t).Ring.Ingester
	c.InstanceID = id
	c.InstanceAddr = "127.0.0.1:" + strconv.Itoa(9000+len(id)) // any host:port; nothing dials it here
	c.AvailabilityZone = zone
	c.HeartbeatPeriod = 200 * time.Millisecond
	c.NumTokens = 64
	return c
}

// startIngester starts a lifecycler and activates it.
func startIngester(t *testing.T, cfg IngesterConfig, k *KV, reg prometheus.Registerer) *IngesterLifecycler {
	t.Helper()
	l, err := NewIngesterLifecycler(cfg, k, reg, testLogger)
	require.NoError(t, err)
	startService(t, l)
	require.Equal(t, dsring.JOINING, l.GetState())
	require.NoError(t, l.Activate(context.Background()))
	require.Equal(t, dsring.ACTIVE, l.GetState())
	return l
}

func waitState(t *testing.T, r dsring.ReadRing, id string, state dsring.InstanceState) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, dsring.WaitInstanceState(ctx, r, id, state), "instance %s never reached %s", id, state)
}

func TestMemberlistRingWithZones(t *testing.T) {
	// Three processes, each with its own registry: KV, lifecycler, and on
	// the first also the ring client, registering on one registry each.
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry(), prometheus.NewRegistry()}
	kv1 := newMemberlistKV(t, regs[0])
	seed := "127.0.0.1:" + strconv.Itoa(kv1.GossipPort())
	kvs := []*KV{kv1, newMemberlistKV(t, regs[1], seed), newMemberlistKV(t, regs[2], seed)}

	zones := []string{"a", "b", "c"}
	ls := make([]*IngesterLifecycler, 3)
	for i, z := range zones {
		cfg := ingesterConfig(t, "ingester-"+z, z)
		cfg.ZoneAwarenessEnabled = true
		// Memberlist orders updates by heartbeat timestamps in whole
		// seconds: with sub-second heartbeats a state change made in the
		// same second as the last heartbeat is dropped and retried.
		cfg.HeartbeatPeriod = 2 * time.Second
		ls[i] = startIngester(t, cfg, kvs[i], regs[i])
	}

	rcfg := ingesterConfig(t, "unused", "")
	rcfg.ZoneAwarenessEnabled = true
	r, err := NewIngesterRing(rcfg, kv1, regs[0], nil)
	require.NoError(t, err)
	startService(t, r)
	for _, z := range zones {
		waitState(t, r, "ingester-"+z, dsring.ACTIVE)
	}
	require.Equal(t, 3, r.InstancesCount())
	require.Equal(t, 3, r.ZonesCount())

	buf := NewBuffers()
	for i := range 200 {
		token := TokenFor("tenant-"+strconv.Itoa(i%7), seriesLabels(i))
		set, err := ReplicasForToken(r, token, dsring.WriteNoExtend, buf)
		require.NoError(t, err)
		require.Len(t, set.Instances, 3)
		require.ElementsMatch(t, []string{"ingester-a", "ingester-b", "ingester-c"}, set.GetIDs())
		seen := map[string]bool{}
		for _, inst := range set.Instances {
			seen[inst.Zone] = true
		}
		require.Len(t, seen, 3, "replicas must be in distinct zones")
	}

	rs, err := ReadReplicationSet(r, "tenant-1", 0, 0, time.Now())
	require.NoError(t, err)
	require.Len(t, rs.Instances, 3)
	require.True(t, rs.ZoneAwarenessEnabled)
	require.Equal(t, 1, rs.MaxUnavailableZones)

	// Status pages.
	mux := http.NewServeMux()
	mux.Handle("/ring", r)
	mux.Handle("/memberlist", kv1.MemberlistHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body := get(t, srv.URL+"/ring", "")
	for _, z := range zones {
		require.Contains(t, body, "ingester-"+z)
	}
	require.Contains(t, body, "Forget")
	st := getRingStatus(t, srv.URL+"/ring?format=json")
	require.Len(t, st.Instances, 3)
	for i, inst := range st.Instances {
		require.Equal(t, "ingester-"+zones[i], inst.ID)
		require.Equal(t, zones[i], inst.Zone)
		require.Equal(t, "ACTIVE", inst.State)
		require.True(t, inst.Healthy)
		require.Equal(t, 64, inst.Tokens)
		require.Less(t, inst.HeartbeatAgeSeconds, 30.0)
		// Ownership is counted within the zone; each is alone in its zone.
		require.InDelta(t, 100, inst.OwnedPercent, 0.01)
	}
	require.Contains(t, get(t, srv.URL+"/ring", "application/json"), `"owned_percent"`)

	require.Contains(t, get(t, srv.URL+"/memberlist", ""), "Memberlist")
	var ml struct {
		SortedMembers []struct{ Name string }
	}
	require.NoError(t, json.Unmarshal([]byte(get(t, srv.URL+"/memberlist?format=json", "")), &ml))
	require.Len(t, ml.SortedMembers, 3)

	// Metrics are on each process's registry, prefixed weft_.
	requireMetric(t, regs[0], "weft_ring_members")
	requireMetric(t, regs[0], "weft_ring_member_heartbeats_total")
	requireMetric(t, regs[0], "weft_memberlist_client_cluster_members_count")

	// Stopping with unregister removes the instance from every member's view.
	stopService(t, ls[2])
	require.Eventually(t, func() bool { return !r.HasInstance("ingester-c") }, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, 2, r.InstancesCount())
}

func TestInMemoryShuffleShardingAndForget(t *testing.T) {
	k := newInMemoryKV(t)
	reg := prometheus.NewRegistry()
	ids := []string{"ingester-1", "ingester-2", "ingester-3"}
	for _, id := range ids {
		// One registry per lifecycler: in production each is its own process.
		startIngester(t, ingesterConfig(t, id, ""), k, prometheus.NewRegistry())
	}
	r, err := NewIngesterRing(ingesterConfig(t, "reader", ""), k, reg, nil)
	require.NoError(t, err)
	startService(t, r)
	for _, id := range ids {
		waitState(t, r, id, dsring.ACTIVE)
	}

	set, err := ReplicasForToken(r, 12345, dsring.Write, nil)
	require.NoError(t, err)
	require.ElementsMatch(t, ids, set.GetIDs())
	require.Equal(t, 1, set.MaxErrors)

	shardOf := func(tenant string) string {
		sub := TenantShard(r, tenant, 2)
		require.Equal(t, 2, sub.InstancesCount())
		rs, err := sub.GetAllHealthy(dsring.Reporting)
		require.NoError(t, err)
		got := rs.GetIDs()
		slices.Sort(got)
		return strings.Join(got, ",")
	}
	subsets := map[string]int{}
	for i := range 50 {
		tenant := fmt.Sprintf("tenant-%d", i)
		s := shardOf(tenant)
		require.Equal(t, s, shardOf(tenant), "the shard of a tenant must be stable")
		// Writes for the tenant stay in its shard.
		ws, err := ReplicasForToken(TenantShard(r, tenant, 2), uint32(i)*7919, dsring.Write, nil)
		require.NoError(t, err)
		require.ElementsMatch(t, strings.Split(s, ","), ws.GetIDs())
		rs, err := ReadReplicationSet(r, tenant, 2, time.Hour, time.Now())
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(rs.Instances), 2)
		subsets[s]++
	}
	require.Greater(t, len(subsets), 1, "different tenants must get different shards: %v", subsets)
	require.Equal(t, 3, TenantShard(r, "x", 0).InstancesCount())

	// The Forget button of /ring.
	srv := httptest.NewServer(r)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(srv.URL, url.Values{"forget": {"ingester-2"}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Eventually(t, func() bool { return !r.HasInstance("ingester-2") }, 10*time.Second, 20*time.Millisecond)
	// A live instance heartbeats itself back in.
	waitState(t, r, "ingester-2", dsring.ACTIVE)
}

func TestTokensFileReusedAfterRestart(t *testing.T) {
	k := newInMemoryKV(t)
	r, err := NewIngesterRing(ingesterConfig(t, "reader", ""), k, nil, nil)
	require.NoError(t, err)
	startService(t, r)

	cfg := ingesterConfig(t, "ingester-1", "")
	cfg.TokensFilePath = filepath.Join(t.TempDir(), "ingester", "tokens")

	l := startIngester(t, cfg, k, nil)
	tokens := l.GetTokens()
	require.Len(t, tokens, cfg.NumTokens)
	onDisk, err := dsring.LoadTokensFromFile(cfg.TokensFilePath)
	require.NoError(t, err)
	require.Equal(t, tokens, onDisk)
	stopService(t, l)
	require.Eventually(t, func() bool { return !r.HasInstance("ingester-1") }, 10*time.Second, 20*time.Millisecond)

	// Restarted and unregistered in between: the file gives the same tokens.
	l = startIngester(t, cfg, k, nil)
	require.Equal(t, tokens, l.GetTokens())
	waitState(t, r, "ingester-1", dsring.ACTIVE)

	// Kept in the ring on shutdown: LEAVING with its tokens, then JOINING
	// again with the same tokens on restart.
	l.SetUnregisterOnShutdown(false)
	stopService(t, l)
	waitState(t, r, "ingester-1", dsring.LEAVING)
	inst, err := r.GetInstance("ingester-1")
	require.NoError(t, err)
	require.Equal(t, []uint32(tokens), inst.Tokens)

	l2, err := NewIngesterLifecycler(cfg, k, nil, nil)
	require.NoError(t, err)
	startService(t, l2)
	require.Equal(t, dsring.JOINING, l2.GetState())
	require.Equal(t, tokens, l2.GetTokens())
	require.NoError(t, l2.Activate(context.Background()))
	waitState(t, r, "ingester-1", dsring.ACTIVE)
}

func TestAutoForgetUnhealthy(t *testing.T) {
	k := newInMemoryKV(t)
	r, err := NewIngesterRing(ingesterConfig(t, "reader", ""), k, nil, nil)
	require.NoError(t, err)
	startService(t, r)

	// A dead ingester: it heartbeated long ago and nobody removed it.
	client, err := k.NewClient("test", dsring.GetCodec())
	require.NoError(t, err)
	require.NoError(t, client.CAS(context.Background(), IngesterRingKey, func(in any) (any, bool, error) {
		d := dsring.GetOrCreateRingDesc(in)
		d.AddIngester("dead", "127.0.0.1:1", "", []uint32{1, 2, 3}, dsring.ACTIVE, time.Now().Add(-2*time.Hour), false, time.Time{}, nil)
		inst := d.Ingesters["dead"]
		inst.Timestamp = time.Now().Add(-time.Hour).Unix()
		d.Ingesters["dead"] = inst
		return d, true, nil
	}))
	waitState(t, r, "dead", dsring.ACTIVE)

	cfg := ingesterConfig(t, "ingester-1", "")
	cfg.HeartbeatTimeout = time.Second
	cfg.AutoForgetUnhealthyPeriod = 2 * time.Second
	startIngester(t, cfg, k, nil)
	require.Eventually(t, func() bool { return !r.HasInstance("dead") }, 10*time.Second, 20*time.Millisecond)
	require.True(t, r.HasInstance("ingester-1"))
}

func TestNoAutoForgetByDefault(t *testing.T) {
	require.Zero(t, defaults(t).Ring.Ingester.AutoForgetUnhealthyPeriod)
}

func seriesLabels(i int) labels.Labels {
	return labels.FromStrings("__name__", "up", "job", "node", "instance", "host-"+strconv.Itoa(i))
}

func get(t *testing.T, u, accept string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}

func getRingStatus(t *testing.T, u string) RingStatus {
	t.Helper()
	var st RingStatus
	require.NoError(t, json.Unmarshal([]byte(get(t, u, "")), &st))
	return st
}

func requireMetric(t *testing.T, g prometheus.Gatherer, name string) {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return
		}
	}
	require.Failf(t, "metric not registered", "%s", name)
}

// testLogger shows dskit's warnings and errors in the test output.
var testLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// A ring can be built before its memberlist KV runs (the app builds every
// service before starting any); it connects when used, after the KV
// started, and fails to start if the KV is not running by then.
func TestMemberlistClientConnectsOnFirstUse(t *testing.T) {
	cfg := defaults(t)
	cfg.Memberlist.BindAddr = StringList{"127.0.0.1"}
	cfg.Memberlist.BindPort = 0
	k, err := NewKV(cfg, nil, nil)
	require.NoError(t, err)
	early, err := NewIngesterRing(ingesterConfig(t, "x", ""), k, nil, nil)
	require.NoError(t, err)
	require.ErrorContains(t, services.StartAndAwaitRunning(context.Background(), early), "the memberlist KV is New")

	r, err := NewIngesterRing(ingesterConfig(t, "x", ""), k, nil, nil)
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), k))
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), k) })
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), r))
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), r))

	// Without memberlist there is nothing to serve.
	mem := newInMemoryKV(t)
	rec := httptest.NewRecorder()
	mem.MemberlistHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/memberlist", nil))
	require.Contains(t, rec.Body.String(), "does not use memberlist")
}
