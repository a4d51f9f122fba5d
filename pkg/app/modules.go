package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/grafana/dskit/kv"
	"github.com/grafana/dskit/modules"
	"github.com/grafana/dskit/runtimeconfig"
	"github.com/grafana/dskit/services"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-io/weft/pkg/alertmanager"
	"github.com/weft-io/weft/pkg/bucket"
	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/compactor"
	"github.com/weft-io/weft/pkg/distributor"
	"github.com/weft-io/weft/pkg/frontend"
	"github.com/weft-io/weft/pkg/grpcclient"
	"github.com/weft-io/weft/pkg/ingester"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/querysharding"
	"github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/storegateway"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// TargetAll runs every role in one process.
const TargetAll = "all"

// Role names: the modules a -target may name.
const (
	RoleDistributor  = "distributor"
	RoleIngester     = "ingester"
	RoleQuerier      = "querier"
	RoleQueryFront   = "query-frontend"
	RoleStoreGateway = "store-gateway"
	RoleCompactor    = "compactor"
	RoleRuler        = "ruler"
	RoleAlertmanager = "alertmanager"
	// RoleQueryScheduler queues the tenants' queries fairly for the
	// queriers.
	RoleQueryScheduler = "query-scheduler"
	// RoleUI serves the tenants' notebooks (and the web UI's API).
	RoleUI = "ui"
)

// Names of the modules that roles depend on; they run only as dependencies.
const (
	modRuntimeConfig      = "runtime-config"
	modBucket             = "bucket"
	modKV                 = "memberlist-kv"
	modGRPCServer         = "grpc-server"
	modIngesterRing       = "ingester-ring"
	modIngesterLife       = "ingester-lifecycler"
	modStoreGatewayRing   = "store-gateway-ring"
	modStoreGatewayLife   = "store-gateway-lifecycler"
	modCompactorRing      = "compactor-ring"
	modCompactorLife      = "compactor-lifecycler"
	modRulerRing          = "ruler-ring"
	modRulerLife          = "ruler-lifecycler"
	modAlertmanagerRing   = "alertmanager-ring"
	modAlertmanagerLife   = "alertmanager-lifecycler"
	modQuerySchedulerRing = "query-scheduler-ring"
	modQuerySchedulerLife = "query-scheduler-lifecycler"
	modDistributorRing    = "distributor-ring"
	modDistributorLife    = "distributor-lifecycler"
)

// module is one entry of the module table.
type module struct {
	name string
	// role: a user may name it in -target, and "all" runs it.
	role bool
	doc  string
	// deps start before the module and stop after it.
	deps []string
	// local are roles the module calls directly when they run in the same
	// process (the all-in-one): then they too start before it and stop
	// after it. A role running elsewhere is reached over gRPC instead.
	local []string
	// init builds the module's service without side effects; nil means the
	// module has nothing to run in this process (a ring in the all-in-one).
	init func(a *App) (services.Service, error)
}

// rings are what every role of a distributed process depends on: the
// status pages (/ring, /store-gateway/ring) are served by each of them.
var rings = []string{modIngesterRing, modStoreGatewayRing}

// moduleTable is every module of weft. Start order follows the
// dependencies; stop order is its reverse, so a module stops only after
// every module that calls it (the distributor before the ingester it
// pushes to, the ingester before the ring lifecycler it leaves through,
// the lifecycler before the KV store that gossips its state).
var moduleTable = []module{
	{name: modRuntimeConfig, doc: "loads and reloads the per-tenant limits", init: (*App).initRuntimeConfig},
	{name: modBucket, doc: "the object storage bucket", init: (*App).initBucket},
	{name: modKV, doc: "the KV store of the rings (memberlist gossip by default)", init: (*App).initKV},
	{name: modGRPCServer, doc: "serves the gRPC services of ingesters and store-gateways", init: (*App).initGRPCServer},
	{name: modIngesterRing, doc: "the ingester ring, as distributors and queriers read it", deps: []string{modKV}, init: (*App).initIngesterRing},
	{name: modStoreGatewayRing, doc: "the store-gateway ring, as queriers read it", deps: []string{modKV}, init: (*App).initStoreGatewayRing},
	{name: modCompactorRing, doc: "the compactor ring, which gives each tenant one compactor", deps: []string{modKV}, init: (*App).initCompactorRing},
	{name: modIngesterLife, doc: "registers this ingester in the ingester ring", deps: []string{modKV}, init: (*App).initIngesterLifecycler},
	{name: modStoreGatewayLife, doc: "registers this store-gateway in its ring", deps: []string{modKV}, init: (*App).initStoreGatewayLifecycler},
	{name: modCompactorLife, doc: "registers this compactor in its ring", deps: []string{modKV}, init: (*App).initCompactorLifecycler},

	{name: RoleStoreGateway, role: true, doc: "serves the blocks of the bucket",
		deps: append([]string{modBucket, modGRPCServer, modStoreGatewayLife}, rings...), init: (*App).initStoreGateway},
	{name: RoleCompactor, role: true, doc: "dedupes and compacts blocks, applies retention and deletions, keeps the bucket index",
		deps: append([]string{modRuntimeConfig, modBucket, modCompactorRing, modCompactorLife}, rings...), init: (*App).initCompactor},
	{name: RoleIngester, role: true, doc: "keeps one TSDB per tenant, ships blocks to the bucket",
		deps: append([]string{modRuntimeConfig, modBucket, modGRPCServer, modIngesterLife}, rings...), init: (*App).initIngester},
	// The query-scheduler comes before the querier, whose workers pull
	// from it: in the all-in-one they stop first, after their last query.
	{name: modQuerySchedulerRing, doc: "the query-scheduler ring, where frontends and queriers find the schedulers", deps: []string{modKV}, init: (*App).initQuerySchedulerRing},
	{name: modQuerySchedulerLife, doc: "registers this query-scheduler in its ring", deps: []string{modKV}, init: (*App).initQuerySchedulerLifecycler},
	{name: RoleQueryScheduler, role: true, doc: "queues the tenants' queries fairly for the queriers, which pull them",
		deps: append([]string{modRuntimeConfig, modGRPCServer, modQuerySchedulerRing, modQuerySchedulerLife}, rings...), init: (*App).initQueryScheduler},
	{name: RoleQuerier, role: true, doc: "serves the Prometheus query API",
		deps:  append([]string{modRuntimeConfig, modBucket, modRulerRing, modQuerySchedulerRing}, rings...),
		local: []string{RoleIngester, RoleStoreGateway, RoleQueryScheduler}, init: (*App).initQuerier},
	// The query-frontend sends its queries through the query-scheduler of
	// its process when there is one, so it stops first.
	{name: RoleQueryFront, role: true, doc: "splits, caches, shards and retries queries in front of the queriers",
		deps:  append([]string{modRuntimeConfig, modBucket, modQuerySchedulerRing}, rings...),
		local: []string{RoleQueryScheduler}, init: (*App).initQueryFrontend},
	// Distributors count each other in their ring to share the tenants'
	// cluster-wide ingestion rates.
	{name: modDistributorRing, doc: "the distributor ring, in which distributors count each other", deps: []string{modKV}, init: (*App).initDistributorRing},
	{name: modDistributorLife, doc: "registers this distributor in its ring", deps: []string{modKV}, init: (*App).initDistributorLifecycler},
	{name: RoleDistributor, role: true, doc: "receives remote write, validates, applies limits",
		deps:  append([]string{modRuntimeConfig, modDistributorRing, modDistributorLife}, rings...),
		local: []string{RoleIngester}, init: (*App).initDistributor},

	// The ruler pushes through the distributor and reads as the querier
	// does: it stops before the roles it calls.
	{name: modRulerRing, doc: "the ruler ring, which gives each rule group to one ruler", deps: []string{modKV}, init: (*App).initRulerRing},
	{name: modRulerLife, doc: "registers this ruler in its ring", deps: []string{modKV}, init: (*App).initRulerLifecycler},
	{name: RoleRuler, role: true, doc: "evaluates each tenant's recording and alerting rules, serves the rules config API",
		deps:  append([]string{modRuntimeConfig, modBucket, modGRPCServer, modRulerRing, modRulerLife}, rings...),
		local: []string{RoleDistributor, RoleIngester, RoleStoreGateway}, init: (*App).initRuler},
	{name: modAlertmanagerRing, doc: "the alertmanager ring, which places each tenant's Alertmanager on its replicas", deps: []string{modKV}, init: (*App).initAlertmanagerRing},
	{name: modAlertmanagerLife, doc: "registers this alertmanager in its ring", deps: []string{modKV}, init: (*App).initAlertmanagerLifecycler},
	{name: RoleAlertmanager, role: true, doc: "runs each tenant's Alertmanager, replicated, with its configuration and v2 API",
		deps: append([]string{modRuntimeConfig, modBucket, modGRPCServer, modAlertmanagerRing, modAlertmanagerLife}, rings...), init: (*App).initAlertmanager},
	// The ui keeps its notebooks in the bucket and calls no other role:
	// the web UI queries through the process's query API.
	{name: RoleUI, role: true, doc: "keeps the tenants' notebooks in the bucket and serves their API (/api/v1/notebooks)",
		deps: append([]string{modRuntimeConfig, modBucket}, rings...), init: (*App).initUI},
}

// roleNames lists what -target accepts.
func roleNames() []string {
	out := []string{TargetAll}
	for _, m := range moduleTable {
		if m.role {
			out = append(out, m.name)
		}
	}
	return out
}

// parseTarget returns the set of roles of a -target value.
func parseTarget(target string) (map[string]bool, error) {
	set := map[string]bool{}
	for _, t := range strings.Split(target, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == TargetAll:
			for _, m := range moduleTable {
				if m.role {
					set[m.name] = true
				}
			}
		case t == "":
		case t == "storegateway":
			set[RoleStoreGateway] = true
		case !slices.Contains(roleNames(), t):
			return nil, fmt.Errorf("unknown target %q: use %s", t, strings.Join(roleNames(), ", "))
		default:
			set[t] = true
		}
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("no target given: use %s", strings.Join(roleNames(), ", "))
	}
	return set, nil
}

// allInOne reports whether set holds every role: then the roles call each
// other directly, with no ring and no loopback gRPC.
func allInOne(set map[string]bool) bool { return len(set) == len(roleNames())-1 }

// newModuleManager registers the module table with dskit's module manager
// for the roles of this process.
func (a *App) newModuleManager() (*modules.Manager, error) {
	mm := modules.NewManager(logutil.GoKit(a.logger))
	for _, m := range moduleTable {
		init := m.init
		fn := func() (services.Service, error) { return init(a) }
		if m.role {
			mm.RegisterModule(m.name, fn)
		} else {
			mm.RegisterModule(m.name, fn, modules.UserInvisibleModule)
		}
	}
	for _, m := range moduleTable {
		deps := slices.Clone(m.deps)
		for _, l := range m.local {
			if a.roles[l] {
				deps = append(deps, l)
			}
		}
		if err := mm.AddDependency(m.name, deps...); err != nil {
			return nil, err
		}
	}
	return mm, nil
}

func (a *App) initRuntimeConfig() (services.Service, error) {
	if a.cfg.RuntimeConfig.File == "" {
		a.overrides = limits.NewOverrides(a.cfg.Limits, nil)
		return nil, nil
	}
	defaults := a.cfg.Limits
	rc := runtimeconfig.Config{ReloadPeriod: a.cfg.RuntimeConfig.Period, LoadPath: []string{a.cfg.RuntimeConfig.File}}
	rc.Loader = func(r io.Reader) (any, error) {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		return limits.ParseRuntimeConfig(data, defaults)
	}
	m, err := runtimeconfig.New(rc, "weft", prometheus.WrapRegistererWithPrefix("weft_", a.reg), logutil.GoKit(a.logger))
	if err != nil {
		return nil, fmt.Errorf("cannot load runtime config: %w", err)
	}
	a.runtime = m
	a.overrides = limits.NewOverrides(a.cfg.Limits, func() *limits.RuntimeConfig {
		c, _ := m.GetConfig().(*limits.RuntimeConfig)
		return c
	})
	return m, nil
}

func (a *App) initBucket() (services.Service, error) {
	var err error
	a.bucket, err = bucket.New(a.cfg.Bucket, "weft", a.reg, a.logger)
	if err != nil {
		return nil, err
	}
	return services.NewIdleService(nil, func(error) error { return a.bucket.Close() }), nil
}

func (a *App) initKV() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	var err error
	// The HA tracker keeps its elections in the same store as the rings.
	a.kv, err = ring.NewKV(a.cfg.Ring, a.reg, a.logger.With("component", "kv"), distributor.HACodec())
	return a.kv, err
}

// initGRPCServer builds the server on which the ingester and the
// store-gateway register their services; it listens when it starts, and
// stops after them (they depend on it), gracefully.
func (a *App) initGRPCServer() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	// A push carries at most one remote-write request's series.
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(2 * a.cfg.Distributor.MaxRecvMsgSize)}
	// The clients of the pool ping every grpcclient.KeepaliveTime.
	opts = append(opts, grpcclient.ServerKeepalive()...)
	if a.grpcTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(a.grpcTLS)))
	}
	a.grpcServer = grpc.NewServer(opts...)
	var lis net.Listener
	return services.NewBasicService(
		func(context.Context) error {
			// Every module's init ran in New: the services of this
			// process are all known, and gRPC takes them only before it
			// serves. Calls that arrive while a role starts are refused
			// by the role (Unavailable) and retried by the caller.
			var pusher wire.Pusher
			stores := wire.Stores{}
			if a.ingester != nil {
				pusher, stores[wire.StoreIngester] = a.ingester, a.ingester
			}
			if a.sg != nil {
				stores[wire.StoreGateway] = a.sg
			}
			wire.Register(a.grpcServer, pusher, stores)
			a.registerAlertmanagerGRPC()
			a.registerQuerySchedulerGRPC()
			a.registerRulerGRPC()
			var err error
			lis, err = net.Listen("tcp", a.cfg.GRPCListenAddress)
			if err != nil {
				return fmt.Errorf("cannot listen on %s: %w", a.cfg.GRPCListenAddress, err)
			}
			return nil
		},
		func(ctx context.Context) error {
			errc := make(chan error, 1)
			go func() { errc <- a.grpcServer.Serve(lis) }()
			select {
			case <-ctx.Done():
				return nil
			case err := <-errc:
				return fmt.Errorf("the gRPC server stopped: %w", err)
			}
		},
		func(error) error {
			a.grpcServer.GracefulStop()
			return nil
		}), nil
}

func (a *App) initIngesterRing() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	var err error
	a.ingRing, err = ring.NewIngesterRing(a.cfg.Ring.Ring.Ingester, a.kv, a.reg, a.logger.With("component", "ring"))
	return a.ingRing, err
}

func (a *App) initStoreGatewayRing() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	var err error
	a.sgRing, err = ring.NewStoreGatewayRing(a.cfg.Ring.Ring.StoreGateway, a.kv, a.reg, a.logger.With("component", "store-gateway-ring"))
	return a.sgRing, err
}

func (a *App) initCompactorRing() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	var err error
	a.compRing, err = ring.NewCompactorRing(a.cfg.Ring.Ring.Compactor, a.kv, a.reg, a.logger.With("component", "compactor-ring"))
	return a.compRing, err
}

func (a *App) initIngesterLifecycler() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	var err error
	a.ingLife, err = ring.NewIngesterLifecycler(a.cfg.Ring.Ring.Ingester, a.kv, a.reg, a.logger.With("component", "lifecycler"))
	return a.ingLife, err
}

func (a *App) initStoreGatewayLifecycler() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	var err error
	a.sgLife, err = ring.NewStoreGatewayLifecycler(a.cfg.Ring.Ring.StoreGateway, a.kv, a.reg, a.logger.With("component", "store-gateway-lifecycler"))
	return a.sgLife, err
}

func (a *App) initCompactorLifecycler() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	var err error
	a.compLife, err = ring.NewCompactorLifecycler(a.cfg.Ring.Ring.Compactor, a.kv, a.reg, a.logger.With("component", "compactor-lifecycler"))
	return a.compLife, err
}

func (a *App) initStoreGateway() (services.Service, error) {
	var (
		owns func(string, ulid.ULID) bool
		lc   storegateway.Lifecycler
	)
	if a.distributed {
		// Own the blocks the store-gateway ring gives this instance.
		owns = storegateway.RingShardFilter(a.sgRing, a.cfg.Ring.Ring.StoreGateway.InstanceID)
		lc = a.sgLife
	}
	// Only the store-gateway reads through the cache: what the others
	// read is mutable (indexes, marks) and must not be served stale.
	var err error
	a.sgBucket, err = bucket.NewCachingBucket(a.bucket, a.cfg.StoreGateway.Cache,
		prometheus.WrapRegistererWith(prometheus.Labels{"component": RoleStoreGateway}, a.reg), a.logger.With("role", RoleStoreGateway))
	if err != nil {
		return nil, err
	}
	a.sg, err = storegateway.New(a.cfg.StoreGateway, a.sgBucket, owns, lc, a.reg, a.logger.With("role", RoleStoreGateway))
	if err != nil {
		return nil, err
	}
	return a.sg, nil
}

func (a *App) initCompactor() (services.Service, error) {
	var (
		opts []compactor.Option
		lc   compactor.Lifecycler
	)
	if a.distributed {
		// Each tenant is compacted by exactly one compactor: the owner of
		// the tenant's token in the compactor ring.
		id := a.cfg.Ring.Ring.Compactor.InstanceID
		opts = append(opts, compactor.WithTenantFilter(func(tenantID string) (bool, error) {
			return ring.Owns(a.compRing, ring.TokenFor(tenantID, labels.EmptyLabels()), id), nil
		}))
		lc = a.compLife
	}
	var err error
	a.compactor, err = compactor.New(a.cfg.Compactor, a.bucket, a.overrides, lc, a.reg, a.logger.With("role", RoleCompactor), opts...)
	return a.compactor, err
}

func (a *App) initIngester() (services.Service, error) {
	var lc ingester.Lifecycler
	if a.distributed {
		lc = a.ingLife
	}
	var err error
	a.ingester, err = ingester.New(a.cfg.Ingester, a.overrides, a.bucket, lc, a.reg, a.logger.With("role", RoleIngester))
	if err != nil {
		return nil, err
	}
	return a.ingester, nil
}

func (a *App) initQuerier() (services.Service, error) {
	reader := a.queryReader()
	var err error
	a.querier, err = querier.New(a.cfg.Querier, reader, a.overrides, a.readResolver(),
		querier.Version{Version: Version, Revision: Revision, Branch: Branch, GoVersion: goVersion()},
		a.reg, a.logger.With("role", RoleQuerier), querier.WithRules(a.rulesRetriever))
	if err != nil {
		return nil, err
	}
	if a.distributed {
		// Each ruler evaluates a share of a tenant's groups: /rules and
		// /alerts ask them all.
		a.rulesFanOut = a.rulerFanOut()
	}
	// The querier answers from the callers' goroutines, and those of its
	// workers, which pull queries from the query-schedulers; its service
	// orders its stop before that of the roles it reads.
	worker := a.querierWorker()
	return services.NewIdleService(func(ctx context.Context) error {
		if worker == nil {
			return nil
		}
		return services.StartAndAwaitRunning(ctx, worker)
	}, func(error) error {
		var err error
		if worker != nil {
			// The running queries finish and answer first.
			err = services.StopAndAwaitTerminated(context.Background(), worker)
		}
		if a.rulesFanOut != nil {
			a.rulesFanOut.Close()
		}
		return err
	}), nil
}

// initQueryFrontend builds the query-frontend in front of the querier of
// this process or, without one, of the querier at
// -query-frontend.downstream-url. The downstream is one field of the
// frontend: the query-scheduler's client takes its place.
func (a *App) initQueryFrontend() (services.Service, error) {
	var downstream http.RoundTripper
	switch {
	case a.scheduler != nil:
		downstream = a.QueryRoundTripper() // the fair queue of this process
	case a.cfg.QueryFrontend.DownstreamURL != "":
		var err error
		if downstream, err = frontend.URLTransport(a.cfg.QueryFrontend.DownstreamURL, a.httpClientTransport()); err != nil {
			return nil, err
		}
	case a.querier != nil:
		downstream = frontend.HandlerTransport(a.querier.Handler())
	case a.distributed:
		// The query-schedulers of -query-scheduler.addresses or their ring.
		downstream = a.QueryRoundTripper()
	default:
		return nil, errors.New("the query-frontend needs a querier: run one in the same process, set -query-frontend.downstream-url, or run query-schedulers")
	}
	sharder := querysharding.New(querysharding.Options{Engine: promql.EngineOpts{
		Parser:                   querier.NewParser(a.cfg.Querier),
		EnableDelayedNameRemoval: a.cfg.Querier.ExperimentalPromQL,
		Logger:                   a.logger.With("role", RoleQueryFront, "component", "query-sharding"),
	}})
	var err error
	a.frontend, err = frontend.New(a.cfg.QueryFrontend, downstream, a.overrides, a.readResolver(),
		a.reg, a.logger.With("role", RoleQueryFront), frontend.WithGenerationSource(a.cacheGeneration), frontend.WithMiddleware(frontend.Sharding(sharder, a.overrides)))
	if err != nil {
		return nil, err
	}
	return services.NewIdleService(nil, func(error) error { return a.frontend.Close() }), nil
}

// cacheGeneration is the part of a tenant's results cache generation
// that the bucket gives: it changes when the tenant's past data changes
// under the cached answers.
//
//   - A series deletion: the token changes when one is requested, and
//     when a block it covers changes (the compactor applying it, or
//     ingesters shipping data it covers). While a deletion is recent, data
//     it covers may still be answered by the ingesters and vanish without a
//     block changing: the token then changes at every refresh, so cached
//     results live no longer than that.
//   - Retention: the token holds the start of the oldest block that
//     queriers still read, which moves when blocks past the retention
//     stop being read.
//   - A tenant marked for deletion: its data goes at any time, and the
//     token changes at every refresh.
//
// Without deletions or retention it is empty.
//
// A federated read's generation ("a|b") joins those of its tenants, so
// that a change under one tenant drops the federated results too.
func (a *App) cacheGeneration(ctx context.Context, tenantID string) (string, error) {
	if tenant.IsFederated(tenantID) {
		var gens []string
		for _, id := range tenant.Split(tenantID) {
			g, err := a.cacheGeneration(ctx, id)
			if err != nil {
				return "", err
			}
			gens = append(gens, g)
		}
		return strings.Join(gens, "|"), nil
	}
	epoch := time.Now().UnixNano() / int64(a.cfg.QueryFrontend.GenerationRefresh)
	deleting, err := a.bucket.Exists(ctx, path.Join(tenantID, compactor.TenantDeletionMarkName))
	if err != nil {
		return "", err
	}
	if deleting {
		return fmt.Sprintf("deleting:%d", epoch), nil
	}
	reqs, err := compactor.ListDeleteRequests(ctx, a.bucket, tenantID)
	if err != nil {
		return "", err
	}
	retention := a.overrides.For(tenantID).CompactorBlocksRetention > 0
	if len(reqs) == 0 && !retention {
		return "", nil
	}
	idx, err := bucketindex.Read(ctx, a.bucket, tenantID)
	if err != nil && !errors.Is(err, bucketindex.ErrNotFound) {
		return "", err
	}
	h := sha256.New()
	now := time.Now()
	recent := a.cfg.Querier.QueryIngestersWithin + 24*time.Hour
	for _, r := range reqs {
		fmt.Fprintf(h, "%s,", r.ID)
		if a.cfg.Querier.QueryIngestersWithin == 0 || now.Sub(time.UnixMilli(r.CreatedAt)) < recent {
			fmt.Fprintf(h, "%d,", epoch)
		}
		if idx == nil {
			continue
		}
		for _, b := range idx.Blocks {
			if b.MinTime <= r.MaxTime && b.MaxTime > r.MinTime {
				fmt.Fprintf(h, "%s,", b.ID)
			}
		}
	}
	if retention && idx != nil {
		oldest := int64(math.MaxInt64)
		for _, b := range idx.Queryable(math.MinInt64, math.MaxInt64, a.cfg.StoreGateway.IgnoreDeletionMarksDelay, now) {
			oldest = min(oldest, b.MinTime)
		}
		fmt.Fprintf(h, "retention:%d,", oldest)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// initDistributorRing builds the distributor ring client of a distributed
// distributor; the all-in-one is the only distributor and needs none.
func (a *App) initDistributorRing() (services.Service, error) {
	if !a.distributed || !a.roles[RoleDistributor] {
		return nil, nil
	}
	var err error
	a.distRing, err = ring.NewDistributorRing(a.cfg.Ring.Ring.Distributor, a.kv, a.reg, a.logger.With("component", "distributor-ring"))
	return a.distRing, err
}

func (a *App) initDistributorLifecycler() (services.Service, error) {
	if !a.distributed || !a.roles[RoleDistributor] {
		return nil, nil
	}
	var err error
	a.distLife, err = ring.NewDistributorLifecycler(a.cfg.Ring.Ring.Distributor, a.kv, a.reg, a.logger.With("component", "distributor-lifecycler"))
	return a.distLife, err
}

func (a *App) initDistributor() (services.Service, error) {
	var pusher wire.Pusher = a.ingester
	if a.distributed {
		pusher = distributor.NewRingPusher(a.ingRing, a.clients.pusher, a.overrides, a.cfg.Distributor.RemoteTimeout)
	}
	// The elected replicas of HA pairs: in the KV store of the rings,
	// shared by every distributor; in the all-in-one, in this process.
	var haKV kv.Client
	if a.distributed {
		var err error
		if haKV, err = a.kv.NewClient("distributor-ha-tracker", distributor.HACodec()); err != nil {
			return nil, err
		}
	}
	var err error
	a.haTracker, err = distributor.NewHATracker(a.cfg.Distributor.HATracker, haKV, a.reg, a.logger.With("role", RoleDistributor, "component", "ha-tracker"))
	if err != nil {
		return nil, err
	}
	opts := []distributor.Option{distributor.WithHATracker(a.haTracker)}
	if a.distRing != nil {
		// The global strategy: each distributor takes its share of a
		// tenant's cluster-wide ingestion rate and burst.
		opts = append(opts, distributor.WithDistributors(a.distRing.HealthyInstances))
	}
	a.dist, err = distributor.New(a.cfg.Distributor, a.overrides, pusher, tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}, a.reg, a.logger.With("role", RoleDistributor),
		opts...)
	if err != nil {
		return nil, err
	}
	// The role's service runs the HA tracker; stopping it also ends the
	// OTLP delta-to-cumulative processors.
	watcher := services.NewFailureWatcher()
	watcher.WatchService(a.haTracker)
	return services.NewBasicService(
		// The distributor answers at once; the HA tracker starts beside
		// it (with memberlist it waits for the node to join), and only
		// HA pairs' pushes wait for it (Distributor.dedupe).
		func(ctx context.Context) error { return a.haTracker.StartAsync(context.WithoutCancel(ctx)) },
		func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return nil
			case err := <-watcher.Chan():
				return err
			}
		},
		func(error) error {
			return errors.Join(services.StopAndAwaitTerminated(context.Background(), a.haTracker), a.dist.Close())
		},
	), nil
}

// Alertmanager: its ring, its lifecycler, the role, its gRPC service.

func (a *App) initAlertmanagerRing() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	var err error
	a.amRing, err = ring.NewAlertmanagerRing(a.cfg.Ring.Ring.Alertmanager, a.kv, a.reg, a.logger.With("component", "alertmanager-ring"))
	return a.amRing, err
}

func (a *App) initAlertmanagerLifecycler() (services.Service, error) {
	if !a.distributed {
		return nil, nil
	}
	var err error
	a.amLife, err = ring.NewAlertmanagerLifecycler(a.cfg.Ring.Ring.Alertmanager, a.kv, a.reg, a.logger.With("component", "alertmanager-lifecycler"))
	return a.amLife, err
}

func (a *App) initAlertmanager() (services.Service, error) {
	var (
		replicas alertmanager.Replicas
		lc       alertmanager.Lifecycler
	)
	if a.distributed {
		// Each tenant's Alertmanager runs on the replication factor's
		// alertmanagers that own its token; they share their state.
		id := a.cfg.Ring.Ring.Alertmanager.InstanceID
		replicas = func(tenantID string) ([]string, int, error) { return ring.TenantReplicas(a.amRing, tenantID, id) }
		lc = a.amLife
	}
	cfg := a.cfg.Alertmanager
	if cfg.ExternalURL == "" {
		cfg.ExternalURL = a.selfURL(false) + "/alertmanager"
	}
	var err error
	a.alertmanager, err = alertmanager.New(cfg, a.bucket, a.overrides,
		tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}.FromRequest, replicas, lc, a.reg, a.logger.With("role", RoleAlertmanager), a.dialOpts...)
	if err != nil {
		return nil, err
	}
	return a.alertmanager, nil
}

// registerAlertmanagerGRPC registers the replication service of the
// tenants' Alertmanagers, when this process runs the role.
func (a *App) registerAlertmanagerGRPC() {
	if a.alertmanager != nil {
		alertmanager.RegisterGRPC(a.grpcServer, a.alertmanager)
	}
}
