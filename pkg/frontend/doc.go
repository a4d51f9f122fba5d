// Package frontend is the query-frontend: it serves the Prometheus query
// API (/prometheus/api/v1/...) in front of the queriers. Range queries
// are split by time on their grid of steps, computed part by part with
// at most the tenant's max_query_parallelism requests in flight, and
// cached per tenant in extents that later queries extend; every other
// request passes through. Failed requests (5xx, connection errors) are
// retried. Its downstream is an http.RoundTripper: the querier in the
// process, one over HTTP, or the query-scheduler's client. docs/query-frontend.md
// describes what is cached and when.
//
// Imports: pkg/cacheclient, pkg/httpapi, pkg/limits, pkg/logutil,
// pkg/querysharding, pkg/tenant.
package frontend
