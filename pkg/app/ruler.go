package app

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"

	dsring "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/labels"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/weft-io/weft/pkg/auth"
	"github.com/weft-io/weft/pkg/distributor"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/ruler"
	"github.com/weft-io/weft/pkg/storegateway"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// initRulerRing builds the ruler ring for rulers (which groups they own)
// and for queriers (which rulers to ask for /api/v1/rules and /alerts).
func (a *App) initRulerRing() (services.Service, error) {
	if !a.distributed || (!a.roles[RoleRuler] && !a.roles[RoleQuerier]) {
		return nil, nil
	}
	var err error
	a.rulerRing, err = ring.NewRulerRing(a.cfg.Ring.Ring.Ruler, a.kv, a.reg, a.logger.With("component", "ruler-ring"))
	return a.rulerRing, err
}

func (a *App) initRulerLifecycler() (services.Service, error) {
	if !a.distributed || !a.roles[RoleRuler] {
		return nil, nil
	}
	var err error
	a.rulerLife, err = ring.NewRulerLifecycler(a.cfg.Ring.Ring.Ruler, a.kv, a.reg, a.logger.With("component", "ruler-lifecycler"))
	return a.rulerLife, err
}

// initRuler builds the ruler: it reads through the querier's path
// (ingesters and store-gateways, as a query does) and writes through the
// distributor's validation and limits, the local distributor's or one of
// its own in front of the ingester ring.
func (a *App) initRuler() (services.Service, error) {
	reader := a.queryReader()
	var pusher wire.Pusher
	if a.dist != nil {
		pusher = distributorPusher{a.dist}
	} else {
		rp := distributor.NewRingPusher(a.ingRing, a.clients.pusher, a.overrides, a.cfg.Distributor.RemoteTimeout)
		d, err := distributor.New(a.cfg.Distributor, a.overrides, rp, tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}, nil, a.logger.With("role", RoleRuler))
		if err != nil {
			return nil, err
		}
		pusher = distributorPusher{d}
	}
	cfg := a.cfg.Ruler
	cfg.AlertmanagerTLS = commoncfg.TLSConfig{
		CAFile: a.cfg.GRPCClientTLS.CAFile, CertFile: a.cfg.GRPCClientTLS.CertFile, KeyFile: a.cfg.GRPCClientTLS.KeyFile,
		ServerName: a.cfg.GRPCClientTLS.ServerName, MinVersion: commoncfg.TLSVersion(tls.VersionTLS12),
	}
	if cfg.ExternalURL == "" {
		cfg.ExternalURL = a.selfURL(false)
	}
	if cfg.AlertmanagerURL == "" && !a.distributed && a.roles[RoleAlertmanager] {
		cfg.AlertmanagerURL = a.selfURL(true) + "/alertmanager"
		if a.auth != nil {
			// The ruler sends its alerts through this process's own HTTP
			// API, as a user of the rules scope that only it knows.
			u, err := url.Parse(cfg.AlertmanagerURL)
			if err != nil {
				return nil, err
			}
			u.User = url.UserPassword("weft-ruler", a.auth.AddInternalUser("weft-ruler", auth.ScopeRules))
			cfg.AlertmanagerURL = u.String()
		}
	}
	opts := []ruler.Option{ruler.WithParser(querier.NewParser(a.cfg.Querier))}
	if a.distributed {
		opts = append(opts, ruler.WithRing(rulerOwns(a.rulerRing, a.cfg.Ring.Ring.Ruler.InstanceID), a.rulerLife))
	}
	engine := querier.NewEngine(a.cfg.Querier, a.overrides, prometheus.WrapRegistererWithPrefix("weft_ruler_", a.reg), a.logger.With("role", RoleRuler))
	var err error
	a.ruler, err = ruler.New(cfg, a.bucket, a.overrides, pusher, querier.NewQueryable(reader, a.overrides), engine,
		a.reg, a.logger.With("role", RoleRuler), opts...)
	if err != nil {
		return nil, err
	}
	if !a.roles[RoleQuerier] || a.distributed {
		// Prometheus' /api/v1/rules and /alerts over the groups this
		// ruler evaluates: served over HTTP where no querier runs, and to
		// the queriers' fan-out over gRPC.
		a.rulerAPI, err = querier.New(a.cfg.Querier, reader, a.overrides, tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled},
			querier.Version{Version: Version, Revision: Revision, Branch: Branch, GoVersion: goVersion()},
			nil, a.logger.With("role", RoleRuler), querier.WithRules(a.ruler.RulesRetriever))
		if err != nil {
			return nil, err
		}
	}
	return a.ruler, nil
}

// rulerOwns gives each rule group to one ruler: the owner of the group's
// token in the ruler ring.
func rulerOwns(r dsring.ReadRing, instanceID string) func(tenantID, namespace, group string) bool {
	return func(tenantID, namespace, group string) bool {
		return ring.Owns(r, ring.TokenFor(tenantID, labels.FromStrings("group", group, "namespace", namespace)), instanceID)
	}
}

// rulerFanOut returns the querier's /api/v1/rules and /alerts in
// distributed mode: every healthy ruler of the ruler ring is asked over
// gRPC for the groups it evaluates (each has a share of a tenant's).
func (a *App) rulerFanOut() *ruler.FanOut {
	rulers := func() ([]string, error) {
		rs, err := a.rulerRing.GetAllHealthy(dsring.Read)
		if errors.Is(err, dsring.ErrEmptyRing) {
			return nil, nil // no ruler: no rules
		}
		if err != nil {
			return nil, err
		}
		addrs := make([]string, 0, len(rs.Instances))
		for _, in := range rs.Instances {
			addrs = append(addrs, in.Addr)
		}
		return addrs, nil
	}
	return ruler.NewFanOut(rulers, tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}.FromRequest,
		a.cfg.Querier.Timeout, a.logger.With("role", RoleQuerier), a.dialOpts...)
}

// registerRulerGRPC registers the rules service that the queriers' fan-out
// asks, when this process runs a ruler in distributed mode.
func (a *App) registerRulerGRPC() {
	if a.ruler != nil && a.distributed {
		ruler.RegisterGRPC(a.grpcServer, a.rulerAPI.Handler(), querier.Prefix)
	}
}

// rulesRetriever is the querier's source of /api/v1/rules and /alerts: the
// ruler of this process, if it runs one.
func (a *App) rulesRetriever(ctx context.Context) v1.RulesRetriever {
	if a.ruler == nil {
		return nil
	}
	return a.ruler.RulesRetriever(ctx)
}

// queryReader returns the reader of the querier's path, built once per
// process and shared by the querier and the ruler: ingesters (local or
// through their ring) for recent data, store-gateways for the blocks.
func (a *App) queryReader() wire.Reader {
	if a.reader != nil {
		return a.reader
	}
	var reader wire.Reader = a.ingester
	if a.distributed {
		reader = querier.NewRingReader(a.ingRing, a.clients.reader, a.overrides, a.cfg.Ingester.BlockRange*2).WithMetrics(a.reg)
	}
	// The blocks a querier must read, by the same rule as the store-gateways.
	sgc := a.cfg.StoreGateway
	finder := storegateway.NewFinder(a.bucket, sgc.SyncInterval, sgc.IgnoreDeletionMarksDelay)
	if store := a.storeReader(finder); store != nil {
		reader = querier.NewSplitReader(reader, store, finder.BlocksFor, a.cfg.Querier.QueryIngestersWithin, a.cfg.Querier.QueryStoreAfter)
	}
	a.reader = reader
	return reader
}

// selfURL returns this process's HTTP URL: for itself (loopback) or for
// users (the host name).
func (a *App) selfURL(loopback bool) string {
	host, port, err := net.SplitHostPort(a.cfg.HTTPListenAddress)
	if err != nil {
		return "http://localhost"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if !loopback {
			if h, err := os.Hostname(); err == nil && h != "" {
				host = h
			}
		}
	}
	if a.cfg.HTTPTLS.Enabled() {
		return "https://" + net.JoinHostPort(host, port)
	}
	return "http://" + net.JoinHostPort(host, port)
}

// rulerRoutes mounts the ruler's config API, its ring page and, in a
// process without a querier, /api/v1/rules and /alerts.
func (a *App) rulerRoutes(mux *http.ServeMux, instrument func(string, http.Handler) http.Handler) {
	if a.ruler == nil {
		return
	}
	h := instrument("ruler_config", a.whenRunning(RoleRuler, a.ruler.ConfigHandler(tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}.FromRequest)))
	mux.Handle(ruler.ConfigPrefix, h)
	mux.Handle(ruler.ConfigPrefix+"/", h)
	if !a.roles[RoleQuerier] {
		// No querier here to answer /api/v1/rules and /alerts: the ruler
		// answers them itself, for the groups it evaluates.
		for _, p := range []string{"/rules", "/alerts"} {
			mux.Handle(querier.Prefix+p, instrument("prometheus_api", a.whenRunning(RoleRuler, a.rulerAPI.Handler())))
		}
	}
	if a.rulerRing != nil {
		mux.Handle("/ruler/ring", a.rulerRing)
	}
}

// distributorPusher pushes through a distributor: its validation, limits
// and ring, as a remote write would.
type distributorPusher struct{ d *distributor.Distributor }

func (p distributorPusher) Push(ctx context.Context, id string, req *wire.PushRequest) (wire.PushResult, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/push", http.NoBody)
	if err != nil {
		return wire.PushResult{}, err
	}
	return p.d.Push(r, id, req)
}
