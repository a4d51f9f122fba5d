// Package storegateway is the store-gateway role (-target=store-gateway):
// it serves the tenants' blocks in the bucket to queriers, for the time
// ranges that ingesters no longer hold. It implements wire.Reader and
// wire.ChunkReader (and a wire.Pusher that refuses writes), so an app
// serves it with wire.RegisterIngesterServer — the same gRPC service as an
// ingester, since it answers the same questions for older data — and a
// querier reaches a remote one with wire.NewIngesterClient. It imports
// pkg/bucketindex, pkg/wire, pkg/tenant, pkg/logutil and libraries
// (Prometheus' TSDB, objstore, dskit's ring), never another component.
//
// # Finding blocks
//
// A tenant's blocks are those of its bucket index
// (<tenant>/bucket-index.json.gz, written by the compactor); until it has
// one, those found by listing <tenant>/ and reading each meta.json, leaving
// out blocks without meta.json (uploads in progress) and blocks with a
// deletion mark (ReadIndex). A Finder keeps each tenant's list for
// -store-gateway.sync-interval, and a query reads the blocks overlapping
// its range, minus those marked for deletion longer ago than
// -store-gateway.ignore-deletion-marks-delay (Finder.BlocksFor). Only
// blocks that Config.ShardFilter owns are read; the app builds the filter
// from the store-gateway ring with RingShardFilter (owner = the instances
// the ring gives for BlockToken(tenant, id) under RingOp, RF of them).
//
// # Lazy loading and caching
//
// Nothing is loaded at start. The first query that needs a block downloads
// its meta.json, index, tombstones and chunks to <dir>/<tenant>/<ULID>/
// (through a temporary directory, renamed once complete), opens it with
// tsdb.OpenBlock and keeps it open; later queries read it from local disk
// (mmapped by the TSDB). Queries of one block wait for a single load; at
// most -store-gateway.max-concurrent-loads blocks load at once. The whole
// block is downloaded (no GetRange of chunks): simple and correct, at the
// cost of local disk for the chunks of the blocks in use.
//
// The loaded blocks are the cache: a query holds a reference on each block
// it reads until its querier is closed, and only blocks without references
// are unloaded (closed, and their directory deleted): after
// -store-gateway.block-idle-timeout without use, when they are gone from the
// tenant's index or no longer owned (checked every sync interval), and the
// least recently used first when more than -store-gateway.max-loaded-blocks
// blocks or -store-gateway.max-loaded-bytes bytes are loaded (soft bounds:
// blocks in use stay). There is no postings or series cache beyond the
// TSDB's own index reader and the page cache. Metrics:
// weft_storegateway_blocks_loaded, _blocks_loaded_bytes,
// _block_loads_total, _block_load_failures_total,
// _block_load_duration_seconds, _block_unloads_total{reason},
// _block_cache_hits_total, _block_cache_misses_total,
// _queried_blocks_total, _tenant_syncs_total, _sync_failures_total.
//
// # Consistency check
//
// A querier must not answer from part of the data without saying so. For a
// query of [mint, maxt] it lists the blocks that must be covered with a
// Finder over the same bucket (Finder.BlocksFor, the same rule the
// store-gateways use), asks the store-gateways that own them, and compares
// with what they read: each querier of a store-gateway reports the blocks
// it read
//
//   - in one process, through BlockReporter.QueriedBlocks on the querier
//     that Querier or ChunkQuerier returned;
//   - over gRPC (and in one process too), as one warning in the warnings of
//     every Select (the last message of the stream), LabelNames and
//     LabelValues: QueriedBlocksWarning followed by the ULIDs separated by
//     commas. QueriedBlocksFromWarnings extracts the list and returns the
//     other warnings; the querier must strip the warning before warnings
//     reach a user.
//
// A block of BlocksFor that no store-gateway reported is an error naming
// the block (KindUnavailable, so the query may be retried), never a silent
// gap. A store-gateway re-reads a tenant's block list only every sync
// interval, so a block uploaded since may not be visible to it yet; such a
// block's data is still held by the ingesters (queried for the last
// -querier.query-ingesters-within, 13h, much longer than the sync interval),
// so the querier should only require blocks whose UploadedAt is older than
// -store-gateway.sync-interval plus a margin. A store-gateway that cannot
// load a block fails the query (KindUnavailable) rather than skipping it.
//
// The querier may not import this package: the app hands it
// Finder.BlocksFor as a function value, and the warning's format above is
// the contract (QueriedBlocksWarning and QueriedBlocksFromWarnings belong in
// pkg/wire once its owner takes them).
//
// # Lifecycle
//
// New validates the config and cleans <dir> of a previous run's blocks;
// Start runs the sync and idle-unload loop; Close stops it, aborts loads
// and unloads every block (queriers must be closed first, since closing a
// block waits for its readers) and is safe to call twice.
package storegateway
