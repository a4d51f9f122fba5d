// Package distributor receives remote-write pushes: it resolves the tenant,
// decodes remote write 1.0 and 2.0, validates every series, applies the
// tenant's rate limit and hands the request to a wire.Pusher (the ingesters,
// found on the ring). It also takes OTLP metrics (otlp.go), translated by
// Prometheus' own OTLP translator into the same push. Before validation,
// the HATracker keeps only the pushes of the elected replica of each HA
// pair of the tenants that ask for it, with its elections in the rings' KV
// store (docs/ha-pairs.md). It never imports another component.
//
// Imports: pkg/httpapi, pkg/limits, pkg/logutil, pkg/remotewrite, pkg/ring,
// pkg/tenant, pkg/wire.
package distributor
