package app

import (
	"errors"
	"net/http"

	dsring "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"

	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/ruler"
	"github.com/weft-io/weft/pkg/scheduler"
)

// The query-scheduler: its ring, its lifecycler, the role, its gRPC
// service, the queriers' workers and the frontends' way in.

// initQuerySchedulerRing builds the ring in which queriers (and
// frontends) find the schedulers, in distributed mode.
func (a *App) initQuerySchedulerRing() (services.Service, error) {
	if !a.distributed || (!a.roles[RoleQuerier] && !a.roles[RoleQueryScheduler] && !a.roles[RoleQueryFront]) {
		return nil, nil
	}
	var err error
	a.qsRing, err = ring.NewQuerySchedulerRing(a.cfg.Ring.Ring.QueryScheduler, a.kv, a.reg, a.logger.With("component", "query-scheduler-ring"))
	return a.qsRing, err
}

func (a *App) initQuerySchedulerLifecycler() (services.Service, error) {
	if !a.distributed || !a.roles[RoleQueryScheduler] {
		return nil, nil
	}
	var err error
	a.qsLife, err = ring.NewQuerySchedulerLifecycler(a.cfg.Ring.Ring.QueryScheduler, a.kv, a.reg, a.logger.With("component", "query-scheduler-lifecycler"))
	return a.qsLife, err
}

func (a *App) initQueryScheduler() (services.Service, error) {
	var lc scheduler.Lifecycler
	if a.qsLife != nil {
		lc = a.qsLife
	}
	a.scheduler = scheduler.New(a.overrides, lc, a.reg, a.logger.With("role", RoleQueryScheduler))
	return a.scheduler, nil
}

// registerQuerySchedulerGRPC registers the scheduler's service, for the
// frontends and the queriers' workers, when this process runs one.
func (a *App) registerQuerySchedulerGRPC() {
	if a.scheduler != nil {
		scheduler.RegisterGRPC(a.grpcServer, a.scheduler)
	}
}

// schedulerAddrs returns the gRPC addresses of the query-schedulers: the
// configured ones, or the healthy instances of their ring.
func (a *App) schedulerAddrs() ([]string, error) {
	if addrs := a.cfg.QueryScheduler.AddressList(); len(addrs) > 0 {
		return addrs, nil
	}
	if a.qsRing == nil {
		return nil, nil
	}
	rs, err := a.qsRing.GetAllHealthy(dsring.Read)
	if errors.Is(err, dsring.ErrEmptyRing) {
		return nil, nil
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

// querierWorker returns the workers with which the querier pulls queries
// from the query-schedulers, with -querier.max-concurrent queries at once:
// from the scheduler of the all-in-one directly, or over gRPC from those
// configured or in the ring (none found: the worker waits, and the
// querier still answers its own HTTP API).
func (a *App) querierWorker() *scheduler.Worker {
	cfg := scheduler.WorkerConfig{QuerierID: a.cfg.QueryScheduler.QuerierID, Parallelism: a.cfg.Querier.Concurrency()}
	logger := a.logger.With("role", RoleQuerier, "component", "querier-worker")
	switch {
	case !a.distributed && a.scheduler != nil:
		return scheduler.NewLocalWorker(cfg, a.scheduler, a.querierHandler(), logger)
	case a.distributed:
		return scheduler.NewWorker(cfg, a.schedulerAddrs, a.querierHandler(), logger, a.dialOpts...)
	}
	return nil
}

// querierHandler is the querier's query API as its workers serve it:
// /rules and /alerts from every ruler in distributed mode.
func (a *App) querierHandler() http.Handler {
	if a.rulesFanOut == nil {
		return a.querier.Handler()
	}
	mux := http.NewServeMux()
	mux.Handle(querier.Prefix+"/", a.querier.Handler())
	mux.Handle(querier.Prefix+"/rules", a.rulesFanOut.Handler(ruler.KindRules))
	mux.Handle(querier.Prefix+"/alerts", a.rulesFanOut.Handler(ruler.KindAlerts))
	return mux
}

// QueryRoundTripper returns the way from a query-frontend to the queriers,
// through the query-schedulers: the frontend's downstream. Requests carry
// X-Scope-OrgID and the path of the query API (/prometheus/api/v1/...);
// answers carry X-Weft-Queue-Time (seconds queued). With a scheduler in
// this process (the all-in-one) it enqueues there directly; otherwise it
// sends each query over gRPC to one of the schedulers of
// -query-scheduler.addresses or of their ring (none: 503). A frontend
// module calls it from its init, with the query-scheduler ring among its
// dependencies and RoleQueryScheduler among its local roles.
func (a *App) QueryRoundTripper() http.RoundTripper {
	if a.queryRT != nil {
		return a.queryRT
	}
	resolve := a.readResolver().FromRequest
	if a.scheduler != nil {
		a.queryRT = scheduler.NewRoundTripper(a.scheduler, resolve)
	} else {
		a.schedClient = scheduler.NewClient(a.schedulerAddrs, a.dialOpts...)
		a.queryRT = scheduler.NewRoundTripper(a.schedClient, resolve)
	}
	return a.queryRT
}

// querySchedulerRoutes mounts the scheduler's status page and its ring's.
func (a *App) querySchedulerRoutes(mux *http.ServeMux) {
	if a.scheduler != nil {
		mux.Handle("/query-scheduler/status", a.scheduler)
	}
	if a.qsRing != nil {
		mux.Handle("/query-scheduler/ring", a.qsRing)
	}
}
