package querier

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	dsring "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	weftring "github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/wire"
)

// testRing is a real dskit ring in an in-memory KV, with n instances
// registered ACTIVE, each answered by a fakeReader at its address.
type testRing struct {
	ring    *weftring.Ring
	addrs   []string
	readers map[string]*fakeReader // by address; set by the test
}

func newTestRing(t *testing.T, n, rf int) *testRing {
	t.Helper()
	var cfg weftring.Config
	fs := flag.NewFlagSet(t.Name(), flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	cfg.Ring.Store = weftring.StoreInMemory
	cfg.Ring.Ingester.ReplicationFactor = rf
	start := func(s services.Service) {
		require.NoError(t, services.StartAndAwaitRunning(context.Background(), s))
		t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), s)) })
	}
	kv, err := weftring.NewKV(cfg, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	start(kv)
	r := &testRing{readers: map[string]*fakeReader{}}
	for i := range n {
		lcfg := cfg.Ring.Ingester
		lcfg.InstanceID = fmt.Sprintf("ingester-%d", i)
		lcfg.InstanceAddr = fmt.Sprintf("10.0.0.%d:9095", i)
		lc, err := weftring.NewIngesterLifecycler(lcfg, kv, nil, nil)
		require.NoError(t, err)
		start(lc)
		require.NoError(t, lc.Activate(context.Background()))
		r.addrs = append(r.addrs, lcfg.InstanceAddr)
	}
	r.ring, err = weftring.NewIngesterRing(cfg.Ring.Ingester, kv, nil, nil)
	require.NoError(t, err)
	start(r.ring)
	require.Eventually(t, func() bool {
		rs, err := r.ring.GetAllHealthy(dsring.Read)
		return n == 0 && errors.Is(err, dsring.ErrEmptyRing) || err == nil && len(rs.Instances) == n
	}, 10*time.Second, 10*time.Millisecond)
	return r
}

func (r *testRing) clients(addr string) (wire.Reader, error) {
	if f, ok := r.readers[addr]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("no client for %s", addr)
}

// askedAddrs returns the addresses whose reader was asked anything.
func (r *testRing) askedAddrs() []string {
	var out []string
	for _, a := range r.addrs {
		if f := r.readers[a]; f != nil && len(f.asked()) > 0 {
			out = append(out, a)
		}
	}
	return out
}

// testOverrides returns the default limits with per-tenant changes.
func testOverrides(t testing.TB, tenants map[string]func(*limits.Limits)) *limits.Overrides {
	t.Helper()
	var def limits.Limits
	fs := flag.NewFlagSet(t.Name(), flag.ContinueOnError)
	def.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	rc := &limits.RuntimeConfig{Overrides: map[string]*limits.Limits{}}
	for id, f := range tenants {
		l := def
		f(&l)
		rc.Overrides[id] = &l
	}
	return limits.NewOverrides(def, func() *limits.RuntimeConfig { return rc })
}

var allSeries = labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+")

// replicas fills the three readers of r as quorum writes leave them: every
// sample of the two series is on two of the three replicas, replica k
// lacking the samples i with i%3 == k.
func replicas(t *testing.T, r *testRing, tenant string, ts []int64) map[string][]sample {
	series := []labels.Labels{labels.FromStrings(labels.MetricName, "a"), labels.FromStrings(labels.MetricName, "b", "x", "1")}
	for k, addr := range r.addrs {
		f := newFakeReader(t, tenant)
		for _, ls := range series {
			var mine []int64
			for i, x := range ts {
				if i%3 != k {
					mine = append(mine, x)
				}
			}
			f.add(t, ls, ident, mine...)
		}
		r.readers[addr] = f
	}
	want := map[string][]sample{}
	for _, ls := range series {
		want[ls.String()] = samplesAt(ident, ts...)
	}
	return want
}

func TestRingReaderMergesReplicasEachSampleOnce(t *testing.T) {
	r := newTestRing(t, 3, 3)
	ts := span(0, 99*minute, minute)
	want := replicas(t, r, "t", ts)
	rr := NewRingReader(r.ring, r.clients, testOverrides(t, nil), 0)
	// Which two replicas answer first varies: the answer must not.
	for range 20 {
		q, err := rr.Querier("t", 0, 99*minute)
		require.NoError(t, err)
		got, _, err := selectAll(q)
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.NoError(t, q.Close())
	}
	// Every replica was asked, for the tenant and range of the query.
	require.Eventually(t, func() bool { return len(r.askedAddrs()) == 3 }, 5*time.Second, 10*time.Millisecond)
	for _, a := range r.addrs {
		require.Contains(t, r.readers[a].asked(), readCall{"t", 0, 99 * minute})
	}
	// And each replica's querier is closed once read.
	require.Eventually(t, func() bool {
		for _, a := range r.addrs {
			if r.readers[a].openQueriers() != 0 {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond)

	// Another tenant sees nothing of it.
	q, err := rr.Querier("other", 0, 99*minute)
	require.NoError(t, err)
	got, _, err := selectAll(q)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestRingReaderToleratesOneFailedReplica(t *testing.T) {
	boom := errors.New("replica down")
	for _, how := range []string{"querier", "select", "unreachable"} {
		t.Run(how, func(t *testing.T) {
			r := newTestRing(t, 3, 3)
			ts := span(0, 29*minute, minute)
			want := replicas(t, r, "t", ts)
			switch bad := r.readers[r.addrs[1]]; how {
			case "querier":
				bad.fail(boom, nil)
			case "select":
				bad.fail(nil, boom)
			case "unreachable":
				delete(r.readers, r.addrs[1])
			}
			rr := NewRingReader(r.ring, r.clients, testOverrides(t, nil), 0)
			for range 5 {
				q, err := rr.Querier("t", 0, 29*minute)
				require.NoError(t, err)
				got, _, err := selectAll(q)
				require.NoError(t, err)
				require.Equal(t, want, got, "the two live replicas hold every sample")
				names, _, err := q.LabelNames(context.Background(), nil)
				require.NoError(t, err)
				require.Equal(t, []string{labels.MetricName, "x"}, names)
			}
		})
	}
}

func TestRingReaderFailsWithoutQuorum(t *testing.T) {
	r := newTestRing(t, 3, 3)
	replicas(t, r, "t", span(0, 9*minute, minute))
	boom := errors.New("replica down")
	r.readers[r.addrs[0]].fail(boom, nil)
	r.readers[r.addrs[2]].fail(nil, boom)
	rr := NewRingReader(r.ring, r.clients, testOverrides(t, nil), 0)
	q, err := rr.Querier("t", 0, 9*minute)
	require.NoError(t, err)
	_, _, err = selectAll(q)
	require.Error(t, err, "two of three replicas down: no quorum, no partial answer")
	var storageErr promql.ErrStorage
	require.ErrorAs(t, err, &storageErr, "a storage error, so the API answers 5xx and clients retry")
	require.Equal(t, wire.KindUnavailable, wire.KindOf(err), "and the kind is seen through it")
	require.Equal(t, wire.KindUnavailable, wire.KindOf(storageErr.Err))
	require.ErrorContains(t, err, "tenant t")
	require.ErrorContains(t, err, "replica down", "the replicas' failure is named")
	require.ErrorIs(t, err, boom, "and wrapped")

	r.readers[r.addrs[2]].fail(boom, nil)
	_, _, err = q.LabelNames(context.Background(), nil)
	require.Error(t, err)
	_, _, err = q.LabelValues(context.Background(), labels.MetricName, nil)
	require.Error(t, err)
	_, err = rr.Metadata(context.Background(), "t", "", 0)
	require.Error(t, err)
	eq, err := rr.ExemplarQuerier(context.Background(), "t")
	require.NoError(t, err)
	_, err = eq.Select(0, 1, []*labels.Matcher{allSeries})
	require.Error(t, err)
}

// A tenant with a shard size is read from its shard only (as many
// instances as its shard size); one without, from every instance.
func TestRingReaderAsksTheTenantShard(t *testing.T) {
	r := newTestRing(t, 6, 3)
	for _, a := range r.addrs {
		r.readers[a] = &fakeReader{}
	}
	lim := testOverrides(t, map[string]func(*limits.Limits){"small": func(l *limits.Limits) { l.IngestionTenantShardSize = 3 }})
	rr := NewRingReader(r.ring, r.clients, lim, 0)
	ask := func(tenant string, n int) []string {
		t.Helper()
		for _, a := range r.addrs {
			r.readers[a].reset()
		}
		q, err := rr.Querier(tenant, 0, 1)
		require.NoError(t, err)
		_, _, err = selectAll(q)
		require.NoError(t, err)
		// The replication set returns once enough instances answered:
		// wait for the others to have been asked too.
		require.Eventually(t, func() bool { return len(r.askedAddrs()) >= n }, 5*time.Second, 5*time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		asked := r.askedAddrs()
		require.Len(t, asked, n, "tenant %s", tenant)
		return asked
	}
	shard := ask("small", 3)
	for range 3 {
		require.Equal(t, shard, ask("small", 3), "a tenant's shard is stable")
	}
	ask("big", 6)
	// The shard is where the distributor writes the tenant's series.
	want, err := weftring.TenantShard(r.ring, "small", 3).GetAllHealthy(dsring.Read)
	require.NoError(t, err)
	var wantAddrs []string
	for _, inst := range want.Instances {
		wantAddrs = append(wantAddrs, inst.Addr)
	}
	slices.Sort(wantAddrs)
	slices.Sort(shard)
	require.Equal(t, wantAddrs, shard)
}

func TestRingReaderUnionsLabelsAndMetadata(t *testing.T) {
	r := newTestRing(t, 3, 3)
	// Each value is on two replicas, as quorum writes leave it.
	held := [][]string{{"x", "z"}, {"x", "y"}, {"y", "z"}}
	md := map[string]wire.Metadata{
		"x": {MetricFamily: "x", Type: "counter", Help: "x help"},
		"y": {MetricFamily: "y", Type: "gauge"},
		"z": {MetricFamily: "z", Type: "histogram", Unit: "seconds"},
	}
	for k, a := range r.addrs {
		f := newFakeReader(t, "t")
		for _, v := range held[k] {
			f.add(t, labels.FromStrings(labels.MetricName, "m", "v", v, "only_"+v, "1"), ident, 0)
			f.metadata = append(f.metadata, md[v])
		}
		r.readers[a] = f
	}
	rr := NewRingReader(r.ring, r.clients, testOverrides(t, nil), 0)
	q, err := rr.Querier("t", 0, 1)
	require.NoError(t, err)
	for range 10 {
		vals, _, err := q.LabelValues(context.Background(), "v", nil)
		require.NoError(t, err)
		require.Equal(t, []string{"x", "y", "z"}, vals, "sorted, each once")
		vals, _, err = q.LabelValues(context.Background(), "v", &storage.LabelHints{Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"x", "y"}, vals, "the limit applies to the union")
		names, _, err := q.LabelNames(context.Background(), nil)
		require.NoError(t, err)
		require.Equal(t, []string{labels.MetricName, "only_x", "only_y", "only_z", "v"}, names)

		got, err := rr.Metadata(context.Background(), "t", "", 0)
		require.NoError(t, err)
		require.Equal(t, []wire.Metadata{md["x"], md["y"], md["z"]}, got)
		got, err = rr.Metadata(context.Background(), "t", "", 2)
		require.NoError(t, err)
		require.Equal(t, []wire.Metadata{md["x"], md["y"]}, got)
		got, err = rr.Metadata(context.Background(), "t", "y", 0)
		require.NoError(t, err)
		require.Equal(t, []wire.Metadata{md["y"]}, got)
	}
}

func TestRingReaderMergesExemplars(t *testing.T) {
	r := newTestRing(t, 3, 3)
	ls := labels.FromStrings(labels.MetricName, "m")
	ex := []exemplar.Exemplar{
		{Labels: labels.FromStrings("trace_id", "a"), Value: 1, Ts: 1000, HasTs: true},
		{Labels: labels.FromStrings("trace_id", "b"), Value: 2, Ts: 2000, HasTs: true},
		{Labels: labels.FromStrings("trace_id", "c"), Value: 3, Ts: 3000, HasTs: true},
	}
	held := [][]int{{0, 1}, {1, 2}, {0, 2}}
	for k, a := range r.addrs {
		f := newFakeReader(t, "t")
		for _, i := range held[k] {
			f.addExemplar(t, ls, ex[i])
		}
		r.readers[a] = f
	}
	rr := NewRingReader(r.ring, r.clients, testOverrides(t, nil), 0)
	for range 10 {
		eq, err := rr.ExemplarQuerier(context.Background(), "t")
		require.NoError(t, err)
		res, err := eq.Select(0, 10000, []*labels.Matcher{allSeries})
		require.NoError(t, err)
		require.Len(t, res, 1)
		require.Equal(t, ls, res[0].SeriesLabels)
		require.Equal(t, ex, res[0].Exemplars, "each exemplar once, in time order")
	}
}

func TestRingReaderKeepsReplicaWarnings(t *testing.T) {
	r := newTestRing(t, 3, 3)
	replicas(t, r, "t", span(0, 2*minute, minute))
	for _, a := range r.addrs {
		r.readers[a].warning = errors.New("careful")
	}
	rr := NewRingReader(r.ring, r.clients, testOverrides(t, nil), 0)
	q, err := rr.Querier("t", 0, 2*minute)
	require.NoError(t, err)
	_, warns, err := selectAll(q)
	require.NoError(t, err)
	require.Equal(t, []string{"careful"}, warningTexts(warns))
}

// A static reader's replicas each hold everything: any one answering is
// enough.
func TestStaticReaderNeedsOneReplica(t *testing.T) {
	m := labels.FromStrings(labels.MetricName, "m")
	boom := errors.New("down")
	readers := map[string]*fakeReader{
		"a": {},
		"b": {},
		"c": newFakeReader(t, "t").add(t, m, ident, 1, 2, 3),
	}
	readers["a"].fail(boom, nil)
	readers["b"].fail(boom, nil)
	clients := func(addr string) (wire.Reader, error) { return readers[addr], nil }
	rr := NewStaticReader([]string{"a", "b", "c"}, clients)
	q, err := rr.Querier("t", 0, 10)
	require.NoError(t, err)
	got, _, err := selectAll(q)
	require.NoError(t, err)
	require.Equal(t, map[string][]sample{m.String(): samplesAt(ident, 1, 2, 3)}, got)

	readers["c"].fail(boom, nil)
	_, _, err = selectAll(q)
	require.ErrorContains(t, err, "cannot read from enough replicas of tenant t: down", "no replica answered")
}

// The sharded store reader asks every healthy store-gateway, each holding
// its own blocks, and skips the ones that fail: the block check decides
// whether what is missing matters.
func TestShardedStoreReaderAsksEveryInstance(t *testing.T) {
	r := newTestRing(t, 3, 1)
	want := map[string][]sample{}
	for i, a := range r.addrs {
		ls := labels.FromStrings(labels.MetricName, "m", "shard", fmt.Sprint(i))
		r.readers[a] = newFakeReader(t, "t").add(t, ls, ident, int64(i))
		want[ls.String()] = samplesAt(ident, int64(i))
	}
	rr := NewShardedStoreReader(r.ring, r.clients)
	q, err := rr.Querier("t", 0, 10)
	require.NoError(t, err)
	got, _, err := selectAll(q)
	require.NoError(t, err)
	require.Equal(t, want, got, "the union of every shard")

	r.readers[r.addrs[1]].fail(errors.New("down"), nil)
	delete(want, labels.FromStrings(labels.MetricName, "m", "shard", "1").String())
	got, _, err = selectAll(q)
	require.NoError(t, err)
	require.Equal(t, want, got, "a failed instance is skipped, not an error")

	// No store-gateway at all: nothing, and no error either.
	empty := NewShardedStoreReader(newTestRing(t, 0, 1).ring, r.clients)
	q, err = empty.Querier("t", 0, 10)
	require.NoError(t, err)
	got, _, err = selectAll(q)
	require.NoError(t, err)
	require.Empty(t, got)
}

// haltingReader is a replica whose Select stops after its first `after`
// series: it waits for gate to close, or fails with err.
type haltingReader struct {
	wire.Reader
	after int
	gate  chan struct{}
	err   error
}

func (h haltingReader) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	q, err := h.Reader.Querier(tenant, mint, maxt)
	if err != nil {
		return nil, err
	}
	return haltingQuerier{q, h}, nil
}

type haltingQuerier struct {
	storage.Querier
	h haltingReader
}

func (q haltingQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return &haltingSet{SeriesSet: q.Querier.Select(ctx, sortSeries, hints, ms...), h: q.h}
}

type haltingSet struct {
	storage.SeriesSet
	h   haltingReader
	n   int
	err error
}

func (s *haltingSet) Next() bool {
	if s.n == s.h.after {
		if s.h.err != nil {
			s.err = s.h.err
			return false
		}
		<-s.h.gate
	}
	s.n++
	return s.SeriesSet.Next()
}

func (s *haltingSet) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.SeriesSet.Err()
}

// The ring reader merges the replicas' series as they arrive: the first
// merged series is there while every replica still holds back the rest of
// its answer.
func TestRingReaderStreamsReplicas(t *testing.T) {
	r := newTestRing(t, 3, 3)
	want := replicas(t, r, "t", span(0, 9*minute, minute))
	gate := make(chan struct{})
	opened := false
	defer func() {
		if !opened {
			close(gate)
		}
	}()
	clients := func(addr string) (wire.Reader, error) {
		c, err := r.clients(addr)
		return haltingReader{Reader: c, after: 1, gate: gate}, err
	}
	rr := NewRingReader(r.ring, clients, testOverrides(t, nil), 0)
	q, err := rr.Querier("t", 0, 9*minute)
	require.NoError(t, err)
	defer q.Close()
	first := make(chan storage.SeriesSet, 1)
	go func() {
		ss := q.Select(context.Background(), true, nil, allSeries)
		if ss.Next() {
			first <- ss
		}
		close(first)
	}()
	var ss storage.SeriesSet
	select {
	case ss = <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("no merged series while the replicas' answers are incomplete: the reader waits for whole answers")
	}
	require.NotNil(t, ss, "the merge has a first series")
	require.Equal(t, `{__name__="a"}`, ss.At().Labels().String())
	got := map[string][]sample{}
	var it chunkenc.Iterator
	add := func(s storage.Series) {
		it = s.Iterator(it)
		for it.Next() != chunkenc.ValNone {
			ts, v := it.At()
			got[s.Labels().String()] = append(got[s.Labels().String()], sample{ts, v})
		}
		require.NoError(t, it.Err())
	}
	add(ss.At())
	close(gate)
	opened = true
	for ss.Next() {
		add(ss.At())
	}
	require.NoError(t, ss.Err())
	require.Equal(t, want, got)
}

// A replica that fails halfway through its answer leaves the merge; the
// others complete it, unless too many fail.
func TestRingReaderToleratesAReplicaFailingMidStream(t *testing.T) {
	boom := errors.New("stream broken")
	for _, bad := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d failing", bad), func(t *testing.T) {
			r := newTestRing(t, 3, 3)
			want := replicas(t, r, "t", span(0, 9*minute, minute))
			failing := map[string]bool{}
			for _, a := range r.addrs[:bad] {
				failing[a] = true
			}
			clients := func(addr string) (wire.Reader, error) {
				c, err := r.clients(addr)
				if failing[addr] {
					return haltingReader{Reader: c, after: 1, err: boom}, err
				}
				return c, err
			}
			rr := NewRingReader(r.ring, clients, testOverrides(t, nil), 0)
			q, err := rr.Querier("t", 0, 9*minute)
			require.NoError(t, err)
			defer q.Close()
			got, _, err := selectAll(q)
			if bad == 1 {
				require.NoError(t, err)
				require.Equal(t, want, got, "the two other replicas hold every sample")
				return
			}
			require.ErrorIs(t, err, boom)
			require.ErrorContains(t, err, "cannot read from enough replicas of tenant t")
			var storageErr promql.ErrStorage
			require.ErrorAs(t, err, &storageErr, "a storage error: the API answers 5xx")
		})
	}
}

// stalledReader is a replica that never answers, like a stopped or
// partitioned ingester: every call waits for its context to end, and
// counts that it ended.
type stalledReader struct {
	wire.Reader
	mu        sync.Mutex
	cancelled int // guarded by mu
}

func (s *stalledReader) wait(ctx context.Context) error {
	<-ctx.Done()
	s.mu.Lock()
	s.cancelled++
	s.mu.Unlock()
	return ctx.Err()
}

func (s *stalledReader) cancels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelled
}

func (s *stalledReader) Querier(string, int64, int64) (storage.Querier, error) {
	return stalledQuerier{s}, nil
}

func (s *stalledReader) HeldBlocks(ctx context.Context, _ string) ([]ulid.ULID, error) {
	return nil, s.wait(ctx)
}

func (s *stalledReader) Metadata(ctx context.Context, _, _ string, _ int) ([]wire.Metadata, error) {
	return nil, s.wait(ctx)
}

type stalledQuerier struct{ s *stalledReader }

func (q stalledQuerier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, _ ...*labels.Matcher) storage.SeriesSet {
	return storage.ErrSeriesSet(q.s.wait(ctx))
}

func (q stalledQuerier) LabelValues(ctx context.Context, _ string, _ *storage.LabelHints, _ ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, q.s.wait(ctx)
}

func (q stalledQuerier) LabelNames(ctx context.Context, _ *storage.LabelHints, _ ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, q.s.wait(ctx)
}

func (stalledQuerier) Close() error { return nil }

// A replica that never answers (a stopped or partitioned ingester) does
// not hold the read: every call answers once the two others did, with
// every sample, and the stalled replica's call is cancelled. With a
// second replica stalled there is no quorum: the read waits for its
// context and fails.
func TestRingReaderAnswersAtQuorumWithoutAStalledReplica(t *testing.T) {
	r := newTestRing(t, 3, 3)
	ts := span(0, 29*minute, minute)
	want := replicas(t, r, "t", ts)
	stalled := &stalledReader{}
	clients := func(addr string) (wire.Reader, error) {
		if addr == r.addrs[1] {
			return stalled, nil
		}
		return r.clients(addr)
	}
	reg := prometheus.NewRegistry()
	rr := NewRingReader(r.ring, clients, testOverrides(t, nil), 0).WithMetrics(reg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q, err := rr.Querier("t", 0, 29*minute)
	require.NoError(t, err)
	start := time.Now()
	got, _, err := collect(q.Select(ctx, true, nil, allSeries))
	require.NoError(t, err)
	require.Equal(t, want, got, "the two answering replicas hold every sample")
	require.Equal(t, 1.0, testutil.ToFloat64(rr.leftOut.WithLabelValues(r.addrs[1], "slow")), "the stalled replica is counted as left out")
	require.Equal(t, 1, testutil.CollectAndCount(rr.leftOut), "and no other")
	names, _, err := q.LabelNames(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []string{labels.MetricName, "x"}, names)
	values, _, err := q.LabelValues(ctx, labels.MetricName, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, values)
	_, err = rr.Metadata(ctx, "t", "", 0)
	require.NoError(t, err)
	_, err = rr.HeldBlocks(ctx, "t")
	require.NoError(t, err)
	require.Less(t, time.Since(start), 30*time.Second, "answered at quorum, not at the context's end")
	require.NoError(t, q.Close())
	require.Eventually(t, func() bool { return stalled.cancels() == 5 }, 5*time.Second, 10*time.Millisecond,
		"the stalled replica's select, label names, label values, metadata and held blocks calls are cancelled")

	// Two stalled of three: no quorum, no partial answer.
	other := &stalledReader{}
	clients2 := func(addr string) (wire.Reader, error) {
		switch addr {
		case r.addrs[1]:
			return stalled, nil
		case r.addrs[2]:
			return other, nil
		}
		return r.clients(addr)
	}
	rr = NewRingReader(r.ring, clients2, testOverrides(t, nil), 0)
	q, err = rr.Querier("t", 0, 29*minute)
	require.NoError(t, err)
	defer q.Close()
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	_, _, err = collect(q.Select(short, true, nil, allSeries))
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// With zone awareness a read needs every instance of all zones but one: a
// stalled instance leaves its zone out, and the other two zones answer
// with every series; a stalled instance in a second zone leaves no
// quorum.
func TestRingReaderZonesAnswerWithoutAStalledInstance(t *testing.T) {
	r := newZonedTestRing(t, []string{"a", "a", "b", "b", "c", "c"}, 3)
	want := map[string][]sample{}
	buf := weftring.NewBuffers()
	for _, a := range r.addrs {
		r.readers[a] = newFakeReader(t, "t")
	}
	ts := span(0, 9*minute, minute)
	for i := range 20 {
		ls := labels.FromStrings(labels.MetricName, "m", "i", fmt.Sprint(i))
		rs, err := weftring.ReplicasForToken(r.ring, weftring.TokenFor("t", ls), dsring.Write, buf)
		require.NoError(t, err)
		require.Len(t, rs.Instances, 3)
		for _, inst := range rs.Instances {
			r.readers[inst.Addr].add(t, ls, ident, ts...)
		}
		want[ls.String()] = samplesAt(ident, ts...)
	}
	read := func(stalled map[string]*stalledReader, timeout time.Duration) (map[string][]sample, error) {
		clients := func(addr string) (wire.Reader, error) {
			if s, ok := stalled[addr]; ok {
				return s, nil
			}
			return r.clients(addr)
		}
		rr := NewRingReader(r.ring, clients, testOverrides(t, nil), 0)
		q, err := rr.Querier("t", 0, 9*minute)
		require.NoError(t, err)
		defer q.Close()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		got, _, err := collect(q.Select(ctx, true, nil, allSeries))
		return got, err
	}
	// r.addrs[0] is in zone a.
	one := &stalledReader{}
	start := time.Now()
	got, err := read(map[string]*stalledReader{r.addrs[0]: one}, time.Minute)
	require.NoError(t, err)
	require.Equal(t, want, got, "zones b and c hold every series")
	require.Less(t, time.Since(start), 30*time.Second)
	require.Eventually(t, func() bool { return one.cancels() == 1 }, 5*time.Second, 10*time.Millisecond)

	// r.addrs[2] is in zone b.
	_, err = read(map[string]*stalledReader{r.addrs[0]: {}, r.addrs[2]: {}}, 300*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded, "zones a and b each lack an instance: no quorum")
}
