// Package querier serves the Prometheus query API (/prometheus/api/v1/...)
// per tenant with Prometheus' own web API and PromQL engine over a
// wire.Reader, enforcing each tenant's query limits. It never imports
// another component.
//
// Imports: pkg/bucketindex, pkg/federation, pkg/httpapi, pkg/limits,
// pkg/logutil, pkg/querysharding, pkg/ring, pkg/tenant, pkg/wire.
package querier
