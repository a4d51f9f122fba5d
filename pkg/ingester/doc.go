// Package ingester keeps one Prometheus TSDB per tenant (head in memory,
// WAL on disk), appends pushed series to it, serves the recent window to
// queriers, and ships every block the TSDB cuts to the bucket. It may import
// pkg/wire, pkg/limits, pkg/tenant, pkg/bucket and libraries, never another
// component.
package ingester
