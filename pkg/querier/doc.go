// Package querier serves the Prometheus query API (/prometheus/api/v1/...)
// per tenant with Prometheus' own web API and PromQL engine over a
// wire.Reader, enforcing each tenant's query limits. It may import
// pkg/wire, pkg/limits, pkg/tenant, pkg/httpapi and libraries, never another
// component.
package querier
