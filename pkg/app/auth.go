package app

import (
	"net/http"
	"strings"

	"github.com/weft-io/weft/pkg/alertmanager"
	"github.com/weft-io/weft/pkg/auth"
	"github.com/weft-io/weft/pkg/notebook"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/ruler"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/ui"
)

// statusPages are read-only pages of the process's state, open without
// credentials on GET; any other method on them (a ring's "forget") needs
// the admin scope.
var statusPages = map[string]bool{
	"/ring": true, "/store-gateway/ring": true, "/compactor/ring": true, "/ruler/ring": true,
	"/alertmanager/ring": true, "/query-scheduler/ring": true, "/query-scheduler/status": true,
	"/distributor/ring": true, "/memberlist": true,
}

// routeAuth says what each route of routes() needs with -auth.type=tokens
// (docs/auth.md lists them). A path it does not know is denied: a route
// added to routes() must be added here too (TestRouteAuthCoversRoutes).
func (a *App) routeAuth(r *http.Request) (auth.Route, bool) {
	p := r.URL.Path
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	open := auth.Route{Open: true}
	scope := func(s auth.Scope) (auth.Route, bool) { return auth.Route{Scope: s}, true }
	switch {
	// Status pages that monitoring and load balancers read.
	case p == "/ready" || p == "/metrics" || p == "/services":
		return open, true
	case statusPages[p]:
		if get {
			return open, true
		}
		return scope(auth.ScopeAdmin)
	// Pushes.
	case p == "/api/v1/push" || p == "/otlp/v1/metrics":
		return scope(auth.ScopeWrite)
	// Admin endpoints (the HA tracker's page lists every tenant's
	// clusters).
	case strings.HasPrefix(p, querier.Prefix+"/admin/"), p == "/compactor/delete_tenant", p == "/distributor/ha_tracker",
		p == "/config", p == "/runtime_config", strings.HasPrefix(p, "/debug/pprof/"):
		return scope(auth.ScopeAdmin)
	// The query API (with the rules and alerts of the ruler's groups,
	// which Grafana reads as a query).
	case strings.HasPrefix(p, querier.Prefix+"/"):
		return auth.Route{Scope: auth.ScopeRead, Federated: a.cfg.TenantFederation.Enabled}, true
	case p == notebook.Prefix || strings.HasPrefix(p, notebook.Prefix+"/"):
		return scope(auth.ScopeRead)
	// Rule groups, Alertmanager configurations, alerts and silences.
	case p == ruler.ConfigPrefix || strings.HasPrefix(p, ruler.ConfigPrefix+"/"),
		p == alertmanager.ConfigPath,
		p == alertmanager.Prefix || strings.HasPrefix(p, alertmanager.Prefix+"/"):
		return scope(auth.ScopeRules)
	// The web UI's own files (it asks for credentials once loaded), or
	// the index of status pages of a process without it.
	case p == "/" || (a.notebooks != nil && ui.IsOwnPath(p)):
		return open, true
	}
	return auth.Route{}, false
}

// readResolver resolves the tenant of the query API's requests on their
// way through the query-frontend, the scheduler and the querier: with
// -tenant-federation.enabled, several tenants, "a|b", read as one. Each
// hop keys on the whole (sorted) set: the results cache, the scheduler's
// queue (a federated query is queued fairly as a tenant of its own).
func (a *App) readResolver() tenant.Resolver {
	return tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled, Federation: a.cfg.TenantFederation.Enabled}
}
