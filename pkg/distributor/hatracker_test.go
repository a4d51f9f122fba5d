package distributor

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	gokit "github.com/go-kit/log"
	"github.com/golang/snappy"
	"github.com/grafana/dskit/kv"
	"github.com/grafana/dskit/kv/consul"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// fakeClock is a clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// haSetup is a distributor with an HA tracker over client (nil: in
// process), a capturing pusher, and a clock shared by both.
type haSetup struct {
	d       *Distributor
	tracker *HATracker
	pusher  *capturePusher
	clock   *fakeClock
	reg     *prometheus.Registry
}

func haLimits(t *testing.T, edit func(*limits.Limits)) *limits.Limits {
	l := defaultLimits(t)
	l.AcceptHASamples = true
	l.HATrackerFailoverTimeout = model.Duration(10 * time.Second)
	if edit != nil {
		edit(l)
	}
	require.NoError(t, l.Validate())
	return l
}

func newHASetup(t *testing.T, lim *limits.Limits, client kv.Client, clock *fakeClock) *haSetup {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	reg := prometheus.NewRegistry()
	tr, err := NewHATracker(cfg.HATracker, client, reg, nil)
	require.NoError(t, err)
	tr.now = clock.now
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), tr))
	t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), tr)) })
	p := &capturePusher{}
	d, err := New(cfg, limits.NewOverrides(*lim, nil), p, tenant.Resolver{MultiTenancy: true}, reg, nil, WithHATracker(tr))
	require.NoError(t, err)
	d.now = clock.now
	return &haSetup{d: d, tracker: tr, pusher: p, clock: clock, reg: reg}
}

// push sends one remote write 1.0 request of two series carrying the given
// external labels (none when empty), at the clock's time, and returns the
// status and body.
func (s *haSetup) push(t *testing.T, tenantID, cluster, replica string) (int, string) {
	t.Helper()
	ts := s.clock.now().UnixMilli()
	var req prompb.WriteRequest
	for _, job := range []string{"a", "b"} {
		ls := []prompb.Label{{Name: "__name__", Value: "up"}}
		if replica != "" {
			ls = append(ls, prompb.Label{Name: "__replica__", Value: replica})
		}
		if cluster != "" {
			ls = append(ls, prompb.Label{Name: "cluster", Value: cluster})
		}
		ls = append(ls, prompb.Label{Name: "job", Value: job})
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Value: 1, Timestamp: ts}}})
	}
	pb, err := req.Marshal()
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "/api/v1/push", bytes.NewReader(snappy.Encode(nil, pb)))
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set(tenant.Header, tenantID)
	w := httptest.NewRecorder()
	s.pusher.last.Series = nil
	s.d.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func (s *haSetup) storedLabels() []string {
	var out []string
	for _, ser := range s.pusher.last.Series {
		out = append(out, ser.Labels.String())
	}
	return out
}

func TestHADedupElectionDropAndFailover(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s := newHASetup(t, haLimits(t, nil), nil, clock)

	// The first replica seen is elected at once, and its series are
	// stored without the replica label.
	code, body := s.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code, body)
	require.Equal(t, []string{`{__name__="up", cluster="c1", job="a"}`, `{__name__="up", cluster="c1", job="b"}`}, s.storedLabels())

	// The other replica is answered 202 and nothing of it is stored.
	code, _ = s.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusAccepted, code)
	require.Empty(t, s.pusher.last.Series)
	require.Equal(t, 2.0, testutil.ToFloat64(s.d.haDropped.WithLabelValues("team")))

	// r1 keeps pushing; r2 is refused for as long as r1 was seen within
	// the failover timeout (10s).
	clock.advance(5 * time.Second)
	code, _ = s.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code)
	// This push is not written to the store (its last-seen time there is
	// 3s old, less than a third of the failover timeout), but this
	// distributor saw it.
	clock.advance(3 * time.Second)
	code, _ = s.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code)
	clock.advance(9 * time.Second)
	code, _ = s.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusAccepted, code, "r1 was seen 9s ago (12s ago, says the store)")

	// r1 sent nothing for more than the failover timeout: r2 takes over,
	// and r1, back, is the duplicate.
	clock.advance(2 * time.Second)
	code, _ = s.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, []string{`{__name__="up", cluster="c1", job="a"}`, `{__name__="up", cluster="c1", job="b"}`}, s.storedLabels())
	code, _ = s.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, 6.0, testutil.ToFloat64(s.d.haDropped.WithLabelValues("team")))
	require.Equal(t, 1.0, testutil.ToFloat64(s.tracker.electedChanges.WithLabelValues("team", "c1")))

	// Other clusters and tenants are elected apart.
	code, _ = s.push(t, "team", "c2", "r1")
	require.Equal(t, http.StatusNoContent, code)
	code, _ = s.push(t, "other", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code)

	el := s.tracker.Elections()
	require.Len(t, el, 3)
	require.Equal(t, ReplicaDesc{Tenant: "team", Cluster: "c1", Replica: "r2", ElectedAt: clock.now().UnixMilli(), ReceivedAt: clock.now().UnixMilli()}, el[1])
}

func TestHADedupPassesWithoutLabels(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s := newHASetup(t, haLimits(t, nil), nil, clock)

	// Without the cluster label, or without the replica label, a push
	// passes as sent.
	code, _ := s.push(t, "team", "", "")
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, []string{`{__name__="up", job="a"}`, `{__name__="up", job="b"}`}, s.storedLabels())
	code, _ = s.push(t, "team", "", "r1")
	require.Equal(t, http.StatusNoContent, code)
	code, _ = s.push(t, "team", "", "r2")
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, []string{`{__name__="up", __replica__="r2", job="a"}`, `{__name__="up", __replica__="r2", job="b"}`}, s.storedLabels())
	require.Empty(t, s.tracker.Elections())

	// A tenant without accept_ha_samples stores both replicas, labels
	// and all.
	off := newHASetup(t, haLimits(t, func(l *limits.Limits) { l.AcceptHASamples = false }), nil, clock)
	for _, r := range []string{"r1", "r2"} {
		code, _ = off.push(t, "team", "c1", r)
		require.Equal(t, http.StatusNoContent, code)
		require.Equal(t, []string{`{__name__="up", __replica__="` + r + `", cluster="c1", job="a"}`, `{__name__="up", __replica__="` + r + `", cluster="c1", job="b"}`}, off.storedLabels())
	}
	require.Empty(t, off.tracker.Elections())
}

func TestHADedupCustomLabels(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s := newHASetup(t, haLimits(t, func(l *limits.Limits) {
		l.HAClusterLabel = "job"
		l.HAReplicaLabel = "cluster"
	}), nil, clock)
	// The series' "job" differ (a, b): the first series decides.
	code, _ := s.push(t, "team", "c1", "")
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, []string{`{__name__="up", job="a"}`, `{__name__="up", job="b"}`}, s.storedLabels())
	code, _ = s.push(t, "team", "c2", "")
	require.Equal(t, http.StatusAccepted, code)
}

func TestHAMaxClusters(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s := newHASetup(t, haLimits(t, func(l *limits.Limits) { l.HAMaxClusters = 2 }), nil, clock)
	for _, c := range []string{"c1", "c2"} {
		code, body := s.push(t, "team", c, "r1")
		require.Equal(t, http.StatusNoContent, code, body)
	}
	code, body := s.push(t, "team", "c3", "r1")
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Contains(t, body, errIDTooManyHAClusters)
	require.Contains(t, body, "ha_max_clusters")
	require.Empty(t, s.pusher.last.Series)

	// Known clusters, and other tenants, still push.
	code, _ = s.push(t, "team", "c2", "r1")
	require.Equal(t, http.StatusNoContent, code)
	code, _ = s.push(t, "other", "c3", "r1")
	require.Equal(t, http.StatusNoContent, code)

	// A cluster silent for the cleanup period stops counting.
	clock.advance(31 * time.Minute)
	code, _ = s.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code)
	s.tracker.cleanup(context.Background())
	code, body = s.push(t, "team", "c3", "r1")
	require.Equal(t, http.StatusNoContent, code, body)
}

// Two distributors sharing one KV store agree on the elected replica,
// whichever of them each replica pushes to.
func TestHATwoDistributorsShareTheKV(t *testing.T) {
	client, closer := consul.NewInMemoryClient(HACodec(), gokit.NewNopLogger(), nil)
	t.Cleanup(func() { _ = closer.Close() })
	clock := &fakeClock{t: time.Now()}
	a := newHASetup(t, haLimits(t, nil), client, clock)
	b := newHASetup(t, haLimits(t, nil), client, clock)

	code, _ := a.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code)
	// b has not seen the election yet, and reads it from the store.
	code, _ = b.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusAccepted, code)
	code, _ = b.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code)

	// r1 stops. Its last-seen time in the store is 11s old, but it may
	// have pushed to a third distributor since, up to the update interval
	// (10s/3) later without a write: no failover yet.
	clock.advance(11 * time.Second)
	code, _ = b.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusAccepted, code)
	// r2 takes over through b once r1 was surely silent for the failover
	// timeout, and a learns it by the watch.
	clock.advance(3 * time.Second)
	code, _ = b.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusNoContent, code)
	require.Eventually(t, func() bool {
		el := a.tracker.Elections()
		return len(el) == 1 && el[0].Replica == "r2"
	}, 10*time.Second, 10*time.Millisecond)
	code, _ = a.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusAccepted, code)
	code, _ = a.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusNoContent, code)

	// A distributor started later loads the elections from the store.
	c := newHASetup(t, haLimits(t, nil), client, clock)
	require.Equal(t, a.tracker.Elections(), c.tracker.Elections())
}

// The last-seen time is written to the store only when it is older than
// the update timeout (at most a third of the failover timeout), not at
// every push.
func TestHATrackerThrottlesKVWrites(t *testing.T) {
	inner, closer := consul.NewInMemoryClient(HACodec(), gokit.NewNopLogger(), nil)
	t.Cleanup(func() { _ = closer.Close() })
	client := &countingCAS{Client: inner}
	clock := &fakeClock{t: time.Now()}
	s := newHASetup(t, haLimits(t, nil), client, clock)
	for range 30 { // 30 pushes, one per 100ms: 3s < 10s/3
		code, _ := s.push(t, "team", "c1", "r1")
		require.Equal(t, http.StatusNoContent, code)
		clock.advance(100 * time.Millisecond)
	}
	require.Equal(t, 1, client.n(), "the election only")
	clock.advance(400 * time.Millisecond)
	code, _ := s.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, 2, client.n(), "the last-seen time, 3.4s later")
}

type countingCAS struct {
	kv.Client
	mu    sync.Mutex
	count int
}

func (c *countingCAS) CAS(ctx context.Context, key string, f func(any) (any, bool, error)) error {
	c.mu.Lock()
	c.count++
	c.mu.Unlock()
	return c.Client.CAS(ctx, key, f)
}

func (c *countingCAS) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

func TestHATrackerStatusPage(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	s := newHASetup(t, haLimits(t, nil), nil, clock)
	code, body := s.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code, body)

	w := httptest.NewRecorder()
	s.tracker.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/distributor/ha_tracker?format=json", nil))
	require.Equal(t, http.StatusOK, w.Code)
	var got struct {
		Clusters []map[string]string `json:"clusters"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	require.Equal(t, []map[string]string{{"tenant": "team", "cluster": "c1", "replica": "r1", "elected_at": "2023-11-14T22:13:20Z", "last_seen": "2023-11-14T22:13:20Z"}}, got.Clusters)

	w = httptest.NewRecorder()
	s.tracker.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/distributor/ha_tracker", nil))
	require.Contains(t, w.Header().Get("Content-Type"), "text/html")
	require.Contains(t, w.Body.String(), "<td>team</td><td>c1</td><td>r1</td>")
}

// Merging gossiped copies gives one winner whatever the order.
func TestReplicaDescMerge(t *testing.T) {
	old := &ReplicaDesc{Replica: "r1", ElectedAt: 1, ReceivedAt: 5}
	seen := &ReplicaDesc{Replica: "r1", ElectedAt: 1, ReceivedAt: 9}
	failover := &ReplicaDesc{Replica: "r2", ElectedAt: 7, ReceivedAt: 7}
	for _, order := range [][]*ReplicaDesc{{old, seen, failover}, {failover, seen, old}, {seen, failover, old}, {old, failover, seen}} {
		d := order[0].Clone().(*ReplicaDesc)
		for _, o := range order[1:] {
			_, err := d.Merge(o.Clone(), false)
			require.NoError(t, err)
		}
		require.Equal(t, failover, d)
	}
	d := seen.Clone().(*ReplicaDesc)
	change, err := d.Merge(old.Clone(), false)
	require.NoError(t, err)
	require.Nil(t, change, "an older copy changes nothing")
	change, err = d.Merge(failover.Clone(), false)
	require.NoError(t, err)
	require.Equal(t, failover, change)

	b, err := HACodec().Encode(failover)
	require.NoError(t, err)
	v, err := HACodec().Decode(b)
	require.NoError(t, err)
	require.Equal(t, failover, v)
}

// A remote write 2.0 sender takes a 2xx answer that reports nothing
// written for a failure: a dropped duplicate reports its samples written.
func TestHADedupRemoteWrite2Headers(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s := newHASetup(t, haLimits(t, nil), nil, clock)
	push := func(replica string) *httptest.ResponseRecorder {
		req := &writev2.Request{
			Symbols: []string{"", "__name__", "up", "__replica__", replica, "cluster", "c1"},
			Timeseries: []writev2.TimeSeries{{
				LabelsRefs: []uint32{1, 2, 3, 4, 5, 6},
				Samples:    []writev2.Sample{{Value: 1, Timestamp: clock.now().UnixMilli()}},
			}},
		}
		pb, err := req.Marshal()
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodPost, "/api/v1/push", bytes.NewReader(snappy.Encode(nil, pb)))
		r.Header.Set("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")
		r.Header.Set("Content-Encoding", "snappy")
		r.Header.Set(tenant.Header, "team")
		w := httptest.NewRecorder()
		s.d.ServeHTTP(w, r)
		return w
	}
	w := push("r1")
	require.Equal(t, http.StatusNoContent, w.Code)
	require.Equal(t, `{__name__="up", cluster="c1"}`, s.pusher.last.Series[0].Labels.String())
	s.pusher.last.Series = nil
	w = push("r2")
	require.Equal(t, http.StatusAccepted, w.Code)
	require.Equal(t, "1", w.Header().Get("X-Prometheus-Remote-Write-Samples-Written"))
	require.Empty(t, s.pusher.last.Series)
}

// BenchmarkHADedupe is the cost the HA tracker adds to a push of the
// elected replica: the check, answered from memory, and the removal of the
// replica label from 2,000 series of 10 labels.
func BenchmarkHADedupe(b *testing.B) {
	clock := &fakeClock{t: time.Now()}
	var cfg Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(b, fs.Parse(nil))
	tr, err := NewHATracker(cfg.HATracker, nil, nil, nil)
	require.NoError(b, err)
	tr.now = clock.now
	require.NoError(b, services.StartAndAwaitRunning(context.Background(), tr))
	b.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), tr) })
	lim := defaultLimits(b)
	lim.AcceptHASamples = true
	d, err := New(cfg, limits.NewOverrides(*lim, nil), &capturePusher{}, tenant.Resolver{}, nil, nil, WithHATracker(tr))
	require.NoError(b, err)
	series := make([]labels.Labels, 2000)
	for i := range series {
		series[i] = labels.FromStrings("__name__", "node_cpu_seconds_total", "__replica__", "r1", "cluster", "c1",
			"cpu", strconv.Itoa(i%64), "env", "prod", "instance", "host-"+strconv.Itoa(i/64), "job", "node", "mode", "user", "region", "eu", "team", "a")
	}
	req := &wire.PushRequest{Series: make([]wire.Series, len(series))}
	b.ReportAllocs()
	for b.Loop() {
		for i := range req.Series {
			req.Series[i].Labels = series[i]
		}
		if _, err := d.dedupe(context.Background(), "team", lim, req); err != nil {
			b.Fatal(err)
		}
	}
}
