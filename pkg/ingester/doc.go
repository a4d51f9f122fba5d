// Package ingester keeps one Prometheus TSDB per tenant (head in memory,
// WAL on disk), appends pushed series to it, serves the recent window to
// queriers, and ships every block the TSDB cuts to the bucket. It never
// imports another component.
//
// Imports: pkg/bucketindex, pkg/limits, pkg/logutil, pkg/serieshash, pkg/tenant, pkg/wire.
package ingester
