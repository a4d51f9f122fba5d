// Package compactor is the compactor role: per tenant, it merges the RF
// copies of each block the ingesters ship into one deduplicated block
// (vertical compaction), compacts small blocks into the configured larger
// ranges (horizontal compaction), applies series-deletion requests and
// retention, deletes blocks whose deletion mark is older than the deletion
// delay, deletes tenants, and keeps each tenant's bucket index up to date.
//
// It owns, in the bucket, the objects it writes under a tenant's prefix:
// compacted blocks (source "compactor" in the "weft" section of meta.json),
// deletion marks (through pkg/bucketindex), the bucket index, the
// series-deletion requests under <tenant>/tombstones/ and the tenant deletion
// mark <tenant>/tenant-deletion-mark.json. Locally it owns its work directory
// (Config.DataDir): everything there is scratch and is removed at start.
//
// Prometheus' TSDB does the compaction itself. It never imports another
// component.
//
// Imports: pkg/bucketindex, pkg/httpapi, pkg/limits, pkg/logutil, pkg/tenant.
package compactor
