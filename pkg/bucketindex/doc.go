// Package bucketindex owns the per-tenant bucket index and block markers:
// what blocks a tenant has in the bucket, and which are marked for
// deletion. The compactor writes the index; store-gateways and queriers read
// it instead of listing the bucket.
//
// Layout of a tenant's prefix:
//
//	<tenant>/<ULID>/meta.json, index, chunks/NNNNNN   a block (meta.json last)
//	<tenant>/<ULID>/weft-metadata.json                metadata of the block's metric families
//	<tenant>/<ULID>/weft-exemplars.json.gz            exemplars of the block's time range
//	<tenant>/<ULID>/deletion-mark.json                the block is being deleted
//	<tenant>/<ULID>/no-compact-mark.json              the compactor leaves the block alone (corrupt)
//	<tenant>/bucket-index.json.gz                     this index
//
// Imports: none.
package bucketindex
