package app

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	dsring "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/runtimeconfig"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"
	"gopkg.in/yaml.v3"

	"github.com/weft-io/weft/pkg/bucket"
	"github.com/weft-io/weft/pkg/compactor"
	"github.com/weft-io/weft/pkg/distributor"
	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/ingester"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/storegateway"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// App is a running weft process.
type App struct {
	cfg    *Config
	logger *slog.Logger
	reg    *prometheus.Registry
	roles  map[string]bool

	runtime   *runtimeconfig.Manager
	overrides *limits.Overrides
	ingester  *ingester.Ingester
	dist      *distributor.Distributor
	querier   *querier.Querier
	sg        *storegateway.StoreGateway
	compactor *compactor.Compactor
	bucket    objstore.InstrumentedBucket
	sgBucket  objstore.Bucket // bucket, through the store-gateway's cache

	// Distributed mode only.
	kv         *ring.KV
	ingRing    *ring.Ring
	sgRing     *ring.Ring
	lifecycler *ring.IngesterLifecycler
	sgLife     *ring.IngesterLifecycler
	compRing   *ring.Ring
	compLife   *ring.IngesterLifecycler
	grpcServer *grpc.Server
	grpcLis    net.Listener
	clients    *clientPool

	server   *http.Server
	listener net.Listener
	ready    atomic.Bool
	started  time.Time
}

// New builds every role of cfg and binds the listeners; Run serves. With
// every role in one process (-target=all) the roles call each other
// directly; otherwise ingesters serve gRPC and register in the ring, and
// distributors and queriers find them there.
func New(cfg *Config, logger *slog.Logger) (_ *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	a := &App{cfg: cfg, logger: logger, reg: prometheus.NewRegistry(), started: time.Now()}
	a.roles, _ = parseTarget(cfg.Target)
	defer func() {
		if err != nil {
			_ = a.stop(context.Background())
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "weft_build_info", Help: "Build information of this weft.",
		ConstLabels: prometheus.Labels{"version": Version, "revision": Revision, "goversion": goVersion()},
	}, func() float64 { return 1 }))

	if err := a.startRuntimeConfig(); err != nil {
		return nil, err
	}
	distributed := !allInOne(a.roles)
	if distributed {
		if err := a.startRing(); err != nil {
			return nil, err
		}
	}
	resolver := tenant.Resolver{MultiTenancy: cfg.MultitenancyEnabled}

	a.bucket, err = bucket.New(cfg.Bucket, "weft", a.reg, logger)
	if err != nil {
		return nil, err
	}
	bkt := a.bucket
	if a.roles[RoleStoreGateway] {
		sgcfg := cfg.StoreGateway
		sgcfg.Dir = filepath.Join(cfg.DataDir, "store-gateway")
		if distributed {
			// Own the blocks the store-gateway ring gives this instance.
			sgcfg.ShardFilter = storegateway.RingShardFilter(a.sgRing, cfg.Ring.Ring.StoreGateway.InstanceID)
		}
		// Only the store-gateway reads through the cache: what the others
		// read is mutable (indexes, marks) and must not be served stale.
		a.sgBucket, err = bucket.NewCachingBucket(bkt, sgcfg.Cache,
			prometheus.WrapRegistererWith(prometheus.Labels{"component": RoleStoreGateway}, a.reg), logger.With("role", RoleStoreGateway))
		if err != nil {
			return nil, err
		}
		a.sg, err = storegateway.New(sgcfg, a.sgBucket, a.reg, logger.With("role", RoleStoreGateway))
		if err != nil {
			return nil, err
		}
		if err := a.sg.Start(); err != nil {
			return nil, err
		}
		if distributed {
			if err := a.startGRPC(); err != nil {
				return nil, err
			}
			a.sgLife, err = ring.NewStoreGatewayLifecycler(cfg.Ring.Ring.StoreGateway, a.kv, a.reg, logger.With("component", "store-gateway-lifecycler"))
			if err != nil {
				return nil, err
			}
			if err := services.StartAndAwaitRunning(context.Background(), a.sgLife); err != nil {
				return nil, fmt.Errorf("cannot join the store-gateway ring: %w", err)
			}
			if err := a.sgLife.Activate(context.Background()); err != nil {
				return nil, err
			}
		}
	}
	if a.roles[RoleCompactor] {
		ccfg := cfg.Compactor
		if ccfg.DataDir == "" {
			ccfg.DataDir = filepath.Join(cfg.DataDir, "compactor")
		}
		var opts []compactor.Option
		if distributed {
			if err := a.joinCompactorRing(); err != nil {
				return nil, err
			}
			// Each tenant is compacted by exactly one compactor: the owner
			// of the tenant's token in the compactor ring.
			id := cfg.Ring.Ring.Compactor.InstanceID
			opts = append(opts, compactor.WithTenantFilter(func(tenantID string) (bool, error) {
				return ring.Owns(a.compRing, ring.TokenFor(tenantID, labels.EmptyLabels()), id), nil
			}))
		}
		a.compactor, err = compactor.New(ccfg, bkt, a.overrides, a.reg, logger.With("role", RoleCompactor), opts...)
		if err != nil {
			return nil, err
		}
		a.compactor.Start()
	}
	if a.roles[RoleIngester] {
		icfg := cfg.Ingester
		icfg.Dir = filepath.Join(cfg.DataDir, "tsdb")
		if icfg.InstanceID == "" && distributed {
			icfg.InstanceID = cfg.Ring.Ring.Ingester.InstanceID
		}
		a.ingester, err = ingester.New(icfg, a.overrides, bkt, a.reg, logger.With("role", RoleIngester))
		if err != nil {
			return nil, err
		}
		if distributed {
			if err := a.startGRPC(); err != nil {
				return nil, err
			}
			if err := a.joinIngesterRing(); err != nil {
				return nil, err
			}
		}
	}
	if a.roles[RoleQuerier] {
		var reader wire.Reader = a.ingester
		if distributed {
			reader = querier.NewRingReader(a.ingRing, a.clients.reader, a.overrides, cfg.Ingester.BlockRange*2)
		}
		if store := a.storeReader(bkt); store != nil {
			reader = querier.NewSplitReader(reader, store, cfg.Querier.QueryIngestersWithin, cfg.Querier.QueryStoreAfter)
		}
		a.querier, err = querier.New(cfg.Querier, reader, a.overrides, resolver,
			querier.Version{Version: Version, Revision: Revision, Branch: Branch, GoVersion: goVersion()},
			a.reg, logger.With("role", RoleQuerier))
		if err != nil {
			return nil, err
		}
	}
	if a.roles[RoleDistributor] {
		var pusher wire.Pusher = a.ingester
		if distributed {
			pusher = distributor.NewRingPusher(a.ingRing, a.clients.pusher, a.overrides, cfg.Distributor.RemoteTimeout)
		}
		a.dist, err = distributor.New(cfg.Distributor, a.overrides, pusher, resolver, a.reg, logger.With("role", RoleDistributor))
		if err != nil {
			return nil, err
		}
	}
	a.serveGRPC()
	a.listener, err = net.Listen("tcp", cfg.HTTPListenAddress)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", cfg.HTTPListenAddress, err)
	}
	a.server = &http.Server{Handler: a.routes(), ReadHeaderTimeout: 30 * time.Second}
	return a, nil
}

// startRing starts the KV store (memberlist by default) and the ingester
// ring reader that distributors and queriers route by; the status pages
// need it in every role.
func (a *App) startRing() error {
	cfg := &a.cfg.Ring
	cfg.Ring.Ingester.GRPCListenAddress = a.cfg.GRPCListenAddress
	if cfg.Ring.Ingester.TokensFilePath == "" && a.roles[RoleIngester] {
		cfg.Ring.Ingester.TokensFilePath = filepath.Join(a.cfg.DataDir, "ingester", "ring-tokens")
	}
	var err error
	a.kv, err = ring.NewKV(*cfg, a.reg, a.logger.With("component", "kv"))
	if err != nil {
		return err
	}
	if err := services.StartAndAwaitRunning(context.Background(), a.kv); err != nil {
		return fmt.Errorf("cannot start the ring KV store: %w", err)
	}
	a.ingRing, err = ring.NewIngesterRing(cfg.Ring.Ingester, a.kv, a.reg, a.logger.With("component", "ring"))
	if err != nil {
		return err
	}
	if err := services.StartAndAwaitRunning(context.Background(), a.ingRing); err != nil {
		return fmt.Errorf("cannot start the ingester ring: %w", err)
	}
	cfg.Ring.StoreGateway.GRPCListenAddress = a.cfg.GRPCListenAddress
	if cfg.Ring.StoreGateway.TokensFilePath == "" && a.roles[RoleStoreGateway] {
		cfg.Ring.StoreGateway.TokensFilePath = filepath.Join(a.cfg.DataDir, "store-gateway-ring-tokens")
	}
	if cfg.Ring.StoreGateway.InstanceID == "" {
		cfg.Ring.StoreGateway.InstanceID, _ = os.Hostname()
	}
	a.sgRing, err = ring.NewStoreGatewayRing(cfg.Ring.StoreGateway, a.kv, a.reg, a.logger.With("component", "store-gateway-ring"))
	if err != nil {
		return err
	}
	if err := services.StartAndAwaitRunning(context.Background(), a.sgRing); err != nil {
		return fmt.Errorf("cannot start the store-gateway ring: %w", err)
	}
	a.clients = newClientPool(a.cfg.Distributor.MaxRecvMsgSize)
	return nil
}

// startGRPC binds the gRPC listener between roles, once for every role
// that other processes call (ingester, store-gateway); calls arriving
// before serveGRPC wait in the listen queue.
func (a *App) startGRPC() error {
	if a.grpcServer != nil {
		return nil
	}
	var err error
	a.grpcLis, err = net.Listen("tcp", a.cfg.GRPCListenAddress)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", a.cfg.GRPCListenAddress, err)
	}
	// A push carries at most one remote-write request's series.
	a.grpcServer = grpc.NewServer(grpc.MaxRecvMsgSize(2 * a.cfg.Distributor.MaxRecvMsgSize))
	return nil
}

// serveGRPC serves the ingester's writes and reads and the store-gateway's
// reads, whichever run here, on the one gRPC server: gRPC takes no service
// once it serves, so this runs after every role is built.
func (a *App) serveGRPC() {
	if a.grpcServer == nil {
		return
	}
	var pusher wire.Pusher
	stores := wire.Stores{}
	if a.ingester != nil {
		pusher, stores[wire.StoreIngester] = a.ingester, a.ingester
	}
	if a.sg != nil {
		stores[wire.StoreGateway] = a.sg
	}
	wire.Register(a.grpcServer, pusher, stores)
	go func() { _ = a.grpcServer.Serve(a.grpcLis) }()
}

// joinIngesterRing registers the ingester in the ring: JOINING, then
// ACTIVE once its WAL is replayed (ingester.New did that).
func (a *App) joinIngesterRing() error {
	var err error
	a.lifecycler, err = ring.NewIngesterLifecycler(a.cfg.Ring.Ring.Ingester, a.kv, a.reg, a.logger.With("component", "lifecycler"))
	if err != nil {
		return err
	}
	if err := services.StartAndAwaitRunning(context.Background(), a.lifecycler); err != nil {
		return fmt.Errorf("cannot join the ingester ring: %w", err)
	}
	return a.lifecycler.Activate(context.Background())
}

// joinCompactorRing registers this compactor in the compactor ring.
func (a *App) joinCompactorRing() error {
	cfg := &a.cfg.Ring.Ring.Compactor
	cfg.GRPCListenAddress = a.cfg.GRPCListenAddress
	if cfg.TokensFilePath == "" {
		cfg.TokensFilePath = filepath.Join(a.cfg.DataDir, "compactor-ring-tokens")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID, _ = os.Hostname()
	}
	var err error
	a.compRing, err = ring.NewCompactorRing(*cfg, a.kv, a.reg, a.logger.With("component", "compactor-ring"))
	if err != nil {
		return err
	}
	if err := services.StartAndAwaitRunning(context.Background(), a.compRing); err != nil {
		return fmt.Errorf("cannot start the compactor ring: %w", err)
	}
	a.compLife, err = ring.NewCompactorLifecycler(*cfg, a.kv, a.reg, a.logger.With("component", "compactor-lifecycler"))
	if err != nil {
		return err
	}
	if err := services.StartAndAwaitRunning(context.Background(), a.compLife); err != nil {
		return fmt.Errorf("cannot join the compactor ring: %w", err)
	}
	return a.compLife.Activate(context.Background())
}

// storeReader returns the reader of the bucket's blocks for queriers: the
// local store-gateway, or the configured remote ones; each query then fails
// when a block that should cover it was read by none of them.
func (a *App) storeReader(bkt objstore.Bucket) wire.Reader {
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
	sgc := a.cfg.StoreGateway
	return querier.NewCheckedStoreReader(store, storegateway.NewFinder(bkt, sgc.SyncInterval, sgc.IgnoreDeletionMarksDelay).RequiredBlocks)
}

func (a *App) startRuntimeConfig() error {
	if a.cfg.RuntimeConfig.File == "" {
		a.overrides = limits.NewOverrides(a.cfg.Limits, nil)
		return nil
	}
	defaults := a.cfg.Limits
	rc := runtimeconfig.Config{ReloadPeriod: a.cfg.RuntimeConfig.Period}
	rc.LoadPath = []string{a.cfg.RuntimeConfig.File}
	rc.Loader = func(r io.Reader) (any, error) {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		return limits.ParseRuntimeConfig(data, defaults)
	}
	m, err := runtimeconfig.New(rc, "weft", prometheus.WrapRegistererWithPrefix("weft_", a.reg), logutil.GoKit(a.logger))
	if err != nil {
		return fmt.Errorf("cannot load runtime config: %w", err)
	}
	if err := services.StartAndAwaitRunning(context.Background(), m); err != nil {
		return fmt.Errorf("cannot load runtime config %s: %w", a.cfg.RuntimeConfig.File, err)
	}
	a.runtime = m
	a.overrides = limits.NewOverrides(a.cfg.Limits, func() *limits.RuntimeConfig {
		c, _ := m.GetConfig().(*limits.RuntimeConfig)
		return c
	})
	return nil
}

// Addr is the bound HTTP address (useful with port 0).
func (a *App) Addr() string { return a.listener.Addr().String() }

// Run serves until ctx is done, then shuts down: in-flight requests finish
// (up to ShutdownTimeout), then the roles stop in reverse start order.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.server.Serve(a.listener) }()
	a.ready.Store(true)
	a.logger.Info("weft is ready", "http", a.Addr(), "target", a.cfg.Target, "data_dir", a.cfg.DataDir, "version", Version)
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.ready.Store(false)
	a.logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	err := a.server.Shutdown(sctx)
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	err = errors.Join(serveErr, err, a.stop(sctx))
	if err == nil {
		a.logger.Info("shutdown complete")
	}
	return err
}

// stop closes the roles in reverse dependency order. The HTTP server has
// stopped already, so no push or query enters through it.
func (a *App) stop(context.Context) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// 1. An ingester in the ring turns LEAVING first, so distributors stop
	//    choosing it, and finishes the gRPC calls in flight.
	for _, l := range []*ring.IngesterLifecycler{a.lifecycler, a.sgLife} {
		if l != nil {
			add(l.ChangeState(context.Background(), dsring.LEAVING))
		}
	}
	if a.grpcServer != nil {
		a.grpcServer.GracefulStop()
		_ = a.grpcLis.Close() // not served yet when New failed
	}
	// 2. The ingester flushes (if configured) and closes its TSDBs; the
	//    store-gateway and compactor close their blocks.
	if a.ingester != nil {
		add(a.ingester.Close())
	}
	if a.sg != nil {
		add(a.sg.Close())
	}
	if a.sgBucket != nil && a.sgBucket != objstore.Bucket(a.bucket) {
		add(a.sgBucket.Close())
	}
	if a.compactor != nil {
		add(a.compactor.Close())
	}
	// 3. Then it leaves the ring (or stays, LEAVING, for a restart), and
	//    the ring and the KV stop last so the change is gossiped.
	var svcs []services.Service
	for _, l := range []*ring.IngesterLifecycler{a.lifecycler, a.sgLife, a.compLife} {
		if l != nil {
			svcs = append(svcs, l)
		}
	}
	for _, r := range []*ring.Ring{a.ingRing, a.sgRing, a.compRing} {
		if r != nil {
			svcs = append(svcs, r)
		}
	}
	if a.kv != nil {
		svcs = append(svcs, a.kv)
	}
	for _, s := range svcs {
		add(services.StopAndAwaitTerminated(context.Background(), s))
	}
	if a.clients != nil {
		a.clients.close()
	}
	if a.runtime != nil {
		add(services.StopAndAwaitTerminated(context.Background(), a.runtime))
	}
	if a.listener != nil && a.server == nil {
		_ = a.listener.Close()
	}
	return errors.Join(errs...)
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
		mux.Handle("/api/v1/push", instrument("push", a.dist))
	}
	if a.querier != nil {
		mux.Handle(querier.Prefix+"/", instrument("prometheus_api", a.querier.Handler()))
		// Series deletion is a request recorded in the bucket and applied
		// by the compactor.
		mux.Handle(querier.Prefix+"/admin/tsdb/delete_series", instrument("delete_series",
			compactor.DeleteSeriesHandler(a.bucket, tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}.FromRequest, nil)))
		mux.Handle("/compactor/delete_tenant", instrument("delete_tenant",
			compactor.DeleteTenantHandler(a.bucket, tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}.FromRequest, nil)))
	}
	if a.ingRing != nil {
		mux.Handle("/ring", a.ingRing)
		mux.Handle("/store-gateway/ring", a.sgRing)
		if a.compRing != nil {
			mux.Handle("/compactor/ring", a.compRing)
		}
		mux.Handle("/memberlist", a.kv.MemberlistHandler())
	}
	mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg, EnableOpenMetrics: true}))
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
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
		state := "Running"
		if !a.ready.Load() {
			state = "Stopping"
		}
		var list []map[string]string
		for _, r := range roles {
			if a.roles[r.name] {
				list = append(list, map[string]string{"name": r.name, "state": state, "does": r.doc})
			}
		}
		if r.URL.Query().Get("format") == "json" || r.Header.Get("Accept") == "application/json" {
			httpapi.WriteData(w, list)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = servicesPage.Execute(w, list)
	})
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

var servicesPage = template.Must(template.New("services").Parse(`<!doctype html><html><head><title>weft services</title></head><body>
<h1>Services</h1><table border="1" cellpadding="4"><tr><th>role</th><th>state</th><th>does</th></tr>
{{range .}}<tr><td>{{.name}}</td><td>{{.state}}</td><td>{{.does}}</td></tr>{{end}}</table>
<p><a href="/services?format=json">JSON</a></p></body></html>`))

var indexPage = template.Must(template.New("index").Parse(`<!doctype html><html><head><title>weft</title></head><body>
<h1>weft {{.Version}}</h1><p>target {{.Target}}, up {{.Uptime}}</p>
<ul>
<li><a href="/services">/services</a> roles and their state</li>
<li><a href="/config">/config</a> effective configuration</li>
<li><a href="/runtime_config">/runtime_config</a> per-tenant limits in force</li>
<li><a href="/metrics">/metrics</a> weft's own metrics</li>
<li><a href="/ready">/ready</a> readiness</li>
<li><a href="/ring">/ring</a> and <a href="/memberlist">/memberlist</a> (distributed mode)</li>
<li><code>POST /api/v1/push</code> remote write 1.0 and 2.0</li>
<li><code>/prometheus/api/v1/...</code> the Prometheus query API</li>
</ul></body></html>`))

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
	a, err := New(cfg, logger)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
