package ruler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/federation"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// Lifecycler announces the ruler in the ruler ring: Activate once it
// evaluates, Leave when it stops, so that its groups move at once.
type Lifecycler interface {
	Activate(ctx context.Context) error
	Leave(ctx context.Context) error
}

// Option configures a Ruler.
type Option func(*Ruler)

// WithRing makes the ruler evaluate only the groups that owns gives it,
// and announce itself through lc (both from the ruler ring). Without it,
// the ruler owns every group (the all-in-one).
func WithRing(owns func(tenantID, namespace, group string) bool, lc Lifecycler) Option {
	return func(r *Ruler) { r.owns, r.lc = owns, lc }
}

// WithParser sets the PromQL parser of rule expressions (the querier's,
// so that rules accept what queries accept).
func WithParser(p parser.Parser) Option { return func(r *Ruler) { r.parser = p } }

// Ruler evaluates the rule groups of every tenant that it owns, with one
// Prometheus rules.Manager per tenant, and serves the config API. It is a
// dskit service: starting joins the ring and loads the groups, running
// re-reads them every poll interval or when the API changed a tenant's.
type Ruler struct {
	services.Service

	cfg       Config
	store     *store
	limits    *limits.Overrides
	pusher    wire.Pusher
	queryable storage.Queryable
	engine    promql.QueryEngine
	parser    parser.Parser
	owns      func(tenantID, namespace, group string) bool
	lc        Lifecycler
	logger    *slog.Logger
	extURL    *url.URL
	amURLs    []*url.URL

	changed chan string // tenants whose groups the API changed
	ctx     context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	tenants map[string]*tenantRules // guarded by mu

	reg    prometheus.Registerer
	evals  *prometheus.CounterVec
	syncs  *prometheus.CounterVec
	groups *prometheus.GaugeVec
}

// tenantRules is the evaluation of one tenant's groups.
type tenantRules struct {
	manager  *rules.Manager
	notifier *notifier.Manager // nil: no Alertmanager
	// unregister removes the tenant's rule-group metrics from the ruler's
	// registerer; nil when they were never registered.
	unregister func()

	mu      sync.Mutex
	files   map[string]*rulefmt.RuleGroups // by namespace; guarded by mu
	sources map[string][]string            // source tenants by rules.GroupKey; guarded by mu
	keys    []string                       // the groups' GroupKeys (namespace, group); guarded by mu
}

// New returns a ruler over the rule groups in bkt. Queries read through
// queryable, which must serve the tenant of each call's context (the
// querier's path: ingesters and store-gateways), with engine; results are
// pushed through pusher (the distributor's validation and limits in front
// of the ingesters). reg and logger may be nil.
func New(cfg Config, bkt objstore.Bucket, lim *limits.Overrides, pusher wire.Pusher, queryable storage.Queryable, engine promql.QueryEngine, reg prometheus.Registerer, logger *slog.Logger, opts ...Option) (*Ruler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Ruler{
		cfg: cfg, store: &store{bkt: bkt}, limits: lim, pusher: pusher, queryable: queryable, engine: engine,
		logger:  logutil.OrNop(logger),
		changed: make(chan string, 64),
		tenants: map[string]*tenantRules{},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(r)
	}
	if r.parser == nil {
		r.parser = parser.NewParser(parser.Options{})
	}
	ext := cfg.ExternalURL
	if ext == "" {
		ext = "http://localhost"
	}
	var err error
	if r.extURL, err = url.Parse(ext); err != nil {
		return nil, fmt.Errorf("cannot parse ruler.external-url: %w", err)
	}
	if r.amURLs, err = cfg.alertmanagerURLs(); err != nil {
		return nil, err
	}
	r.reg = reg
	f := promauto.With(reg)
	r.evals = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_ruler_group_evaluations_total", Help: "Evaluations of rule groups by this ruler, by tenant, namespace and group. Summed over the rulers, each group counts once per interval."}, []string{"tenant", "namespace", "group"})
	r.syncs = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_ruler_syncs_total", Help: "Reads of the rule groups from the bucket, by reason (poll, api) and result."}, []string{"reason", "result"})
	r.groups = f.NewGaugeVec(prometheus.GaugeOpts{Name: "weft_ruler_groups", Help: "Rule groups this ruler evaluates, by tenant."}, []string{"tenant"})
	r.Service = services.NewBasicService(r.starting, r.running, r.stopping)
	return r, nil
}

func (r *Ruler) starting(ctx context.Context) error {
	if r.lc != nil {
		if err := r.lc.Activate(ctx); err != nil {
			return err
		}
	}
	r.syncAll(ctx, "start")
	return nil
}

func (r *Ruler) running(ctx context.Context) error {
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.syncAll(ctx, "poll")
		case id := <-r.changed:
			r.syncTenant(ctx, id)
		}
	}
}

func (r *Ruler) stopping(error) error {
	var err error
	if r.lc != nil {
		err = r.lc.Leave(context.Background())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, tr := range r.tenants {
		r.stopTenantLocked(id, tr)
	}
	r.cancel()
	return err
}

// notifyChanged asks the running ruler to read tenantID's groups again now,
// so that an upload through this process takes effect at once.
func (r *Ruler) notifyChanged(tenantID string) {
	select {
	case r.changed <- tenantID:
	default: // the next poll picks it up
	}
}

// syncAll reads every tenant's groups and applies those this ruler owns.
func (r *Ruler) syncAll(ctx context.Context, reason string) {
	ids, err := r.store.tenants(ctx)
	if err != nil {
		r.syncs.WithLabelValues(reason, "error").Inc()
		r.logger.Warn("cannot list the tenants with rules", "err", err)
		return
	}
	for _, id := range ids {
		if err := r.apply(ctx, id); err != nil {
			r.syncs.WithLabelValues(reason, "error").Inc()
			r.logger.Warn("cannot load rule groups", "tenant", id, "err", err)
			continue
		}
	}
	r.mu.Lock()
	for id, tr := range r.tenants {
		if !slices.Contains(ids, id) {
			r.stopTenantLocked(id, tr)
		}
	}
	r.mu.Unlock()
	r.syncs.WithLabelValues(reason, "success").Inc()
}

func (r *Ruler) syncTenant(ctx context.Context, id string) {
	result := "success"
	if err := r.apply(ctx, id); err != nil {
		result = "error"
		r.logger.Warn("cannot load rule groups", "tenant", id, "err", err)
	}
	r.syncs.WithLabelValues("api", result).Inc()
}

// loaded is what the ruler evaluates of one tenant.
type loaded struct {
	files   map[string]*rulefmt.RuleGroups // by namespace
	sources map[string][]string            // by rules.GroupKey
	keys    []string                       // rules.GroupKey of each group
}

func (l loaded) namespaces() []string {
	out := make([]string, 0, len(l.files))
	for ns := range l.files {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// load reads the groups of tenant id that this ruler owns.
func (r *Ruler) load(ctx context.Context, id string) (loaded, error) {
	l := loaded{files: map[string]*rulefmt.RuleGroups{}, sources: map[string][]string{}}
	refs, err := r.store.list(ctx, id, "")
	if err != nil {
		return l, err
	}
	lim := r.limits.For(id)
	for _, ref := range refs {
		if r.owns != nil && !r.owns(id, ref.namespace, ref.group) {
			continue
		}
		g, err := r.store.get(ctx, id, ref.namespace, ref.group)
		if errors.Is(err, errGroupNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return l, err
		}
		if len(g.SourceTenants) > 0 && !lim.RulerTenantFederationEnabled {
			r.logger.Warn("skipping a federated rule group: federation is not enabled for the tenant", "tenant", id, "namespace", ref.namespace, "group", g.Name)
			continue
		}
		f := l.files[ref.namespace]
		if f == nil {
			f = &rulefmt.RuleGroups{}
			l.files[ref.namespace] = f
		}
		f.Groups = append(f.Groups, r.toPrometheus(g, lim))
		key := rules.GroupKey(ref.namespace, g.Name)
		l.sources[key] = g.SourceTenants
		l.keys = append(l.keys, key)
	}
	return l, nil
}

// apply loads the groups of tenant id that this ruler owns and hands them
// to the tenant's manager, which keeps unchanged groups running with
// their state and restores the 'for' state of groups new to it.
func (r *Ruler) apply(ctx context.Context, id string) error {
	l, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.tenants[id]
	if len(l.files) == 0 {
		if tr != nil {
			r.stopTenantLocked(id, tr)
		}
		return nil
	}
	if tr == nil {
		m, unregister := r.tenantMetrics(id)
		tr = r.newTenant(id, m)
		tr.unregister = unregister
		go tr.manager.Run()
		r.tenants[id] = tr
	}
	tr.mu.Lock()
	old := tr.keys
	tr.files, tr.sources, tr.keys = l.files, l.sources, l.keys
	tr.mu.Unlock()
	if err := tr.manager.Update(r.cfg.EvaluationInterval, l.namespaces(), labels.EmptyLabels(), r.extURL.String(), r.iterate(id, tr)); err != nil {
		return fmt.Errorf("cannot apply the rule groups of tenant %s: %w", id, err)
	}
	for _, k := range old {
		if !slices.Contains(l.keys, k) {
			ns, g := splitKey(k)
			r.evals.DeleteLabelValues(id, ns, g)
		}
	}
	r.groups.WithLabelValues(id).Set(float64(len(l.keys)))
	return nil
}

// Group is a rule group built as the ruler runs it, for a caller that
// evaluates it at times of its choosing: Eval is the ruler's evaluation
// (Prometheus' own, counted, reading a federated group's source tenants),
// every other method is the rules.Group's.
type Group struct {
	*rules.Group
	eval rules.GroupEvalIterationFunc
}

// Eval evaluates the group at ts; ctx must carry the tenant (tenant.With).
func (g *Group) Eval(ctx context.Context, ts time.Time) { g.eval(ctx, g.Group, ts) }

// Groups returns the groups of tenantID that this ruler owns, built as the
// ruler runs them (same queries, pushes and notifications) but not
// started. Tests evaluate them step by step beside Prometheus' own.
func (r *Ruler) Groups(ctx context.Context, tenantID string) ([]*Group, error) {
	l, err := r.load(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	tr := r.newTenant(tenantID, rules.NewGroupMetrics(nil))
	tr.files, tr.sources, tr.keys = l.files, l.sources, l.keys
	eval := r.iterate(tenantID, tr)
	groups, errs := tr.manager.LoadGroups(r.cfg.EvaluationInterval, labels.EmptyLabels(), r.extURL.String(), eval, false, l.namespaces()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := make([]*Group, 0, len(groups))
	for _, g := range groups {
		out = append(out, &Group{Group: g, eval: eval})
	}
	slices.SortFunc(out, func(a, b *Group) int {
		return strings.Compare(rules.GroupKey(a.File(), a.Name()), rules.GroupKey(b.File(), b.Name()))
	})
	return out, nil
}

// toPrometheus returns g as the rules package takes it, with its interval
// raised to the tenant's minimum (a group stored before the limit rose).
func (r *Ruler) toPrometheus(g *RuleGroup, lim *limits.Limits) rulefmt.RuleGroup {
	itv := time.Duration(g.Interval)
	if itv == 0 {
		itv = r.cfg.EvaluationInterval
	}
	if min := time.Duration(lim.RulerMinEvaluationInterval); itv < min {
		itv = min
	}
	return rulefmt.RuleGroup{
		Name: g.Name, Interval: model.Duration(itv), QueryOffset: g.QueryOffset,
		Limit: g.Limit, Rules: g.Rules, Labels: g.Labels,
	}
}

// splitKey undoes rules.GroupKey(namespace, group).
func splitKey(k string) (string, string) {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == ';' {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}

// iterate is the evaluation of one group at one time: Prometheus' own,
// counted, with the group's source tenants in the context for the query
// function.
func (r *Ruler) iterate(id string, tr *tenantRules) rules.GroupEvalIterationFunc {
	return func(ctx context.Context, g *rules.Group, ts time.Time) {
		tr.mu.Lock()
		src := tr.sources[rules.GroupKey(g.File(), g.Name())]
		tr.mu.Unlock()
		r.evals.WithLabelValues(id, g.File(), g.Name()).Inc()
		rules.DefaultEvalIterationFunc(withSources(ctx, src), g, ts)
	}
}

// queryFunc runs a rule's query for the tenant of its context, or over
// the group's source tenants when it has some.
func (r *Ruler) queryFunc() rules.QueryFunc {
	own := rules.EngineQueryFunc(r.engine, r.queryable)
	return func(ctx context.Context, qs string, t time.Time) (promql.Vector, error) {
		if src := sourcesFrom(ctx); len(src) > 0 {
			return rules.EngineQueryFunc(r.engine, federation.NewQueryable(r.queryable, src))(ctx, qs, t)
		}
		return own(ctx, qs, t)
	}
}

// newTenant builds the manager (and starts the notifier) of a tenant, which
// counts its evaluations in m; the caller runs the manager.
func (r *Ruler) newTenant(id string, m *rules.Metrics) *tenantRules {
	logger := r.logger.With("tenant", id)
	tr := &tenantRules{}
	notify := func(context.Context, string, ...*rules.Alert) {}
	if len(r.amURLs) > 0 {
		tr.notifier = r.newNotifier(id, logger)
		notify = rules.SendAlerts(tr.notifier, r.extURL.JoinPath("prometheus").String())
	}
	tr.manager = rules.NewManager(&rules.ManagerOptions{
		ExternalURL:          r.extURL,
		QueryFunc:            r.queryFunc(),
		NotifyFunc:           notify,
		Context:              tenant.With(r.ctx, id),
		AppendableV2:         pushAppendable{pusher: r.pusher, tenantID: id},
		Queryable:            r.queryable,
		Logger:               logger,
		OutageTolerance:      r.cfg.OutageTolerance,
		ForGracePeriod:       r.cfg.ForGracePeriod,
		ResendDelay:          r.cfg.ResendDelay,
		GroupLoader:          &groupLoader{tr: tr, parser: r.parser},
		RestoreNewRuleGroups: true,
		DefaultRuleQueryOffset: func() time.Duration {
			return time.Duration(r.limits.For(id).RulerEvaluationDelay)
		},
		Metrics: m,
		Parser:  r.parser,
	})
	return tr
}

// tenantMetrics returns Prometheus' rule-group metrics (evaluation
// failures, missed iterations, last evaluation, ...) for one tenant,
// registered with a tenant label so that operators alert on them as on a
// Prometheus server, and the function that unregisters them when the
// tenant's manager stops.
func (r *Ruler) tenantMetrics(id string) (*rules.Metrics, func()) {
	if r.reg == nil {
		return rules.NewGroupMetrics(nil), nil
	}
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"tenant": id}, r.reg)
	m := rules.NewGroupMetrics(reg)
	return m, func() {
		for _, c := range []prometheus.Collector{
			m.EvalDuration, m.EvalDurationHistogram, m.IterationDuration, m.IterationDurationHistogram,
			m.IterationsMissed, m.IterationsScheduled, m.EvalTotal, m.EvalFailures,
			m.GroupInterval, m.GroupLastEvalTime, m.GroupLastDuration, m.GroupLastRuleDurationSum,
			m.GroupLastRestoreDuration, m.GroupRules, m.GroupSamples,
		} {
			reg.Unregister(c)
		}
	}
}

func (r *Ruler) stopTenantLocked(id string, tr *tenantRules) {
	tr.manager.Stop()
	if tr.notifier != nil {
		tr.notifier.Stop()
	}
	if tr.unregister != nil {
		tr.unregister()
	}
	delete(r.tenants, id)
	r.evals.DeletePartialMatch(prometheus.Labels{"tenant": id})
	r.groups.DeleteLabelValues(id)
}

// newNotifier returns Prometheus' notifier for one tenant, sending every
// alert to each configured Alertmanager with the tenant's X-Scope-OrgID.
// Each URL is an Alertmanager configuration of its own (its scheme and
// path may differ from the others'), so the notifier sends to each set,
// as Prometheus does.
func (r *Ruler) newNotifier(id string, logger *slog.Logger) *notifier.Manager {
	n := notifier.NewManager(&notifier.Options{
		QueueCapacity: r.cfg.NotificationQueueCapacity,
		Do: func(ctx context.Context, client *http.Client, req *http.Request) (*http.Response, error) {
			req.Header.Set(tenant.Header, id)
			return client.Do(req.WithContext(ctx))
		},
	}, model.UTF8Validation, logger)
	cfg := &config.Config{}
	// The Alertmanagers are static targets: what service discovery would
	// send, sent once, one target group per configuration.
	groups := map[string][]*targetgroup.Group{}
	for i, u := range r.amURLs {
		amc := config.DefaultAlertmanagerConfig
		amc.Scheme = u.Scheme
		amc.PathPrefix = u.Path
		amc.Timeout = model.Duration(r.cfg.NotificationTimeout)
		amc.HTTPClientConfig.TLSConfig = r.cfg.AlertmanagerTLS
		if u.User != nil {
			// user:password@ in the URL: basic auth, for an Alertmanager
			// behind weft's -auth.type=tokens or a gateway.
			pw, _ := u.User.Password()
			amc.HTTPClientConfig.BasicAuth = &commoncfg.BasicAuth{Username: u.User.Username(), Password: commoncfg.Secret(pw)}
		}
		cfg.AlertingConfig.AlertmanagerConfigs = append(cfg.AlertingConfig.AlertmanagerConfigs, &amc)
		groups[fmt.Sprintf("config-%d", i)] = []*targetgroup.Group{{
			Source:  "weft",
			Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(u.Host)}},
		}}
	}
	if err := n.ApplyConfig(cfg); err != nil {
		logger.Error("cannot configure the notifier", "err", err)
	}
	tsets := make(chan map[string][]*targetgroup.Group, 1)
	tsets <- groups
	go n.Run(tsets)
	return n
}

// groupLoader hands a tenant's stored groups to its rules.Manager, one
// namespace per "file".
type groupLoader struct {
	tr     *tenantRules
	parser parser.Parser
}

func (l *groupLoader) Load(namespace string, _ bool, _ model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	l.tr.mu.Lock()
	defer l.tr.mu.Unlock()
	f, ok := l.tr.files[namespace]
	if !ok {
		return nil, []error{fmt.Errorf("namespace %q is not loaded", namespace)}
	}
	return f, nil
}

func (l *groupLoader) Parse(query string) (parser.Expr, error) { return l.parser.ParseExpr(query) }

// Manager returns the rules manager of tenantID, or nil when this ruler
// evaluates none of its groups.
func (r *Ruler) Manager(tenantID string) *rules.Manager {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tr := r.tenants[tenantID]; tr != nil {
		return tr.manager
	}
	return nil
}
