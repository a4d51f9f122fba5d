package app

import (
	"net/http"

	"github.com/grafana/dskit/services"

	"github.com/weft-io/weft/pkg/notebook"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/tenant"
)

// initUI builds the ui role's notebooks; their PromQL cells must parse as
// the queriers parse them.
func (a *App) initUI() (services.Service, error) {
	a.notebooks = notebook.New(a.bucket, a.overrides, querier.NewParser(a.cfg.Querier), a.logger.With("role", RoleUI))
	return a.notebooks, nil
}

// notebookRoutes mounts the notebooks API, when this process runs the ui
// role.
func (a *App) notebookRoutes(mux *http.ServeMux, instrument func(string, http.Handler) http.Handler) {
	if a.notebooks == nil {
		return
	}
	h := instrument("notebooks", a.whenRunning(RoleUI, a.notebooks.Handler(tenant.Resolver{MultiTenancy: a.cfg.MultitenancyEnabled}.FromRequest)))
	mux.Handle(notebook.Prefix, h)
	mux.Handle(notebook.Prefix+"/", h)
}
