// Package storegateway is the store-gateway role (-target=store-gateway):
// it serves the tenants' blocks in the bucket to queriers, for the time
// ranges that ingesters no longer hold, as a wire.Reader and
// wire.ChunkReader. It owns which blocks it reads (Finder, the shard
// filter), their lazy loading from index headers on local disk, and the
// report of the blocks each query read. How blocks are found, loaded,
// cached and unloaded, the consistency check and the lifecycle are
// described in docs/store-gateway.md. It never imports another component.
//
// Imports: pkg/bucket, pkg/bucketindex, pkg/logutil, pkg/serieshash, pkg/tenant, pkg/wire.
package storegateway
