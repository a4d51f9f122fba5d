package alertmanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"
	"gopkg.in/yaml.v3"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
)

// Prefix is where the tenants' Alertmanager v2 API is served:
// <Prefix>/api/v2/alerts, .../silences, .../status, ...
const Prefix = "/alertmanager"

// ConfigPath is the path of the configuration API (GET, POST, DELETE).
const ConfigPath = "/api/v1/alerts"

// Replicas returns the gRPC addresses of the replicas that run tenant's
// Alertmanager, in ring order, and the index of this process among them
// (-1 when it is not one of them).
type Replicas func(tenantID string) (addrs []string, self int, err error)

// Lifecycler registers this alertmanager in the alertmanager ring.
type Lifecycler interface {
	Activate(ctx context.Context) error
	Leave(ctx context.Context) error
}

// Alertmanager is the alertmanager role: the Alertmanagers of the tenants
// this replica runs, their configuration API and their v2 API. It is a
// dskit service: starting activates the ring entry and starts every
// tenant that has a configuration; running polls the bucket for
// configurations and saves the state; stopping saves the state and stops
// every tenant.
type Alertmanager struct {
	services.Service

	cfg      Config
	bkt      objstore.Bucket
	lim      *limits.Overrides
	tenantOf func(*http.Request) (string, error)
	replicas Replicas
	lc       Lifecycler
	tr       transport
	extURL   *url.URL
	logger   *slog.Logger
	m        *metrics

	syncMu    sync.Mutex // serializes sync and uploads
	mu        sync.RWMutex
	instances map[string]*instance // guarded by mu
}

// New returns the alertmanager role over the configurations in bkt.
// tenantOf picks the tenant of a request (tenant.Resolver.FromRequest).
// replicas is nil when one process runs every tenant (the all-in-one):
// then no state is replicated and there is no ring (lc nil). reg and
// logger may be nil; dialOpts are added to the replicas' dial options (TLS).
func New(cfg Config, bkt objstore.Bucket, lim *limits.Overrides, tenantOf func(*http.Request) (string, error),
	replicas Replicas, lc Lifecycler, reg prometheus.Registerer, logger *slog.Logger, dialOpts ...grpc.DialOption) (*Alertmanager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ext, err := url.Parse(cfg.ExternalURL)
	if err != nil {
		return nil, fmt.Errorf("cannot parse alertmanager.web.external-url: %w", err)
	}
	logger = logutil.OrNop(logger)
	am := &Alertmanager{
		cfg: cfg, bkt: bkt, lim: lim, tenantOf: tenantOf, replicas: replicas, lc: lc,
		extURL: ext, logger: logger, m: newMetrics(reg), instances: map[string]*instance{},
	}
	if replicas != nil {
		am.tr = newGRPCTransport(dialOpts...)
	}
	am.Service = services.NewBasicService(am.starting, am.running, am.stopping)
	return am, nil
}

func (am *Alertmanager) starting(ctx context.Context) error {
	if am.lc != nil {
		if err := am.lc.Activate(ctx); err != nil {
			return err
		}
	}
	if err := am.sync(ctx); err != nil {
		// The next poll tries again; a bucket that fails now must not
		// keep the role from starting.
		am.logger.Warn("cannot read the Alertmanager configurations", "err", err)
	}
	return nil
}

func (am *Alertmanager) running(ctx context.Context) error {
	poll := time.NewTicker(am.cfg.PollInterval)
	defer poll.Stop()
	persist := time.NewTicker(am.cfg.PersistInterval)
	defer persist.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			if err := am.sync(ctx); err != nil {
				am.logger.Warn("cannot read the Alertmanager configurations", "err", err)
			}
		case <-persist.C:
			am.persistAll(ctx, true)
		}
	}
}

func (am *Alertmanager) stopping(error) error {
	am.syncMu.Lock()
	defer am.syncMu.Unlock()
	// Every replica saves on shutdown: when all of them restart, the last
	// one to stop leaves the newest state.
	am.persistAll(context.Background(), false)
	am.mu.Lock()
	all := am.instances
	am.instances = map[string]*instance{}
	am.mu.Unlock()
	for _, in := range all {
		in.close()
	}
	am.m.tenants.Set(0)
	var err error
	if am.lc != nil {
		err = am.lc.Leave(context.Background())
	}
	if t, ok := am.tr.(*grpcTransport); ok {
		t.close()
	}
	return err
}

// persistAll saves the state of every tenant running here; with
// firstOnly, only of the tenants whose first replica this is.
func (am *Alertmanager) persistAll(ctx context.Context, firstOnly bool) {
	am.mu.RLock()
	all := maps.Clone(am.instances)
	am.mu.RUnlock()
	for t, in := range all {
		if firstOnly && in.peer != nil && in.peer.Position() != 0 {
			continue
		}
		// A configuration deleted on another replica takes its state with
		// it: do not bring the state back before the next poll stops the
		// tenant here.
		if ok, err := am.bkt.Exists(ctx, configKey(t)); err == nil && !ok {
			continue
		}
		if err := am.persist(ctx, t, in); err != nil {
			am.m.statePersistFailed.Inc()
			am.logger.Warn("cannot save the Alertmanager state", "tenant", t, "err", err)
			continue
		}
		am.m.statePersisted.Inc()
	}
}

func (am *Alertmanager) persist(ctx context.Context, tenantID string, in *instance) error {
	parts, err := in.state()
	if err != nil {
		return err
	}
	msg := stateMsg{tenant: tenantID, parts: parts}
	return am.bkt.Upload(ctx, stateKey(tenantID), bytes.NewReader(msg.marshal()))
}

// loadState reads the state saved in the bucket; none is no error.
func (am *Alertmanager) loadState(ctx context.Context, tenantID string) ([]statePart, error) {
	rc, err := am.bkt.Get(ctx, stateKey(tenantID))
	if am.bkt.IsObjNotFoundErr(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	var m stateMsg
	if err := m.unmarshal(b); err != nil {
		return nil, err
	}
	return m.parts, nil
}

// owns reports whether this replica runs tenantID's Alertmanager.
func (am *Alertmanager) owns(tenantID string) bool {
	if am.replicas == nil {
		return true
	}
	_, self, err := am.replicas(tenantID)
	return err == nil && self >= 0
}

// sync starts, changes and stops the tenants' Alertmanagers after the
// configurations in the bucket.
func (am *Alertmanager) sync(ctx context.Context) error {
	am.syncMu.Lock()
	defer am.syncMu.Unlock()
	var tenants []string
	err := am.bkt.Iter(ctx, bucketPrefix, func(name string) error {
		if t := strings.TrimSuffix(strings.TrimPrefix(name, bucketPrefix), "/"); t != "" && strings.HasSuffix(name, "/") {
			tenants = append(tenants, t)
		}
		return nil
	})
	if err != nil {
		am.m.syncFailed.Inc()
		return fmt.Errorf("cannot list the Alertmanager configurations: %w", err)
	}
	keep := map[string]bool{}
	var errs []error
	for _, t := range tenants {
		if !am.owns(t) {
			continue
		}
		uc, err := am.readConfig(ctx, t)
		if err != nil {
			errs = append(errs, err)
			am.mu.RLock()
			_, running := am.instances[t]
			am.mu.RUnlock()
			keep[t] = running // keep the running one on a read error
			continue
		}
		if uc == nil {
			continue
		}
		keep[t] = true
		if err := am.applyLocked(ctx, t, uc); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t, err))
		}
	}
	am.mu.Lock()
	var stop []*instance
	for t, in := range am.instances {
		if !keep[t] {
			stop = append(stop, in)
			delete(am.instances, t)
		}
	}
	am.m.tenants.Set(float64(len(am.instances)))
	am.mu.Unlock()
	for _, in := range stop {
		in.close()
	}
	if len(errs) > 0 {
		am.m.syncFailed.Inc()
	}
	return errors.Join(errs...)
}

// readConfig returns tenant's configuration in the bucket, nil if none.
func (am *Alertmanager) readConfig(ctx context.Context, tenantID string) (*UserConfig, error) {
	rc, err := am.bkt.Get(ctx, configKey(tenantID))
	if am.bkt.IsObjNotFoundErr(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the configuration of tenant %s: %w", tenantID, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("cannot read the configuration of tenant %s: %w", tenantID, err)
	}
	uc, err := ParseUserConfig(b)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the configuration of tenant %s: %w", tenantID, err)
	}
	return uc, nil
}

// applyLocked makes uc tenant's running configuration, starting its
// Alertmanager if needed. The caller holds syncMu.
func (am *Alertmanager) applyLocked(ctx context.Context, tenantID string, uc *UserConfig) error {
	am.mu.RLock()
	in := am.instances[tenantID]
	am.mu.RUnlock()
	if in != nil {
		in.mu.Lock()
		same := reflect.DeepEqual(in.applied, uc)
		in.mu.Unlock()
		if same {
			return nil
		}
	}
	lim := am.lim.For(tenantID)
	cfg, tmpl, err := validate(uc, lim)
	if err != nil {
		// The running configuration stays, if any: limits may have
		// shrunk under a stored one.
		return err
	}
	if in == nil {
		in, err = am.newInstance(ctx, tenantID)
		if err != nil {
			return err
		}
		am.mu.Lock()
		am.instances[tenantID] = in
		am.m.tenants.Set(float64(len(am.instances)))
		am.mu.Unlock()
	}
	return in.apply(uc, cfg, tmpl, am.cfg.PeerTimeout)
}

func (am *Alertmanager) newInstance(ctx context.Context, tenantID string) (*instance, error) {
	logger := am.logger.With("tenant", tenantID)
	saved, err := am.loadState(ctx, tenantID)
	if err != nil {
		logger.Warn("cannot read the state saved in the bucket; starting without it", "err", err)
	}
	var peer *replication
	if am.replicas != nil {
		self := ""
		if addrs, i, err := am.replicas(tenantID); err == nil && i >= 0 {
			self = addrs[i]
		}
		peer = newReplication(tenantID, self, func() ([]string, int, error) { return am.replicas(tenantID) }, am.tr, am.m, logger)
	}
	return newInstance(instanceOptions{
		tenant: tenantID, cfg: am.cfg, extURL: am.extURL, m: am.m, logger: logger, peer: peer, initState: saved,
		limits: func() *limits.Limits { return am.lim.For(tenantID) },
	})
}

func (am *Alertmanager) instance(tenantID string) *instance {
	am.mu.RLock()
	defer am.mu.RUnlock()
	return am.instances[tenantID]
}

// mergeState implements replicationServer.
func (am *Alertmanager) mergeState(tenantID string, parts []statePart) bool {
	in := am.instance(tenantID)
	if in == nil {
		return false
	}
	in.merge(parts)
	return true
}

// readState implements replicationServer.
func (am *Alertmanager) readState(tenantID string) ([]statePart, bool, error) {
	in := am.instance(tenantID)
	if in == nil {
		return nil, false, nil
	}
	parts, err := in.state()
	return parts, err == nil, err
}

// ConfigHandler serves the configuration API at ConfigPath: GET answers
// the tenant's configuration as YAML, POST validates and stores one (and
// applies it here at once), DELETE removes it with the saved state.
func (am *Alertmanager) ConfigHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenantID, err := am.tenantOf(r)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		switch r.Method {
		case http.MethodGet:
			err = am.getConfig(w, r, tenantID)
		case http.MethodPost:
			err = am.postConfig(w, r, tenantID)
		case http.MethodDelete:
			err = am.deleteConfig(w, r, tenantID)
		default:
			err = httpapi.Errorf(http.StatusMethodNotAllowed, "use GET, POST or DELETE")
		}
		if err != nil {
			httpapi.WriteError(w, err)
		}
	})
}

func notConfigured(tenantID string) error {
	return httpapi.Errorf(http.StatusNotFound, "tenant %s has no Alertmanager configuration: upload one with POST %s (err-weft-alertmanager-not-configured)", tenantID, ConfigPath)
}

func (am *Alertmanager) getConfig(w http.ResponseWriter, r *http.Request, tenantID string) error {
	uc, err := am.readConfig(r.Context(), tenantID)
	if err != nil {
		return err
	}
	if uc == nil {
		return notConfigured(tenantID)
	}
	b, err := yaml.Marshal(uc)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(b)
	return nil
}

func (am *Alertmanager) postConfig(w http.ResponseWriter, r *http.Request, tenantID string) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	uc, err := ParseUserConfig(body)
	if err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "%w", err)
	}
	if _, _, err := validate(uc, am.lim.For(tenantID)); err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "%w", err)
	}
	b, err := yaml.Marshal(uc)
	if err != nil {
		return err
	}
	am.syncMu.Lock()
	defer am.syncMu.Unlock()
	if err := am.bkt.Upload(r.Context(), configKey(tenantID), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("cannot store the configuration: %w", err)
	}
	// Apply at once where it was uploaded; the other replicas read it at
	// their next poll.
	if am.owns(tenantID) {
		if err := am.applyLocked(r.Context(), tenantID, uc); err != nil {
			return fmt.Errorf("the configuration is stored but cannot run: %w", err)
		}
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (am *Alertmanager) deleteConfig(w http.ResponseWriter, r *http.Request, tenantID string) error {
	am.syncMu.Lock()
	defer am.syncMu.Unlock()
	for _, key := range []string{configKey(tenantID), stateKey(tenantID)} {
		if err := am.bkt.Delete(r.Context(), key); err != nil && !am.bkt.IsObjNotFoundErr(err) {
			return fmt.Errorf("cannot delete the configuration: %w", err)
		}
	}
	am.mu.Lock()
	in := am.instances[tenantID]
	delete(am.instances, tenantID)
	am.m.tenants.Set(float64(len(am.instances)))
	am.mu.Unlock()
	if in != nil {
		in.close()
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// APIHandler serves the tenants' Alertmanager under Prefix: the library's
// v2 API at Prefix/api/v2/ (for amtool, Grafana, and the rulers' alerts)
// and a short status page at Prefix/. With replicas, any alertmanager takes
// any request: alerts go to every replica of the tenant, as Prometheus
// sends them to every Alertmanager, and the other requests of a tenant that
// does not run here go to one of its replicas.
func (am *Alertmanager) APIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenantID, err := am.tenantOf(r)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, Prefix)
		if am.replicas != nil && strings.HasPrefix(rest, "/api/v2/") {
			am.distribute(w, r, tenantID, rest)
			return
		}
		am.serveLocal(w, r, tenantID, rest)
	})
}

// serveLocal serves a request of tenantID with its Alertmanager on this
// replica; rest is the path under Prefix.
func (am *Alertmanager) serveLocal(w http.ResponseWriter, r *http.Request, tenantID, rest string) {
	in := am.instance(tenantID)
	if in == nil {
		if am.replicas != nil && !am.owns(tenantID) {
			addrs, _, _ := am.replicas(tenantID)
			httpapi.WriteError(w, httpapi.Errorf(http.StatusNotFound, "the Alertmanager of tenant %s does not run on this replica; its replicas are %s", tenantID, strings.Join(addrs, ", ")))
			return
		}
		httpapi.WriteError(w, notConfigured(tenantID))
		return
	}
	if strings.HasPrefix(rest, "/api/v2/") {
		r2 := r.Clone(r.Context())
		r2.URL.Path = rest
		r2.URL.RawPath = ""
		if r.Method == http.MethodPost && rest == "/api/v2/alerts" {
			am.postAlerts(w, r2, in)
			return
		}
		in.api.Handler.ServeHTTP(w, r2)
		return
	}
	if rest != "" && rest != "/" {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusNotFound, "no such Alertmanager endpoint: the API is under %s/api/v2/", Prefix))
		return
	}
	am.statusPage(w, tenantID, in)
}

// distribute serves a v2 API request in a cluster: a POST of alerts is
// served here if this replica runs the tenant and sent to every other
// replica of it; any other request is served here if this replica runs the
// tenant, else by the first of its replicas that answers.
func (am *Alertmanager) distribute(w http.ResponseWriter, r *http.Request, tenantID, rest string) {
	addrs, self, err := am.replicas(tenantID)
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "cannot find the replicas of tenant %s: %w", tenantID, err))
		return
	}
	postAlerts := r.Method == http.MethodPost && rest == "/api/v2/alerts"
	if !postAlerts && self >= 0 {
		am.serveLocal(w, r, tenantID, rest)
		return
	}
	body, err := readBody(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	req := &httpMsg{method: r.Method, path: rest, query: r.URL.RawQuery, contentType: r.Header.Get("Content-Type"), body: body}
	if !postAlerts {
		var errs []error
		for _, addr := range addrs {
			resp, err := am.tr.forward(r.Context(), addr, tenantID, req)
			if err == nil {
				resp.write(w)
				return
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "no replica of tenant %s answered: %w", tenantID, errors.Join(errs...)))
		return
	}
	// Alerts: to every replica at once; the answer is this replica's, or
	// else the first other one that took them.
	type result struct {
		resp *httpMsg
		err  error
	}
	results := make([]result, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		if i == self {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
			defer cancel()
			resp, err := am.tr.forward(ctx, addr, tenantID, req)
			results[i] = result{resp, err}
		})
	}
	if self >= 0 {
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(body))
		am.serveLocal(w, r2, tenantID, rest)
		// Wait a little for the others, so that the sender usually finds
		// the alerts on every replica when it is answered, but not for a
		// replica that hangs: that one gets them in the background.
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		return
	}
	wg.Wait()
	var errs []error
	for i, res := range results {
		if res.err == nil && res.resp.status < 500 {
			res.resp.write(w)
			return
		}
		if res.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addrs[i], res.err))
		}
	}
	httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "no replica of tenant %s took the alerts: %w", tenantID, errors.Join(errs...)))
}

// serveForwarded serves a request that another replica forwarded.
func (am *Alertmanager) serveForwarded(tenantID string, req *httpMsg) *httpMsg {
	target := Prefix + req.path
	if req.query != "" {
		target += "?" + req.query
	}
	r := httptest.NewRequest(req.method, target, bytes.NewReader(req.body))
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	rec := httptest.NewRecorder()
	am.serveLocal(rec, r, tenantID, req.path)
	return &httpMsg{status: rec.Code, contentType: rec.Header().Get("Content-Type"), body: rec.Body.Bytes()}
}

// postAlerts serves the library's POST of alerts, but answers 429 when
// alerts of the request were dropped over the tenant's limit, which the
// library only logs: the sender must learn that they were lost.
func (am *Alertmanager) postAlerts(w http.ResponseWriter, r *http.Request, in *instance) {
	before := in.limiter.dropped.Load()
	rec := httptest.NewRecorder()
	in.api.Handler.ServeHTTP(rec, r)
	if n := in.limiter.dropped.Load() - before; n > 0 && rec.Code == http.StatusOK {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusTooManyRequests, "%d alerts were dropped: the tenant holds its limit of %d alerts; raise alertmanager_max_alerts_count / -alertmanager.max-alerts-count (err-weft-alertmanager-max-alerts-count)",
			n, in.limits().AlertmanagerMaxAlertsCount))
		return
	}
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (am *Alertmanager) statusPage(w http.ResponseWriter, tenantID string, in *instance) {
	alerts := 0
	it := in.alerts.GetPending()
	for range it.Next() {
		alerts++
	}
	it.Close()
	peers, status := []string{}, "single replica"
	if in.peer != nil {
		addrs, _, _ := in.peer.replicas()
		peers, status = addrs, in.peer.Status()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, map[string]any{"Tenant": tenantID, "Alerts": alerts, "Cluster": status, "Peers": slices.Clone(peers), "Prefix": Prefix})
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html><html><head><title>Alertmanager</title></head><body>
<h1>Alertmanager of tenant {{.Tenant}}</h1>
<p>{{.Alerts}} alerts held. Cluster: {{.Cluster}}{{range .Peers}} {{.}}{{end}}.</p>
<p>API: <a href="{{.Prefix}}/api/v2/status">status</a>, <a href="{{.Prefix}}/api/v2/alerts">alerts</a>,
<a href="{{.Prefix}}/api/v2/alerts/groups">alert groups</a>, <a href="{{.Prefix}}/api/v2/silences">silences</a>,
<a href="{{.Prefix}}/api/v2/receivers">receivers</a>.</p></body></html>`))
