package alertmanager

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/alert"
	apiv2 "github.com/prometheus/alertmanager/api/v2"
	"github.com/prometheus/alertmanager/cluster"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/config/receiver"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/eventrecorder"
	"github.com/prometheus/alertmanager/featurecontrol"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/labelset"
	"github.com/prometheus/alertmanager/nflog"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/provider/mem"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/weft-io/weft/pkg/limits"
)

// Intervals of the library's background work, as upstream's defaults.
const (
	maintenanceInterval         = 15 * time.Minute
	alertGCInterval             = 30 * time.Minute
	dispatchMaintenanceInterval = 30 * time.Second
)

// instance is one tenant's Alertmanager: the library's long-lived parts
// (alerts, silences, notification log, API), built once, and the parts a
// configuration makes (routes, receivers, inhibitor, dispatcher), rebuilt
// on every change of it.
type instance struct {
	tenant string
	logger *slog.Logger
	limits func() *limits.Limits
	m      *metrics
	extURL *url.URL
	// peer is nil when the tenant has one replica (the all-in-one).
	peer *replication

	reg               *prometheus.Registry // the library's metrics of this tenant
	nflog             *nflog.Log
	silences          *silence.Silences
	silencer          *silence.Silencer
	limiter           *alertsLimiter
	alerts            *mem.Alerts
	api               *apiv2.API
	pipelineBuilder   *notify.PipelineBuilder
	dispatcherMetrics *dispatch.DispatcherMetrics
	states            map[string]cluster.State

	stopc chan struct{}
	wg    sync.WaitGroup

	mu         sync.Mutex  // serializes apply and stop
	applied    *UserConfig // guarded by mu
	stopped    bool        // guarded by mu
	dispatcher atomic.Pointer[dispatch.Dispatcher]
	inhibitor  atomic.Pointer[inhibit.Inhibitor]
}

// instanceOptions are what an instance needs from the multi-tenant
// Alertmanager.
type instanceOptions struct {
	tenant    string
	cfg       Config
	extURL    *url.URL
	limits    func() *limits.Limits
	m         *metrics
	logger    *slog.Logger
	peer      *replication // nil: one replica
	initState []statePart  // from the bucket
}

func newInstance(o instanceOptions) (*instance, error) {
	reg := prometheus.NewRegistry()
	in := &instance{
		tenant: o.tenant, logger: o.logger, limits: o.limits, m: o.m, extURL: o.extURL, peer: o.peer,
		reg: reg, stopc: make(chan struct{}),
	}
	var err error
	in.nflog, err = nflog.New(nflog.Options{Retention: o.cfg.Retention, Logger: o.logger.With("component", "nflog"), Metrics: reg})
	if err != nil {
		return nil, fmt.Errorf("cannot create the notification log: %w", err)
	}
	in.silences, err = silence.New(silence.Options{Retention: o.cfg.Retention, Logger: o.logger.With("component", "silences"), Metrics: reg})
	if err != nil {
		return nil, fmt.Errorf("cannot create the silences: %w", err)
	}
	in.states = map[string]cluster.State{keyNotificationLog: in.nflog, keySilences: in.silences}
	// The bucket's state first, so that what the replicas send on top
	// of it is newer.
	for _, p := range o.initState {
		if s, ok := in.states[p.key]; ok {
			if err := s.Merge(p.data); err != nil {
				o.logger.Warn("cannot merge the state saved in the bucket", "key", p.key, "err", err)
			}
		}
	}
	if in.peer != nil {
		in.nflog.SetBroadcast(in.peer.addState(keyNotificationLog, in.nflog).Broadcast)
		in.silences.SetBroadcast(in.peer.addState(keySilences, in.silences).Broadcast)
	}
	in.wg.Go(func() { in.nflog.Maintenance(maintenanceInterval, "", in.stopc, nil) })
	in.wg.Go(func() { in.silences.Maintenance(maintenanceInterval, "", in.stopc, nil) })

	in.silencer = silence.NewSilencer(in.silences, o.logger, eventrecorder.Recorder{})
	in.limiter = &alertsLimiter{Silencer: in.silencer, tenant: o.tenant, limits: o.limits, m: o.m}
	in.alerts, err = mem.NewAlerts(context.Background(), alertGCInterval, 0, in.limiter,
		o.logger, eventrecorder.Recorder{}, reg, featurecontrol.NoopFlags{})
	if err != nil {
		in.close()
		return nil, fmt.Errorf("cannot create the alerts store: %w", err)
	}
	// An interface holding a nil pointer would not be nil: the API shows
	// no cluster only for a nil interface.
	var clusterPeer cluster.ClusterPeer
	if in.peer != nil {
		clusterPeer = in.peer
	}
	in.api, err = apiv2.NewAPI(in.alerts, in.groups, in.silences, clusterPeer, o.logger.With("component", "api"), reg)
	if err != nil {
		in.close()
		return nil, fmt.Errorf("cannot create the API: %w", err)
	}
	in.pipelineBuilder = notify.NewPipelineBuilder(reg, featurecontrol.NoopFlags{}, eventrecorder.Recorder{})
	in.dispatcherMetrics = dispatch.NewDispatcherMetrics(false, reg, featurecontrol.NoopFlags{})
	if in.peer != nil {
		in.peer.start(o.cfg.SettleTimeout)
	}
	return in, nil
}

// groups serves the API's alert groups from the running dispatcher.
func (in *instance) groups(ctx context.Context, routeFilter func(*dispatch.Route) bool, alertFilter dispatch.AlertFilter) (dispatch.AlertGroups, map[model.Fingerprint][]string, error) {
	d := in.dispatcher.Load()
	if d == nil {
		return dispatch.AlertGroups{}, map[model.Fingerprint][]string{}, nil
	}
	return d.Groups(ctx, routeFilter, alertFilter)
}

// apply makes uc, already validated into cfg and tmpl, the running
// configuration, as upstream's reload does: everything that can fail is
// built first, then the old inhibitor and dispatcher stop and new ones
// start.
func (in *instance) apply(uc *UserConfig, cfg *amconfig.Config, tmpl *template.Template, peerTimeout time.Duration) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return nil
	}
	tmpl.ExternalURL = in.extURL
	routes := dispatch.NewRoute(cfg.Route, nil)
	active := map[string]struct{}{}
	routes.Walk(func(rt *dispatch.Route) { active[rt.RouteOpts.Receiver] = struct{}{} })

	// The limit is read at each dial: a change of the runtime file
	// applies to the next notification.
	httpOpts := []commoncfg.HTTPClientOption{commoncfg.WithDialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		if in.limits().AlertmanagerReceiversBlockPrivateAddresses {
			return blockingDial(ctx, network, addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	})}
	receivers := make(map[string][]notify.Integration, len(active))
	for _, rcv := range cfg.Receivers {
		if _, ok := active[rcv.Name]; !ok {
			continue
		}
		integrations, err := receiver.BuildReceiverIntegrations(rcv, tmpl, in.logger, httpOpts...)
		if err != nil {
			return fmt.Errorf("invalid receiver %q: %w", rcv.Name, err)
		}
		for i := range integrations {
			inner := integrations[i]
			ln := &limitedNotifier{inner: &inner, tenant: in.tenant, limits: in.limits, m: in.m}
			integrations[i] = notify.NewIntegration(ln, &inner, inner.Name(), inner.Index(), rcv.Name)
		}
		receivers[rcv.Name] = integrations
	}
	intervals := make(map[string][]timeinterval.TimeInterval, len(cfg.MuteTimeIntervals)+len(cfg.TimeIntervals))
	for _, ti := range cfg.MuteTimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	for _, ti := range cfg.TimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	intervener := timeinterval.NewIntervener(intervals)

	if old := in.inhibitor.Load(); old != nil {
		old.Stop()
	}
	if old := in.dispatcher.Load(); old != nil {
		old.Stop()
	}
	inhibitor := inhibit.NewInhibitor(in.alerts, cfg.InhibitRules, in.logger, eventrecorder.Recorder{})
	wait := func() time.Duration { return 0 }
	var pipelinePeer notify.Peer
	if in.peer != nil {
		pipelinePeer = in.peer
		wait = func() time.Duration { return time.Duration(in.peer.Position()) * peerTimeout }
	}
	pipeline := in.pipelineBuilder.New(receivers, wait, inhibitor, in.silencer, intervener, in.nflog, pipelinePeer)
	in.api.Update(cfg, func(ctx context.Context, lset labelset.LabelSet) {
		in.inhibitor.Load().Mutes(ctx, lset)
		in.silencer.Mutes(ctx, lset)
	})
	timeout := func(d time.Duration) time.Duration {
		if d < notify.MinTimeout {
			d = notify.MinTimeout
		}
		return d + wait()
	}
	d := dispatch.NewDispatcher(in.alerts, routes, pipeline, intervener, timeout, dispatchMaintenanceInterval,
		aggrGroupsLimit(func() int { return in.limits().AlertmanagerMaxDispatcherAggregationGroups }),
		in.logger, eventrecorder.Recorder{}, in.dispatcherMetrics, tmpl)
	go inhibitor.Run()
	inhibitor.WaitForLoading()
	in.inhibitor.Store(inhibitor)
	go d.Run(time.Now())
	d.WaitForLoading()
	in.dispatcher.Store(d)
	in.applied = uc
	return nil
}

// state returns the replicated states as parts, for the bucket and for
// replicas that start.
func (in *instance) state() ([]statePart, error) {
	parts := make([]statePart, 0, 2)
	for _, k := range []string{keyNotificationLog, keySilences} {
		b, err := in.states[k].MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("cannot encode the %s state: %w", k, err)
		}
		parts = append(parts, statePart{key: k, data: b})
	}
	return parts, nil
}

// merge merges parts sent by another replica.
func (in *instance) merge(parts []statePart) {
	for _, p := range parts {
		if s, ok := in.states[p.key]; ok {
			if err := s.Merge(p.data); err != nil {
				in.logger.Warn("cannot merge replicated state", "key", p.key, "err", err)
			}
		}
	}
}

// close stops the instance; safe to call twice.
func (in *instance) close() {
	in.mu.Lock()
	if in.stopped {
		in.mu.Unlock()
		return
	}
	in.stopped = true
	in.mu.Unlock()
	if i := in.inhibitor.Load(); i != nil {
		i.Stop()
	}
	if d := in.dispatcher.Load(); d != nil {
		d.Stop()
	}
	if in.alerts != nil {
		in.alerts.Close()
	}
	close(in.stopc)
	in.wg.Wait()
	if in.peer != nil {
		in.peer.close()
	}
}

// aggrGroupsLimit is the tenant's limit of aggregation groups, read at
// each new group so that a change of the runtime file applies at once.
type aggrGroupsLimit func() int

func (f aggrGroupsLimit) MaxNumberOfAggregationGroups() int { return f() }

// alertsLimiter refuses new alerts over the tenant's limit; it wraps the
// silencer, which the alerts store must also call back.
type alertsLimiter struct {
	*silence.Silencer
	tenant string
	limits func() *limits.Limits
	m      *metrics
	count  atomic.Int64
	// dropped counts the alerts refused, so that the API can answer 429
	// to the request that brought them.
	dropped atomic.Int64
}

// PreStore refuses a new alert when the tenant holds its limit of alerts.
func (l *alertsLimiter) PreStore(a *alert.Alert, existing bool) error {
	if existing {
		return nil
	}
	if m := l.limits().AlertmanagerMaxAlertsCount; m > 0 && l.count.Load() >= int64(m) {
		l.m.alertsDropped.WithLabelValues(l.tenant).Inc()
		l.dropped.Add(1)
		return fmt.Errorf("the tenant holds %d alerts, its limit: raise alertmanager_max_alerts_count / -alertmanager.max-alerts-count", m)
	}
	return nil
}

// PostStore counts a new alert.
func (l *alertsLimiter) PostStore(_ *alert.Alert, existing bool) {
	if !existing {
		l.count.Add(1)
	}
}

// PostDelete uncounts an alert removed by the garbage collection.
func (l *alertsLimiter) PostDelete(*alert.Alert) { l.count.Add(-1) }

// limitedNotifier counts the notifications of one integration and holds
// them to the tenant's rate limit.
type limitedNotifier struct {
	inner   *notify.Integration
	tenant  string
	limits  func() *limits.Limits
	m       *metrics
	mu      sync.Mutex
	limiter *rate.Limiter // guarded by mu; nil until a limit is set
}

// Notify sends through the integration unless the tenant's rate limit is
// spent: then the notification fails and is not retried, as a retry
// would only spend the next token.
func (n *limitedNotifier) Notify(ctx context.Context, alerts ...*alert.Alert) notify.NotifyVerdict {
	name := n.inner.Name()
	if !n.allow() {
		n.m.notificationsRateLimited.WithLabelValues(n.tenant, name).Inc()
		return notify.Unrecoverable(fmt.Errorf("the tenant's integration %s sent faster than its limit: raise alertmanager_notification_rate_limit / -alertmanager.notification-rate-limit (err-weft-alertmanager-notification-rate-limited)", name), notify.RateLimitedReason)
	}
	n.m.notifications.WithLabelValues(n.tenant, name).Inc()
	v := n.inner.Notify(ctx, alerts...)
	if v.Err() != nil {
		n.m.notificationsFailed.WithLabelValues(n.tenant, name).Inc()
	}
	return v
}

func (n *limitedNotifier) allow() bool {
	r := n.limits().AlertmanagerNotificationRateLimit
	if r <= 0 {
		return true
	}
	burst := max(1, int(r))
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.limiter == nil {
		n.limiter = rate.NewLimiter(rate.Limit(r), burst)
	} else if n.limiter.Limit() != rate.Limit(r) || n.limiter.Burst() != burst {
		n.limiter.SetLimit(rate.Limit(r))
		n.limiter.SetBurst(burst)
	}
	return n.limiter.Allow()
}
