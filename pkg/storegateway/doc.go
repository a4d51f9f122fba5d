// Package storegateway is the store-gateway role (-target=store-gateway):
// it serves the tenants' blocks in the bucket to queriers, for the time
// ranges that ingesters no longer hold. It implements wire.Reader and
// wire.ChunkReader (a wire.StoreServer), so an app serves it as the store
// wire.StoreGateway of the weft.Store service (wire.Register), next to an
// ingester's store when one runs in the same process, and a querier
// reaches a remote one with wire.NewStoreClient. It serves no writes. It
// imports pkg/bucketindex, pkg/wire, pkg/tenant, pkg/logutil and libraries
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
// # Lazy loading, index headers and caching
//
// Nothing is loaded at start. The first query that needs a block loads it
// (openRemoteBlock): meta.json, the tombstones, the sizes of the
// chunk segment files, and the block's index header, written to
// <dir>/<tenant>/<ULID>/index-header and mmapped. The index header is the
// index's TOC, symbols and postings offset table (two range reads of the
// index): what every query of the block needs, and a small part of the
// index. Memory keeps one value in 32 of each label name's offset table,
// as Prometheus' index reader does, so a label with millions of values
// costs a block little memory; lookups decode the mmapped table between
// two kept values. A query then reads from the bucket, by range, only what it
// touches:
//
//   - the postings lists of its matchers, at the offsets the header gives
//     (lists close to each other, as for a regular expression, in one
//     read);
//   - the series entries of the postings, and the chunks of those series,
//     with a read-ahead that doubles while reads go forward (16 KiB up to
//     1 MiB): a query of many series reads them in few big ranges, a query
//     of a few series little more than it needs.
//
// The bucket the store-gateway is given is wrapped by the app with the
// caching bucket of pkg/bucket (-store-gateway.cache.*: in memory or
// memcached), which caches range reads in aligned 16 KiB pieces: it is
// the postings, series and chunks cache (and holds the index header's
// ranges, meta.json and the tombstones, so a block loads again without
// reading the bucket). weft_storegateway_bucket_reads_total and
// _bucket_read_bytes_total count the reads by section (index-header,
// postings, series, chunks, meta); weft_bucket_cache_* count the cache's
// hits.
//
// A query holds a reference on each block it reads until its querier is
// closed, and only blocks without references are unloaded (header closed,
// directory deleted): after -store-gateway.block-idle-timeout without use,
// when they are gone from the tenant's index or no longer owned (checked
// every sync interval), and the least recently used first when more than
// -store-gateway.max-loaded-blocks blocks or -store-gateway.max-loaded-bytes
// bytes of headers are loaded (soft bounds: blocks in use stay). Metrics:
// weft_storegateway_blocks_loaded, _blocks_loaded_bytes,
// _block_loads_total, _block_load_failures_total,
// _block_load_duration_seconds, _block_unloads_total{reason},
// _block_cache_hits_total, _block_cache_misses_total,
// _queried_blocks_total, _tenant_syncs_total, _sync_failures_total.
//
// Blocks with tombstones (series deleted but not yet compacted away) are
// queried with the TSDB's trimming disabled and the samples clipped to the
// range here: Prometheus' trimming panics on some ranges of such blocks
// (see untrimmedQuerier).
//
// # Consistency check
//
// A querier must not answer from part of the data without saying so. For a
// query of [mint, maxt] it lists the blocks that must be covered with a
// Finder over the same bucket (Finder.RequiredBlocks, by the same rule the
// store-gateways use), asks the store-gateways that own them, and compares
// with what they read. Each Select, LabelNames and LabelValues of a
// store-gateway's querier adds the blocks it read to the wire.BlockReport
// of its context; over gRPC the report travels in the answer's typed
// queried-blocks field and lands in the caller's report the same way (see
// pkg/wire).
//
// A required block that no store-gateway reported is an error naming the
// block (KindUnavailable, so the query may be retried), never a silent
// gap. A store-gateway re-reads a tenant's block list only every sync
// interval, so a block uploaded since may not be visible to it yet; such a
// block's data is still held by the ingesters (queried for the last
// -querier.query-ingesters-within, 13h, much longer than the sync
// interval), so RequiredBlocks leaves out blocks uploaded within the last
// one and a half sync intervals. A store-gateway that cannot load a block
// fails the query (KindUnavailable) rather than skipping it.
//
// The check itself is the querier's (querier.NewCheckedStoreReader), which
// may not import this package: the app hands it Finder.RequiredBlocks as a
// function value, and the two meet in wire.BlockReport.
//
// # Lifecycle
//
// New validates the config and cleans <dir> of a previous run's blocks;
// Start runs the sync and idle-unload loop; Close stops it, aborts loads
// and unloads every block (queriers must be closed first, since closing a
// block waits for its readers) and is safe to call twice.
package storegateway
