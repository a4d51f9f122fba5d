package scheduler

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newOverrides returns the default limits with edit applied, and with
// per-tenant entries.
func newOverrides(edit func(*limits.Limits), tenants map[string]func(*limits.Limits)) *limits.Overrides {
	var def limits.Limits
	def.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	if edit != nil {
		edit(&def)
	}
	rc := &limits.RuntimeConfig{Overrides: map[string]*limits.Limits{}}
	for t, e := range tenants {
		l := def
		e(&l)
		rc.Overrides[t] = &l
	}
	return limits.NewOverrides(def, func() *limits.RuntimeConfig { return rc })
}

func startScheduler(t *testing.T, lim *limits.Overrides, reg prometheus.Registerer) *Scheduler {
	t.Helper()
	s := New(lim, nil, reg, nil)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), s))
	t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), s)) })
	return s
}

func startWorker(t *testing.T, w *Worker) {
	t.Helper()
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), w))
	t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), w)) })
}

// waitWorkers waits until n workers are connected to s.
func waitWorkers(t *testing.T, s *Scheduler, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.q.mu.Lock()
		defer s.q.mu.Unlock()
		return s.q.workers == n
	}, 5*time.Second, 5*time.Millisecond)
}

// waitQueued waits until tenant has n queries queued in s.
func waitQueued(t *testing.T, s *Scheduler, tenantID string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, ts := range s.q.status().Tenants {
			if ts.Tenant == tenantID {
				return ts.Queued == n
			}
		}
		return n == 0
	}, 5*time.Second, 5*time.Millisecond)
}

func get(t *testing.T, rt http.RoundTripper, ctx context.Context, tenantID, path string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://weft"+path, nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, tenantID)
	return rt.RoundTrip(req)
}

func resolver() func(*http.Request) (string, error) {
	return tenant.Resolver{MultiTenancy: true}.FromRequest
}

// gate is a handler that records the order of the requests it serves and
// holds each until released.
type gate struct {
	mu      sync.Mutex
	order   []string
	release chan struct{}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.order = append(g.order, r.Header.Get(tenant.Header)+" "+r.URL.Query().Get("n"))
	g.mu.Unlock()
	<-g.release
	_, _ = io.WriteString(w, "ok")
}

// One tenant's hundred queued queries do not delay another tenant's
// single query: the worker takes the tenants in turn.
func TestFairOrder(t *testing.T) {
	s := startScheduler(t, newOverrides(func(l *limits.Limits) { l.MaxQueryCapacity = 1 }, nil), nil)
	rt := NewRoundTripper(s, resolver())
	g := &gate{release: make(chan struct{})}

	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			resp, err := get(t, rt, context.Background(), "flood", fmt.Sprintf("/prometheus/api/v1/query?n=%d", i))
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	waitQueued(t, s, "flood", 100)
	wg.Go(func() {
		resp, err := get(t, rt, context.Background(), "single", "/prometheus/api/v1/query?n=0")
		if err == nil {
			resp.Body.Close()
		}
	})
	waitQueued(t, s, "single", 1)

	startWorker(t, NewLocalWorker(WorkerConfig{QuerierID: "q1", Parallelism: 1}, s, g, nil))
	close(g.release)
	wg.Wait()
	require.Len(t, g.order, 101)
	// The flood's first query may have been taken first; the single query
	// is next.
	i := 0
	for ; i < len(g.order) && !strings.HasPrefix(g.order[i], "single"); i++ {
	}
	require.LessOrEqual(t, i, 1, "the single query ran after %d of the flood's: %v", i, g.order[:i])
}

// A tenant over max_outstanding_requests_per_tenant gets 429 in
// Prometheus' error format, with the stable error ID; others are not
// affected.
func TestTooManyOutstanding(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startScheduler(t, newOverrides(func(l *limits.Limits) { l.MaxOutstandingRequestsPerTenant = 2 }, nil), reg)
	rt := NewRoundTripper(s, resolver())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _, _ = get(t, rt, ctx, "a", "/prometheus/api/v1/query") })
	}
	waitQueued(t, s, "a", 2)

	resp, err := get(t, rt, context.Background(), "a", "/prometheus/api/v1/query")
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	var body struct{ Status, ErrorType, Error string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "error", body.Status)
	require.Equal(t, "too_many_requests", body.ErrorType)
	require.Contains(t, body.Error, "err-weft-max-outstanding-requests-per-tenant")
	require.Equal(t, 1.0, testutil.ToFloat64(s.m.discarded.WithLabelValues("a", "too_many_outstanding_requests")))
	require.Equal(t, 2.0, testutil.ToFloat64(s.m.queueLength.WithLabelValues("a")))
	page := httptest.NewRecorder()
	s.ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/query-scheduler/status", nil))
	require.Contains(t, page.Body.String(), "<tr><td>a</td><td>2</td><td>0</td></tr>", "the status page shows the queue")

	// Another tenant still queues.
	wg.Go(func() { _, _ = get(t, rt, ctx, "b", "/prometheus/api/v1/query") })
	waitQueued(t, s, "b", 1)
	cancel()
	wg.Wait()
	waitQueued(t, s, "a", 0)
}

// A queued query whose client leaves is taken out of the queue and never
// runs.
func TestCancelQueued(t *testing.T) {
	s := startScheduler(t, newOverrides(nil, nil), nil)
	rt := NewRoundTripper(s, resolver())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := get(t, rt, ctx, "a", "/prometheus/api/v1/query")
		errc <- err
	}()
	waitQueued(t, s, "a", 1)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.Empty(t, s.q.status().Tenants)
	require.Equal(t, 1.0, testutil.ToFloat64(s.m.cancelled.WithLabelValues("a", "queued")))

	// A worker that connects later runs nothing.
	var ran sync.WaitGroup
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran.Done() })
	startWorker(t, NewLocalWorker(WorkerConfig{QuerierID: "q", Parallelism: 1}, s, h, nil))
	waitWorkers(t, s, 1)
	ran.Add(1)
	resp, err := get(t, rt, context.Background(), "a", "/prometheus/api/v1/query")
	require.NoError(t, err)
	resp.Body.Close()
	ran.Wait() // exactly one run: the new query's
}

// blocker is a handler that runs until its request's context is done and
// records that it was. quit ends the requests still running at the end of
// a test, so that a failing test does not hang in its cleanup.
type blocker struct {
	started   chan string
	cancelled chan string
	quit      chan struct{}
}

func newBlocker(*testing.T) *blocker {
	b := &blocker{started: make(chan string, 64), cancelled: make(chan string, 64), quit: make(chan struct{})}
	return b
}

// quitAtEnd ends the running requests first of t's cleanups: register it
// after the workers.
func (b *blocker) quitAtEnd(t *testing.T) { t.Cleanup(func() { close(b.quit) }) }

func (b *blocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.started <- r.URL.Path
	select {
	case <-r.Context().Done():
		b.cancelled <- r.URL.Path
		http.Error(w, r.Context().Err().Error(), 499)
	case <-b.quit:
	}
}

// testCancelRunning checks that a running query is cancelled on its
// querier when its client leaves, and that the worker is free again.
func testCancelRunning(t *testing.T, s *Scheduler, rt http.RoundTripper, b *blocker) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := get(t, rt, ctx, "a", "/prometheus/api/v1/query_range")
		errc <- err
	}()
	select {
	case p := <-b.started:
		require.Equal(t, "/prometheus/api/v1/query_range", p)
	case <-time.After(5 * time.Second):
		t.Fatal("the query did not start on the querier")
	}
	cancel()
	select {
	case p := <-b.cancelled:
		require.Equal(t, "/prometheus/api/v1/query_range", p)
	case <-time.After(5 * time.Second):
		t.Fatal("the query was not cancelled on the querier")
	}
	select {
	case err := <-errc:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled query did not return")
	}
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(s.m.cancelled.WithLabelValues("a", "running")) == 1
	}, 5*time.Second, 5*time.Millisecond)
	// The worker takes the next query.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { _, _ = get(t, rt, ctx2, "a", "/prometheus/api/v1/query") }()
	select {
	case p := <-b.started:
		require.Equal(t, "/prometheus/api/v1/query", p)
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not take the next query")
	}
	cancel2()
	<-b.cancelled
}

func TestCancelRunningLocal(t *testing.T) {
	s := startScheduler(t, newOverrides(nil, nil), nil)
	b := newBlocker(t)
	startWorker(t, NewLocalWorker(WorkerConfig{QuerierID: "q", Parallelism: 1}, s, b, nil))
	b.quitAtEnd(t)
	testCancelRunning(t, s, NewRoundTripper(s, resolver()), b)
}

// serveGRPC serves s's gRPC service on a loopback port and returns its
// address.
func serveGRPC(t *testing.T, s *Scheduler) string { return serveGRPCB(t, s) }

func serveGRPCB(t testing.TB, s *Scheduler) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	RegisterGRPC(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func static(addrs ...string) func() ([]string, error) {
	return func() ([]string, error) { return addrs, nil }
}

func TestCancelRunningGRPC(t *testing.T) {
	s := startScheduler(t, newOverrides(nil, nil), nil)
	addr := serveGRPC(t, s)
	b := newBlocker(t)
	startWorker(t, NewWorker(WorkerConfig{QuerierID: "q", Parallelism: 1}, static(addr), b, nil))
	b.quitAtEnd(t)
	c := NewClient(static(addr))
	defer c.Close()
	testCancelRunning(t, s, NewRoundTripper(c, resolver()), b)
}

// Over gRPC, as in a distributed weft: a frontend's client enqueues to a
// scheduler on one port, a querier's worker pulls from it; the querier's
// answer (status, headers, body) comes back whole, with the queue time;
// the request's method, URL, headers and body reach the querier; the
// per-tenant limit answers 429.
func TestGRPCEndToEnd(t *testing.T) {
	s := startScheduler(t, newOverrides(nil, map[string]func(*limits.Limits){"limited": func(l *limits.Limits) { l.MaxOutstandingRequestsPerTenant = 1 }}), nil)
	addr := serveGRPC(t, s)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("block") != "" {
			<-r.Context().Done()
			return
		}
		require.NoError(t, r.ParseForm())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Seen", r.Header.Get(tenant.Header))
		w.WriteHeader(http.StatusAccepted)
		_, _ = fmt.Fprintf(w, `{"method":%q,"path":%q,"query":%q,"form":%q}`, r.Method, r.URL.Path, r.Form.Get("query"), r.PostForm.Get("start"))
	})
	startWorker(t, NewWorker(WorkerConfig{QuerierID: "q", Parallelism: 2}, static(addr), h, nil))
	waitWorkers(t, s, 2)
	c := NewClient(static(addr))
	defer c.Close()
	rt := NewRoundTripper(c, resolver())

	req, err := http.NewRequest(http.MethodPost, "http://weft/prometheus/api/v1/query_range?query=up", strings.NewReader("start=10"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(tenant.Header, "team-a")
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.JSONEq(t, `{"method":"POST","path":"/prometheus/api/v1/query_range","query":"up","form":"10"}`, string(body))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, "team-a", resp.Header.Get("X-Seen"))
	require.NotEmpty(t, resp.Header.Get(QueueTimeHeader))

	// 429 over gRPC.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Occupy the two workers, then queue one.
	for range 2 {
		go func() { _, _ = get(t, rt, ctx, "blocker", "/x?block=1") }()
	}
	require.Eventually(t, func() bool {
		for _, ts := range s.q.status().Tenants {
			if ts.Tenant == "blocker" {
				return ts.Running == 1 // max_query_capacity 0.5 of 2 workers
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	go func() { _, _ = get(t, rt, ctx, "limited", "/x?block=1") }()
	require.Eventually(t, func() bool {
		for _, ts := range s.q.status().Tenants {
			if ts.Tenant == "limited" {
				return ts.Running == 1
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	go func() { _, _ = get(t, rt, ctx, "limited", "/x?block=1") }()
	waitQueued(t, s, "limited", 1)
	resp, err = get(t, rt, context.Background(), "limited", "/x")
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	body, _ = io.ReadAll(resp.Body)
	require.Contains(t, string(body), "err-weft-max-outstanding-requests-per-tenant")
	require.Contains(t, string(body), `"errorType":"too_many_requests"`)
}

// max_queriers_per_tenant shards a tenant's queries over that many
// queriers, the same ones for the same queriers, and not the same for
// every tenant.
func TestShuffleSharding(t *testing.T) {
	s := startScheduler(t, newOverrides(func(l *limits.Limits) {
		l.MaxQueriersPerTenant = 2
		l.MaxQueryCapacity = 1
	}, map[string]func(*limits.Limits){"all": func(l *limits.Limits) { l.MaxQueriersPerTenant = 0 }}), nil)
	addr := serveGRPC(t, s)
	var (
		mu   sync.Mutex
		seen = map[string]map[string]int{} // tenant -> querier -> queries
	)
	ids := []string{"querier-1", "querier-2", "querier-3", "querier-4", "querier-5"}
	for _, id := range ids {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			ten := r.Header.Get(tenant.Header)
			if seen[ten] == nil {
				seen[ten] = map[string]int{}
			}
			seen[ten][id]++
			mu.Unlock()
			time.Sleep(time.Millisecond) // let the other workers take some
		})
		startWorker(t, NewWorker(WorkerConfig{QuerierID: id, Parallelism: 2}, static(addr), h, nil))
	}
	waitWorkers(t, s, 10)
	c := NewClient(static(addr))
	defer c.Close()
	rt := NewRoundTripper(c, resolver())
	tenants := []string{"t1", "t2", "t3", "t4", "all"}
	var wg sync.WaitGroup
	for _, ten := range tenants {
		for range 8 {
			wg.Go(func() {
				for range 10 {
					resp, err := get(t, rt, context.Background(), ten, "/q")
					if err == nil {
						resp.Body.Close()
					}
				}
			})
		}
	}
	wg.Wait()
	shards := map[string]bool{}
	for _, ten := range tenants[:4] {
		want := shuffleShard(ten, append([]string(nil), ids...), 2)
		got := map[string]bool{}
		for id := range seen[ten] {
			got[id] = true
		}
		require.Equal(t, want, got, "tenant %s ran on %v", ten, seen[ten])
		key := fmt.Sprint(want)
		shards[key] = true
	}
	require.Greater(t, len(shards), 1, "every tenant got the same shard")
	require.Len(t, seen["all"], len(ids), "a tenant without the limit runs on every querier")

	// The shard depends on the set of queriers, not on their order.
	require.Equal(t, shuffleShard("t1", []string{"querier-5", "querier-3", "querier-1", "querier-4", "querier-2"}, 2), shuffleShard("t1", ids, 2))
}

// max_query_capacity: while another tenant is active, a tenant that floods
// occupies only its share of the workers, so the other tenant's query
// starts at once.
func TestCapacityLeavesWorkersForOthers(t *testing.T) {
	s := startScheduler(t, newOverrides(func(l *limits.Limits) { l.MaxQueryCapacity = 0.5 }, nil), nil)
	b := newBlocker(t)
	startWorker(t, NewLocalWorker(WorkerConfig{QuerierID: "q", Parallelism: 4}, s, b, nil))
	b.quitAtEnd(t)
	waitWorkers(t, s, 4)
	rt := NewRoundTripper(s, resolver())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// The other tenant queried a moment ago.
	warm, endWarm := context.WithCancel(context.Background())
	wg.Go(func() { _, _ = get(t, rt, warm, "other", "/warm") })
	require.Equal(t, "/warm", <-b.started)
	endWarm()
	require.Equal(t, "/warm", <-b.cancelled)

	for range 20 {
		wg.Go(func() { _, _ = get(t, rt, ctx, "flood", "/flood") })
	}
	waitQueued(t, s, "flood", 18)
	for range 2 {
		<-b.started
	}
	select {
	case p := <-b.started:
		t.Fatalf("a third query of the flood started: %s", p)
	case <-time.After(50 * time.Millisecond):
	}
	wg.Go(func() { _, _ = get(t, rt, ctx, "other", "/other") })
	select {
	case p := <-b.started:
		require.Equal(t, "/other", p)
	case <-time.After(5 * time.Second):
		t.Fatal("the other tenant's query did not start")
	}
}

// A tenant alone may use every worker: its share applies only while
// another tenant is active.
func TestLoneTenantUsesEveryWorker(t *testing.T) {
	s := startScheduler(t, newOverrides(func(l *limits.Limits) { l.MaxQueryCapacity = 0.5 }, nil), nil)
	b := newBlocker(t)
	startWorker(t, NewLocalWorker(WorkerConfig{QuerierID: "q", Parallelism: 4}, s, b, nil))
	b.quitAtEnd(t)
	waitWorkers(t, s, 4)
	rt := NewRoundTripper(s, resolver())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for range 6 {
		wg.Go(func() { _, _ = get(t, rt, ctx, "alone", "/q") })
	}
	for range 4 {
		select {
		case <-b.started:
		case <-time.After(5 * time.Second):
			t.Fatal("the lone tenant's queries did not start on every worker")
		}
	}
	waitQueued(t, s, "alone", 2)
}

// A worker that stops lets its running query finish and answer.
func TestWorkerStopFinishesRunning(t *testing.T) {
	s := startScheduler(t, newOverrides(nil, nil), nil)
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	w := NewLocalWorker(WorkerConfig{QuerierID: "q", Parallelism: 1}, s, h, nil)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), w))
	rt := NewRoundTripper(s, resolver())
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := get(t, rt, context.Background(), "a", "/q")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		res <- result{body: string(b)}
	}()
	<-started
	w.StopAsync()
	time.Sleep(20 * time.Millisecond)
	close(release)
	require.NoError(t, w.AwaitTerminated(context.Background()))
	r := <-res
	require.NoError(t, r.err)
	require.Equal(t, "done", r.body)
	waitWorkers(t, s, 0)
}

// A scheduler that stops answers its queued queries 503 in Prometheus'
// format, so that the frontend retries them elsewhere, and refuses new
// ones the same way.
func TestStopAnswersQueued503(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(newOverrides(nil, nil), nil, reg, nil)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), s))
	rt := NewRoundTripper(s, resolver())
	codes := make(chan int, 1)
	go func() {
		resp, err := get(t, rt, context.Background(), "a", "/q")
		if err != nil {
			codes <- 0
			return
		}
		resp.Body.Close()
		codes <- resp.StatusCode
	}()
	waitQueued(t, s, "a", 1)
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), s))
	require.Equal(t, http.StatusServiceUnavailable, <-codes)
	resp, err := get(t, rt, context.Background(), "a", "/q")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, string(body), `"errorType":"unavailable"`)
	require.Equal(t, 2.0, testutil.ToFloat64(s.m.discarded.WithLabelValues("a", "stopping")))
}

// A querier's workers follow the schedulers it is given: its parallelism
// spread over them, streams opened to a new one and closed to one that
// left.
func TestWorkerFollowsSchedulers(t *testing.T) {
	s1 := startScheduler(t, newOverrides(nil, nil), nil)
	s2 := startScheduler(t, newOverrides(nil, nil), nil)
	a1, a2 := serveGRPC(t, s1), serveGRPC(t, s2)
	var (
		mu    sync.Mutex
		addrs = []string{a1}
	)
	lookup := func() ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), addrs...), nil
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	startWorker(t, NewWorker(WorkerConfig{QuerierID: "q", Parallelism: 4, LookupPeriod: 10 * time.Millisecond}, lookup, h, nil))
	waitWorkers(t, s1, 4)
	mu.Lock()
	addrs = []string{a1, a2}
	mu.Unlock()
	waitWorkers(t, s1, 2)
	waitWorkers(t, s2, 2)
	mu.Lock()
	addrs = []string{a2}
	mu.Unlock()
	waitWorkers(t, s1, 0)
	waitWorkers(t, s2, 4)
	resp, err := get(t, NewRoundTripper(s2, resolver()), context.Background(), "a", "/q")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, "ok", string(body))
}
