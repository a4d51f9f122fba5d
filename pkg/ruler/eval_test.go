package ruler

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// tsdbPusher stores pushes in one TSDB per tenant and records them.
type tsdbPusher struct {
	t  *testing.T
	mu sync.Mutex
	db map[string]*tsdb.DB // guarded by mu
	// pushed are the metric names pushed, by tenant; guarded by mu.
	pushed map[string][]string
}

func newTSDBPusher(t *testing.T) *tsdbPusher {
	return &tsdbPusher{t: t, db: map[string]*tsdb.DB{}, pushed: map[string][]string{}}
}

func (p *tsdbPusher) tenantDB(id string) *tsdb.DB {
	p.mu.Lock()
	defer p.mu.Unlock()
	db := p.db[id]
	if db == nil {
		var err error
		db, err = tsdb.Open(p.t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
		require.NoError(p.t, err)
		p.t.Cleanup(func() { _ = db.Close() })
		p.db[id] = db
	}
	return db
}

func (p *tsdbPusher) Push(ctx context.Context, id string, req *wire.PushRequest) (wire.PushResult, error) {
	if got, err := tenant.From(ctx); err != nil || got != id {
		p.t.Errorf("push for %s with context tenant %q (%v)", id, got, err)
	}
	app := p.tenantDB(id).Appender(ctx)
	var n int
	for _, s := range req.Series {
		for _, smp := range s.Samples {
			if _, err := app.Append(0, s.Labels, smp.T, smp.V); err != nil {
				_ = app.Rollback()
				return wire.PushResult{}, err
			}
			n++
		}
	}
	p.mu.Lock()
	for _, s := range req.Series {
		p.pushed[id] = append(p.pushed[id], s.Labels.Get(labels.MetricName))
	}
	p.mu.Unlock()
	return wire.PushResult{Samples: n}, app.Commit()
}

func (p *tsdbPusher) names(id string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pushed[id])
}

// Querier serves the tenant of each call's context, as the querier's
// queryable does.
func (p *tsdbPusher) Querier(mint, maxt int64) (storage.Querier, error) {
	return tenantQuerier{p: p, mint: mint, maxt: maxt}, nil
}

type tenantQuerier struct {
	storage.Querier // nil: only Select is used by rules
	p               *tsdbPusher
	mint, maxt      int64
}

func (q tenantQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	id, err := tenant.From(ctx)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	qr, err := q.p.tenantDB(id).Querier(q.mint, q.maxt)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	// The querier stays open until the test's TSDB closes: good enough here.
	return qr.Select(ctx, sortSeries, hints, ms...)
}

func (q tenantQuerier) Close() error { return nil }

func (p *tsdbPusher) push(t *testing.T, id, metric string, ts time.Time, v float64, kv ...string) {
	t.Helper()
	lset := labels.FromStrings(append([]string{labels.MetricName, metric}, kv...)...)
	_, err := p.Push(tenant.With(context.Background(), id), id, &wire.PushRequest{Series: []wire.Series{{Labels: lset, Samples: []wire.Sample{{T: ts.UnixMilli(), V: v}}}}})
	require.NoError(t, err)
}

func testEngine() promql.QueryEngine {
	return promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute})
}

// newTestRuler returns a ruler over bkt evaluating through p.
func newTestRuler(t *testing.T, bkt objstore.Bucket, p *tsdbPusher, lim *limits.Overrides, reg prometheus.Registerer, edit func(*Config), opts ...Option) *Ruler {
	t.Helper()
	cfg := testConfig()
	cfg.PollInterval = 100 * time.Millisecond
	cfg.ForGracePeriod = 0
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg, bkt, lim, p, p, testEngine(), reg, nil, opts...)
	require.NoError(t, err)
	return r
}

func upload(t *testing.T, r *Ruler, id, namespace, body string) {
	t.Helper()
	groups, err := parseGroups([]byte(body), r.parser)
	require.NoError(t, err)
	for _, g := range groups {
		require.NoError(t, r.store.set(context.Background(), id, namespace, g))
	}
}

func TestEvaluationPushesResults(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	p := newTSDBPusher(t)
	reg := prometheus.NewRegistry()
	r := newTestRuler(t, bkt, p, testLimits(nil), reg, nil)
	now := time.Now()
	for i := 9; i >= 0; i-- {
		p.push(t, "a", "up", now.Add(-time.Duration(i)*10*time.Second), 1, "job", "x")
		p.push(t, "b", "up", now.Add(-time.Duration(i)*10*time.Second), 0, "job", "y")
	}
	upload(t, r, "a", "ns", "name: g\ninterval: 1s\nrules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n")
	upload(t, r, "b", "ns", "name: g\ninterval: 1s\nrules:\n  - alert: Down\n    expr: up == 0\n")
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), r))
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), r) })

	require.Eventually(t, func() bool {
		return slices.Contains(p.names("a"), "job:up:sum") && slices.Contains(p.names("b"), "ALERTS")
	}, 10*time.Second, 50*time.Millisecond)
	require.NotContains(t, p.names("a"), "ALERTS", "tenant a's rules see only tenant a")
	require.NotContains(t, p.names("b"), "job:up:sum")

	// The Prometheus API sees each tenant's groups only.
	rr := r.RulesRetriever(tenant.With(context.Background(), "a"))
	require.Len(t, rr.RuleGroups(), 1)
	require.Empty(t, rr.AlertingRules())
	require.Len(t, r.RulesRetriever(tenant.With(context.Background(), "b")).AlertingRules(), 1)
	require.Empty(t, r.RulesRetriever(tenant.With(context.Background(), "c")).RuleGroups())
	require.Greater(t, testutil.ToFloat64(r.evals.WithLabelValues("a", "ns", "g")), 0.0)
	// Prometheus' rule-group metrics are exported per tenant, for alerts
	// on evaluation failures and missed iterations.
	require.Positive(t, ruleMetric(t, reg, "prometheus_rule_group_iterations_total", "a"))
	require.Zero(t, ruleMetric(t, reg, "prometheus_rule_evaluation_failures_total", "a"))

	// A deleted group stops, and its tenant's rule-group metrics go; they
	// come back when the tenant has groups again.
	require.NoError(t, r.store.delete(context.Background(), "a", "ns", "g"))
	r.notifyChanged("a")
	require.Eventually(t, func() bool { return r.Manager("a") == nil }, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, -1.0, ruleMetric(t, reg, "prometheus_rule_group_iterations_total", "a"))
	upload(t, r, "a", "ns", "name: g\ninterval: 1s\nrules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n")
	r.notifyChanged("a")
	require.Eventually(t, func() bool { return ruleMetric(t, reg, "prometheus_rule_group_iterations_total", "a") > 0 },
		10*time.Second, 50*time.Millisecond)
}

// ruleMetric returns the sum of the counter name over tenant's series in
// reg, or -1 when reg has none.
func ruleMetric(t *testing.T, reg *prometheus.Registry, name, tenant string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum, found := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "tenant" && lp.GetValue() == tenant {
					sum, found = sum+m.GetCounter().GetValue(), true
				}
			}
		}
	}
	if !found {
		return -1
	}
	return sum
}

// An alert's 'for' state survives a restart of the ruler: the new ruler
// restores it from ALERTS_FOR_STATE, as Prometheus does.
func TestForStateRestoredAfterRestart(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	p := newTSDBPusher(t)
	lim := testLimits(nil)
	first := newTestRuler(t, bkt, p, lim, nil, nil)
	upload(t, first, "a", "ns", "name: g\ninterval: 1s\nrules:\n  - alert: Always\n    expr: vector(1)\n    for: 1h\n")
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), first))
	var activeAt time.Time
	require.Eventually(t, func() bool {
		m := first.Manager("a")
		if m == nil || len(m.AlertingRules()) == 0 || len(m.AlertingRules()[0].ActiveAlerts()) == 0 {
			return false
		}
		activeAt = m.AlertingRules()[0].ActiveAlerts()[0].ActiveAt
		// ALERTS_FOR_STATE is written from the first evaluation on.
		return slices.Contains(p.names("a"), "ALERTS_FOR_STATE")
	}, 10*time.Second, 50*time.Millisecond)
	time.Sleep(2 * time.Second)
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), first))

	restarted := time.Now()
	second := newTestRuler(t, bkt, p, lim, nil, nil)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), second))
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), second) })
	// The restore runs after the second evaluation; without it the alert
	// would be active since after the restart.
	require.Eventually(t, func() bool {
		m := second.Manager("a")
		if m == nil || len(m.AlertingRules()) == 0 {
			return false
		}
		as := m.AlertingRules()[0].ActiveAlerts()
		return len(as) == 1 && as[0].ActiveAt.Before(restarted) && m.AlertingRules()[0].Restored()
	}, 10*time.Second, 50*time.Millisecond, "alert first active at %s", activeAt)
	require.Equal(t, rules.StatePending, second.Manager("a").AlertingRules()[0].ActiveAlerts()[0].State)
}

// A federated group reads the series of its source tenants, each labelled
// with its tenant, and writes its results to its owner.
func TestFederatedGroup(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	p := newTSDBPusher(t)
	lim := testLimits(func(l *limits.Limits) { l.RulerTenantFederationEnabled = true })
	r := newTestRuler(t, bkt, p, lim, nil, nil)
	now := time.Now().Truncate(time.Second)
	p.push(t, "a", "up", now, 1, "job", "x")
	p.push(t, "b", "up", now, 2, "job", "x")
	p.push(t, "owner", "up", now, 100, "job", "x")
	upload(t, r, "owner", "ns", `name: fed
source_tenants: [a, b]
rules:
  - record: tenant:up:sum
    expr: sum by (__tenant_id__) (up)
  - record: up:sum
    expr: sum(up{__tenant_id__="b"})
`)
	upload(t, r, "owner", "ns", "name: own\nrules:\n  - record: own:up:sum\n    expr: sum(up)\n")
	groups, err := r.Groups(context.Background(), "owner")
	require.NoError(t, err)
	require.Len(t, groups, 2)
	ctx := tenant.With(context.Background(), "owner")
	for _, g := range groups {
		g.Eval(ctx, now)
		for _, rule := range g.Rules() {
			require.NoError(t, rule.LastError(), rule.Name())
		}
	}
	got := map[string]float64{}
	qr, err := p.tenantDB("owner").Querier(0, now.UnixMilli()+1)
	require.NoError(t, err)
	defer qr.Close()
	set := qr.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".*:.*"))
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			_, v := it.At()
			got[set.At().Labels().String()] = v
		}
	}
	require.NoError(t, set.Err())
	require.Equal(t, map[string]float64{
		`{__name__="tenant:up:sum", __tenant_id__="a"}`: 1,
		`{__name__="tenant:up:sum", __tenant_id__="b"}`: 2,
		`{__name__="up:sum"}`:                           2,
		`{__name__="own:up:sum"}`:                       100,
	}, got)

	// When the limit is lowered, the stored federated group stops.
	r.limits = testLimits(nil)
	groups, err = r.Groups(context.Background(), "owner")
	require.NoError(t, err)
	require.Len(t, groups, 1)
	require.Equal(t, "own", groups[0].Name())
}

// Alerts go to the Alertmanager with the tenant in X-Scope-OrgID and a
// generatorURL that points back at weft.
func TestAlertsSentToTheTenantsAlertmanager(t *testing.T) {
	type received struct {
		tenant, path string
		alerts       []map[string]any
	}
	got := make(chan received, 100)
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts []map[string]any
		_ = json.NewDecoder(r.Body).Decode(&alerts)
		got <- received{r.Header.Get(tenant.Header), r.URL.Path, alerts}
		w.WriteHeader(http.StatusOK)
	}))
	defer am.Close()
	bkt := objstore.NewInMemBucket()
	p := newTSDBPusher(t)
	r := newTestRuler(t, bkt, p, testLimits(nil), nil, func(c *Config) {
		c.AlertmanagerURL = am.URL + "/alertmanager"
		c.ExternalURL = "https://weft.example"
	})
	upload(t, r, "team-a", "ns", "name: g\ninterval: 1s\nrules:\n  - alert: Always\n    expr: vector(1)\n    annotations:\n      summary: 'at {{ $externalURL }}'\n")
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), r))
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), r) })
	select {
	case rec := <-got:
		require.Equal(t, "team-a", rec.tenant)
		require.Equal(t, "/alertmanager/api/v2/alerts", rec.path)
		require.Len(t, rec.alerts, 1)
		require.Equal(t, map[string]any{"alertname": "Always"}, rec.alerts[0]["labels"])
		require.Equal(t, map[string]any{"summary": "at https://weft.example"}, rec.alerts[0]["annotations"])
		require.Equal(t, "https://weft.example/prometheus/graph?g0.expr=vector%281%29&g0.tab=1", rec.alerts[0]["generatorURL"])
	case <-time.After(10 * time.Second):
		t.Fatal("no alert reached the Alertmanager")
	}
}

// With several Alertmanager URLs, every alert goes to each of them (as
// Prometheus sends to every Alertmanager), each on its own path, and one
// that does not answer does not keep the alert from the others.
func TestAlertsSentToEveryAlertmanager(t *testing.T) {
	type received struct{ tenant, path string }
	got := make(chan received, 100)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- received{r.Header.Get(tenant.Header), r.URL.Path}
		w.WriteHeader(http.StatusOK)
	})
	am1, am2 := httptest.NewServer(handler), httptest.NewServer(handler)
	defer am1.Close()
	defer am2.Close()
	dead := httptest.NewServer(handler)
	dead.Close() // refuses connections
	bkt := objstore.NewInMemBucket()
	r := newTestRuler(t, bkt, newTSDBPusher(t), testLimits(nil), nil, func(c *Config) {
		c.AlertmanagerURL = am1.URL + "/one, " + dead.URL + "/dead," + am2.URL + "/two/alertmanager"
	})
	upload(t, r, "team-a", "ns", "name: g\ninterval: 1s\nrules:\n  - alert: Always\n    expr: vector(1)\n")
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), r))
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), r) })
	paths := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for len(paths) < 2 {
		select {
		case rec := <-got:
			require.Equal(t, "team-a", rec.tenant)
			paths[rec.path] = true
		case <-timeout:
			t.Fatalf("the alert reached only %v", paths)
		}
	}
	require.Equal(t, map[string]bool{"/one/api/v2/alerts": true, "/two/alertmanager/api/v2/alerts": true}, paths)
}

func TestAlertmanagerURLs(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "",
		"http://a:1/am":                    "http://a:1/am",
		"http://a:1/am, https://b:2/x/am ": "http://a:1/am https://b:2/x/am",
	} {
		c := Config{AlertmanagerURL: in}
		urls, err := c.alertmanagerURLs()
		require.NoError(t, err, in)
		var s []string
		for _, u := range urls {
			s = append(s, u.String())
		}
		require.Equal(t, want, strings.Join(s, " "), in)
	}
	for _, bad := range []string{"a:1", "http://a:1,", "http://a:1/am,http://a:1/am", "/am"} {
		c := Config{AlertmanagerURL: bad}
		_, err := c.alertmanagerURLs()
		require.Error(t, err, bad)
	}
}

// A group's own interval is honoured down to the tenant's minimum; a group
// without one runs at the ruler's default.
func TestGroupIntervals(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	r := newTestRuler(t, bkt, newTSDBPusher(t), testLimits(nil), nil, nil)
	upload(t, r, "a", "ns", "groups:\n  - name: fast\n    interval: 2s\n    rules: []\n  - name: default\n    rules: []\n")
	intervals := func() map[string]time.Duration {
		groups, err := r.Groups(context.Background(), "a")
		require.NoError(t, err)
		out := map[string]time.Duration{}
		for _, g := range groups {
			out[g.Name()] = g.Interval()
		}
		return out
	}
	require.Equal(t, map[string]time.Duration{"fast": 2 * time.Second, "default": time.Minute}, intervals())
	r.limits = testLimits(func(l *limits.Limits) { l.RulerMinEvaluationInterval = model.Duration(5 * time.Second) })
	require.Equal(t, map[string]time.Duration{"fast": 5 * time.Second, "default": time.Minute}, intervals())
}
