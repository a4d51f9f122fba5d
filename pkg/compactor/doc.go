// Package compactor is the compactor role: per tenant, it deduplicates the RF
// copies of the blocks the ingesters ship, compacts small blocks into larger
// ranges, applies series deletions and retention, deletes marked blocks and
// deleted tenants, and keeps the bucket index up to date. What it writes in the
// bucket and on disk: docs/compactor.md. It never imports another component.
//
// Imports: pkg/bucketindex, pkg/httpapi, pkg/limits, pkg/logutil, pkg/tenant.
package compactor
