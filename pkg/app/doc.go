// Package app wires weft: the root configuration, the role table, the start
// and stop order, the HTTP mux and the operational endpoints (/ready,
// /config, /runtime_config, /services, /metrics). It is the only package
// that imports every component, and only cmd/weft imports it.
//
// Imports: pkg/alertmanager, pkg/auth, pkg/bucket, pkg/bucketindex,
// pkg/compactor, pkg/distributor, pkg/frontend, pkg/grpcclient, pkg/httpapi,
// pkg/ingester, pkg/limits, pkg/logutil, pkg/notebook, pkg/querier,
// pkg/querysharding, pkg/ring, pkg/ruler, pkg/scheduler, pkg/storegateway,
// pkg/tenant, pkg/tlsconfig, pkg/ui, pkg/wire.
package app
