package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grafana/dskit/runtimeconfig"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"gopkg.in/yaml.v3"

	"github.com/weft-io/weft/pkg/alertmanager"
	"github.com/weft-io/weft/pkg/auth"
	"github.com/weft-io/weft/pkg/compactor"
	"github.com/weft-io/weft/pkg/distributor"
	"github.com/weft-io/weft/pkg/frontend"
	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/ingester"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/notebook"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/ruler"
	"github.com/weft-io/weft/pkg/scheduler"
	"github.com/weft-io/weft/pkg/storegateway"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/tlsconfig"
	"github.com/weft-io/weft/pkg/ui"
	"github.com/weft-io/weft/pkg/wire"
)

// App is a running weft process: the services of its roles, built from
// the module table (modules.go), and the HTTP server in front of them.
type App struct {
	cfg         *Config
	logger      *slog.Logger
	reg         *prometheus.Registry
	roles       map[string]bool
	distributed bool // not every role in this process: rings and gRPC

	runtime   *runtimeconfig.Manager
	overrides *limits.Overrides
	ingester  *ingester.Ingester
	dist      *distributor.Distributor
	haTracker *distributor.HATracker // the distributor's elected HA replicas
	querier   *querier.Querier
	frontend  *frontend.Frontend
	sg        *storegateway.StoreGateway
	compactor *compactor.Compactor
	ruler     *ruler.Ruler
	rulerAPI  *querier.Querier // /api/v1/rules and /alerts of this ruler's own groups
	// rulesFanOut answers the querier's /api/v1/rules and /alerts in
	// distributed mode, from every ruler.
	rulesFanOut *ruler.FanOut
	reader      wire.Reader // the querier's path, shared by querier and ruler
	// alertmanager runs the tenants' Alertmanagers.
	alertmanager *alertmanager.Alertmanager
	// auth checks credentials with -auth.type=tokens (nil: X-Scope-OrgID
	// is trusted).
	auth *auth.Authenticator
	// notebooks are the ui role's notebooks, if this process runs it.
	notebooks *notebook.Notebooks
	// scheduler is the query-scheduler of this process, if it runs one.
	scheduler *scheduler.Scheduler
	// queryRT is the frontends' way to the queriers, built once
	// (QueryRoundTripper); schedClient is its gRPC client, if any.
	queryRT     http.RoundTripper
	schedClient *scheduler.Client
	bucket      objstore.InstrumentedBucket
	sgBucket    objstore.Bucket // bucket, through the store-gateway's cache

	// Distributed mode only.
	kv         *ring.KV
	ingRing    *ring.Ring
	sgRing     *ring.Ring
	compRing   *ring.Ring
	ingLife    *ring.IngesterLifecycler
	sgLife     *ring.IngesterLifecycler
	compLife   *ring.IngesterLifecycler
	rulerRing  *ring.Ring
	rulerLife  *ring.IngesterLifecycler
	amRing     *ring.Ring
	amLife     *ring.IngesterLifecycler
	qsRing     *ring.Ring
	qsLife     *ring.IngesterLifecycler
	distRing   *ring.Ring
	distLife   *ring.IngesterLifecycler
	grpcServer *grpc.Server
	clients    *clientPool

	// grpcTLS is the gRPC server's TLS (nil: plain text); clientTLS that
	// of the clients between roles, which dialOpts carry for gRPC.
	grpcTLS   *tls.Config
	clientTLS *tls.Config
	dialOpts  []grpc.DialOption

	// services are the modules of this process that run something, by
	// name; manager starts and stops them in dependency order.
	services map[string]services.Service
	manager  *services.Manager

	server   *http.Server
	listener net.Listener
	stopping atomic.Bool
	started  time.Time
}

// New builds the services of every module that the roles of cfg need,
// without starting any of them, and binds the HTTP listener; Run starts
// them and serves. With every role in one process (-target=all) the roles
// call each other directly; otherwise ingesters and store-gateways serve
// gRPC and register in their rings, and the other roles find them there.
func New(cfg *Config, logger *slog.Logger) (_ *App, err error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	a := &App{cfg: cfg, logger: logger, reg: prometheus.NewRegistry(), started: time.Now()}
	a.roles, _ = parseTarget(cfg.Target)
	a.distributed = !allInOne(a.roles)
	defer func() {
		if err != nil {
			a.closeUnstarted()
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "weft_build_info", Help: "Build information of this weft.",
		ConstLabels: prometheus.Labels{"version": Version, "revision": Revision, "goversion": goVersion()},
	}, func() float64 { return 1 }))
	httpTLS, err := a.buildTLS()
	if err != nil {
		return nil, err
	}
	if a.distributed {
		a.clients = newClientPool(cfg.Distributor.MaxRecvMsgSize, a.dialOpts...)
	}

	if cfg.Auth.Type == auth.TypeTokens {
		// Every role's HTTP API is behind it; it depends on nothing, and
		// the ruler's init may add its internal user.
		if a.auth, err = auth.New(cfg.Auth, a.reg, a.logger.With("component", "auth")); err != nil {
			return nil, err
		}
	}
	mm, err := a.newModuleManager()
	if err != nil {
		return nil, err
	}
	var targets []string
	for _, m := range moduleTable {
		if a.roles[m.name] {
			targets = append(targets, m.name)
		}
	}
	a.services, err = mm.InitModuleServices(targets...)
	if err != nil {
		return nil, err
	}
	svcs := make([]services.Service, 0, len(a.services)+1)
	for _, s := range a.services {
		svcs = append(svcs, s)
	}
	if a.auth != nil {
		svcs = append(svcs, a.auth)
	}
	a.manager, err = services.NewManager(svcs...)
	if err != nil {
		return nil, err
	}
	a.listener, err = net.Listen("tcp", cfg.HTTPListenAddress)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", cfg.HTTPListenAddress, err)
	}
	handler := a.routes()
	if a.auth != nil {
		handler = a.auth.Wrap(a.routeAuth, handler)
	}
	a.server = &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second, TLSConfig: httpTLS}
	return a, nil
}

// buildTLS builds the TLS configurations of the gRPC server and of the
// clients between roles into a, and returns the HTTP server's (nil: plain
// text). The clients use TLS when given a CA or a client certificate, or
// when this process serves gRPC over TLS: a cluster that does expects its
// peers to.
func (a *App) buildTLS() (*tls.Config, error) {
	m := tlsconfig.NewMetrics(a.reg)
	logger := a.logger.With("component", "tls")
	httpTLS, err := a.cfg.HTTPTLS.Build("http", m, logger)
	if err != nil {
		return nil, err
	}
	if a.grpcTLS, err = a.cfg.GRPCTLS.Build("grpc", m, logger); err != nil {
		return nil, err
	}
	if a.cfg.GRPCClientTLS.Enabled() || a.cfg.GRPCTLS.Enabled() {
		if a.clientTLS, err = a.cfg.GRPCClientTLS.Build("grpc-client", m, logger); err != nil {
			return nil, err
		}
		a.dialOpts = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(a.clientTLS))}
	}
	return httpTLS, nil
}

// httpClientTransport is the transport of the HTTP clients between roles
// (a query-frontend's downstream querier): TLS as the gRPC clients' when
// the URL is https.
func (a *App) httpClientTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 128
	if a.clientTLS != nil {
		t.TLSClientConfig = a.clientTLS.Clone()
	}
	return t
}

// closeUnstarted releases what New acquired when it fails: no service was
// started yet.
func (a *App) closeUnstarted() {
	if a.listener != nil {
		_ = a.listener.Close()
	}
	if a.bucket != nil {
		_ = a.bucket.Close()
	}
	if a.clients != nil {
		a.clients.close()
	}
}

// storeReader returns the reader of the bucket's blocks for queriers: the
// local store-gateway, or the configured remote ones; each query then fails
// when a block that should cover it was read by none of them.
func (a *App) storeReader(finder *storegateway.Finder) wire.Reader {
	var store wire.Reader
	switch {
	case a.sg != nil:
		store = a.sg
	case a.cfg.Querier.StoreGatewayAddresses != "" && a.clients != nil:
		var addrs []string
		for _, s := range strings.Split(a.cfg.Querier.StoreGatewayAddresses, ",") {
			if s = strings.TrimSpace(s); s != "" {
				addrs = append(addrs, s)
			}
		}
		store = querier.NewStaticReader(addrs, a.clients.storeGateway)
	case a.sgRing != nil:
		store = querier.NewShardedStoreReader(a.sgRing, a.clients.storeGateway)
	default:
		return nil
	}
	return querier.NewCheckedStoreReader(store, finder.RequiredBlocks)
}

// Addr is the bound HTTP address (useful with port 0).
func (a *App) Addr() string { return a.listener.Addr().String() }

// Run starts the services and serves until ctx is done or a service
// fails, then shuts down: in-flight requests finish (up to
// ShutdownTimeout), then the services stop in reverse dependency order.
// A service that fails stops the process with its error.
func (a *App) Run(ctx context.Context) error {
	if err := migrateDataDir(a.cfg, a.logger); err != nil {
		a.closeUnstarted()
		return err
	}
	failed := make(chan error, 1)
	a.manager.AddListener(services.NewManagerListener(
		func() {
			a.logger.Info("weft is ready", "http", a.Addr(), "target", a.cfg.Target, "data_dir", a.cfg.DataDir, "version", Version)
		},
		nil,
		func(s services.Service) {
			select {
			case failed <- fmt.Errorf("service %s failed: %w", a.serviceName(s), s.FailureCase()):
			default:
			}
		}))
	errc := make(chan error, 1)
	go func() {
		if a.server.TLSConfig != nil {
			// The certificate comes from TLSConfig.GetCertificate.
			errc <- a.server.ServeTLS(a.listener, "", "")
			return
		}
		errc <- a.server.Serve(a.listener)
	}()
	if err := a.manager.StartAsync(context.Background()); err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	case runErr = <-failed:
		a.logger.Error("a service failed; stopping", "err", runErr)
	}
	a.stopping.Store(true)
	a.logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	err := a.server.Shutdown(sctx)
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	err = errors.Join(runErr, err, a.stop())
	if err == nil {
		a.logger.Info("shutdown complete")
	}
	return err
}

// stop stops every service and waits for them: each module waits for the
// modules that depend on it (moduleTable says why the order matters). The
// HTTP server has stopped already, so no push or query enters through it.
func (a *App) stop() error {
	a.manager.StopAsync()
	_ = a.manager.AwaitStopped(context.Background())
	var errs []error
	for _, m := range moduleTable {
		if s, ok := a.services[m.name]; ok && s.State() == services.Failed {
			errs = append(errs, fmt.Errorf("service %s: %w", m.name, s.FailureCase()))
		}
	}
	if a.clients != nil {
		a.clients.close()
	}
	if a.schedClient != nil {
		a.schedClient.Close()
	}
	if a.sgBucket != nil {
		errs = append(errs, a.sgBucket.Close())
	}
	return errors.Join(errs...)
}

// serviceName returns the module name of s.
func (a *App) serviceName(s services.Service) string {
	if a.auth != nil && s == services.Service(a.auth) {
		return "auth"
	}
	for name, svc := range a.services {
		if svc == s {
			return name
		}
	}
	return "unknown"
}

// serviceStates lists the services of this process in start order.
func (a *App) serviceStates() []serviceState {
	var out []serviceState
	for _, m := range moduleTable {
		s, ok := a.services[m.name]
		if !ok {
			continue
		}
		st := serviceState{Name: m.name, State: s.State().String(), Does: m.doc}
		if err := s.FailureCase(); err != nil {
			st.Error = err.Error()
		}
		out = append(out, st)
	}
	return out
}

// serviceState is one entry of /services.
type serviceState struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	Does  string `json:"does"`
}

// ready reports whether every service runs and the process is not
// stopping; /ready answers 200 only then.
func (a *App) ready() bool { return !a.stopping.Load() && a.manager.IsHealthy() }

// startWait bounds how long a request that arrives while its role starts
// waits for it (the HTTP server listens before the roles run).
const startWait = 5 * time.Second

// whenRunning answers 503 unless the service of module name runs, so that a
// request that arrives while weft stops is retried, not lost. One that
// arrives while it starts first waits up to startWait for it: the client
// would only have retried it.
func (a *App) whenRunning(name string, h http.Handler) http.Handler {
	return a.whenRunningWith(name, h, func(w http.ResponseWriter, _ *http.Request, err error) { httpapi.WriteError(w, err) })
}

// whenRunningWith is whenRunning for an endpoint whose errors have their
// own shape (OTLP answers a google.rpc.Status with Retry-After).
func (a *App) whenRunningWith(name string, h http.Handler, fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := a.services[name]; s != nil && s.State() != services.Running && !awaitStart(r.Context(), s) {
			fail(w, r, httpapi.Errorf(http.StatusServiceUnavailable, "the %s is %s", name, strings.ToLower(s.State().String())))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// awaitStart reports whether s, new or starting, runs within startWait (and
// the request's own deadline).
func awaitStart(ctx context.Context, s services.Service) bool {
	if st := s.State(); st != services.New && st != services.Starting {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, startWait)
	defer cancel()
	return s.AwaitRunning(ctx) == nil
}

func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                        "weft_request_duration_seconds",
		Help:                        "Time to serve HTTP requests, by route, method and status code.",
		Buckets:                     prometheus.DefBuckets,
		NativeHistogramBucketFactor: 1.1,
	}, []string{"route", "method", "code"})
	a.reg.MustRegister(duration)
	instrument := func(route string, h http.Handler) http.Handler {
		return promhttp.InstrumentHandlerDuration(duration.MustCurryWith(prometheus.Labels{"route": route}), h)
	}
	if a.dist != nil {
		mux.Handle("/api/v1/push", instrument("push", a.whenRunning(RoleDistributor, a.dist)))
		mux.Handle("/otlp/v1/metrics", instrument("otlp", a.whenRunningWith(RoleDistributor, http.HandlerFunc(a.dist.ServeOTLP),
			func(w http.ResponseWriter, r *http.Request, err error) { distributor.WriteOTLPError(w, r, err) })))
		mux.Handle("/distributor/ha_tracker", a.whenRunning(RoleDistributor, a.haTracker))
		if a.distRing != nil {
			mux.Handle("/distributor/ring", a.distRing)
		}
	}
	switch {
	case a.frontend != nil:
		// The frontend answers the query API, in front of the querier.
		mux.Handle(querier.Prefix+"/", instrument("prometheus_api", a.whenRunning(RoleQueryFront, a.frontend)))
	case a.querier != nil:
		mux.Handle(querier.Prefix+"/", instrument("prometheus_api", a.whenRunning(RoleQuerier, a.querier.Handler())))
	}
	if a.querier != nil {
		if a.rulesFanOut != nil {
			mux.Handle(querier.Prefix+"/rules", instrument("prometheus_api", a.whenRunning(RoleQuerier, a.rulesFanOut.Handler(ruler.KindRules))))
			mux.Handle(querier.Prefix+"/alerts", instrument("prometheus_api", a.whenRunning(RoleQuerier, a.rulesFanOut.Handler(ruler.KindAlerts))))
		}
		// Series deletion is a request recorded in the bucket and applied
		// by the compactor.
		// A frontend in front of this querier forgets the tenant's cached
		// results when a deletion is requested (a frontend elsewhere
		// does it when the deletion passes through it).
		var del http.Handler = compactor.DeleteSeriesHandler(a.bucket, tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}.FromRequest, nil)
		if a.frontend != nil {
			del = a.invalidatingFrontend(del)
		}
		mux.Handle(querier.Prefix+"/admin/tsdb/delete_series", instrument("delete_series", del))
		var delTenant http.Handler = compactor.DeleteTenantHandler(a.bucket, tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}.FromRequest, nil)
		if a.frontend != nil {
			delTenant = a.invalidatingFrontend(delTenant)
		}
		mux.Handle("/compactor/delete_tenant", instrument("delete_tenant", delTenant))
	}
	a.rulerRoutes(mux, instrument)
	a.querySchedulerRoutes(mux)
	a.alertmanagerRoutes(mux, instrument)
	a.notebookRoutes(mux, instrument)
	if a.ingRing != nil {
		mux.Handle("/ring", a.ingRing)
		mux.Handle("/store-gateway/ring", a.sgRing)
		if a.compRing != nil {
			mux.Handle("/compactor/ring", a.compRing)
		}
		mux.Handle("/memberlist", a.kv.MemberlistHandler())
	}
	mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg, EnableOpenMetrics: true}))
	// Go's profiles, as Prometheus serves them: where a running weft
	// spends its CPU and memory (go tool pprof URL/debug/pprof/profile).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready() {
			var waiting []string
			for _, st := range a.serviceStates() {
				if st.State != services.Running.String() {
					waiting = append(waiting, st.Name+" "+st.State)
				}
			}
			http.Error(w, "not ready: "+strings.Join(waiting, ", "), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("/config", func(w http.ResponseWriter, _ *http.Request) {
		b, err := redacted(a.cfg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/runtime_config", func(w http.ResponseWriter, _ *http.Request) {
		rc := &limits.RuntimeConfig{}
		if a.runtime != nil {
			if c, ok := a.runtime.GetConfig().(*limits.RuntimeConfig); ok && c != nil {
				rc = c
			}
		}
		doc := struct {
			Defaults  *limits.Limits            `yaml:"defaults"`
			Overrides map[string]*limits.Limits `yaml:"overrides"`
		}{a.overrides.Defaults(), rc.Overrides}
		b, err := yaml.Marshal(doc)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/services", func(w http.ResponseWriter, r *http.Request) {
		list := a.serviceStates()
		if r.URL.Query().Get("format") == "json" || r.Header.Get("Accept") == "application/json" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(list)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = servicesPage.Execute(w, list)
	})
	if a.notebooks != nil {
		// The web UI (the ui role) answers "/" and its own pages; other
		// unknown paths are 404. Its navigation links every status page
		// above.
		mux.Handle("/", ui.Handler(ui.Options{MultiTenancy: a.cfg.MultitenancyEnabled, Version: Version, Auth: a.cfg.Auth.Type}))
		return mux
	}
	// A process without the UI (an ingester, a distributor, ...) links
	// its status pages.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = indexPage.Execute(w, map[string]any{"Version": Version, "Target": a.cfg.Target, "Uptime": time.Since(a.started).Round(time.Second)})
	})
	return mux
}

// indexPage is "/" of a process without the ui role.
var indexPage = template.Must(template.New("index").Parse(`<!doctype html><html><head><title>weft</title></head><body>
<h1>weft {{.Version}}</h1><p>target {{.Target}}, up {{.Uptime}} (the web UI is served by the processes that run the ui role)</p>
<ul>
<li><a href="/services">/services</a> roles and their state</li>
<li><a href="/config">/config</a> effective configuration</li>
<li><a href="/runtime_config">/runtime_config</a> per-tenant limits in force</li>
<li><a href="/metrics">/metrics</a> weft's own metrics</li>
<li><a href="/ready">/ready</a> readiness</li>
<li><a href="/ring">/ring</a> and <a href="/memberlist">/memberlist</a> (distributed mode)</li>
<li><a href="/distributor/ring">/distributor/ring</a> distributors sharing the tenants' ingestion rates (distributed mode)</li>
<li><a href="/distributor/ha_tracker">/distributor/ha_tracker</a> elected replicas of HA pairs (distributors)</li>
<li><a href="/debug/pprof/">/debug/pprof/</a> Go profiles</li>
</ul></body></html>`))

// invalidatingFrontend calls h, then makes the frontend forget the
// tenant's cached results when h accepted a deletion (of series, or of
// the tenant).
func (a *App) invalidatingFrontend(h http.Handler) http.Handler {
	resolve := tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}.FromRequest
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		if id, err := resolve(r); err == nil && sw.code/100 == 2 && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
			a.frontend.Invalidate(id)
		}
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// alertmanagerRoutes mounts the Alertmanager configuration API and the
// tenants' v2 API, when this process runs the role.
func (a *App) alertmanagerRoutes(mux *http.ServeMux, instrument func(string, http.Handler) http.Handler) {
	if a.alertmanager == nil {
		return
	}
	mux.Handle(alertmanager.ConfigPath, instrument("alertmanager_config", a.whenRunning(RoleAlertmanager, a.alertmanager.ConfigHandler())))
	api := instrument("alertmanager_api", a.whenRunning(RoleAlertmanager, a.alertmanager.APIHandler()))
	mux.Handle(alertmanager.Prefix+"/", api)
	mux.Handle(alertmanager.Prefix, api)
	if a.amRing != nil {
		mux.Handle("/alertmanager/ring", a.amRing)
	}
}

var servicesPage = template.Must(template.New("services").Parse(`<!doctype html><html><head><title>weft services</title></head><body>
<h1>Services</h1><table border="1" cellpadding="4"><tr><th>service</th><th>state</th><th>does</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.State}}{{if .Error}}: {{.Error}}{{end}}</td><td>{{.Does}}</td></tr>{{end}}</table>
<p><a href="/services?format=json">JSON</a></p></body></html>`))

// Main parses args, builds and runs weft until SIGINT/SIGTERM (ctx).
func Main(ctx context.Context, args []string) error {
	cfg, _, err := ParseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	logger, err := logutil.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	for _, w := range cfg.Deprecations() {
		logger.Warn(w)
	}
	a, err := New(cfg, logger)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
