package storegateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	blocksLoaded   prometheus.Gauge
	bytesLoaded    prometheus.Gauge
	loads          prometheus.Counter
	loadFailures   prometheus.Counter
	corruptBlocks  *prometheus.CounterVec
	loadDuration   prometheus.Histogram
	unloads        *prometheus.CounterVec
	cacheHits      prometheus.Counter
	cacheMisses    prometheus.Counter
	syncFailures   prometheus.Counter
	queriedBlocks  prometheus.Counter
	tenantsRefresh prometheus.Counter

	bucketReads     *prometheus.CounterVec
	bucketReadBytes *prometheus.CounterVec

	seriesHashHits   prometheus.Counter
	seriesHashMisses prometheus.Counter
}

// Unload reasons (label "reason" of weft_storegateway_block_unloads_total).
const (
	reasonIdle    = "idle"
	reasonEvicted = "evicted"
	reasonGone    = "gone"
	reasonClosed  = "shutdown"
)

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		blocksLoaded: f.NewGauge(prometheus.GaugeOpts{Name: "weft_storegateway_blocks_loaded", Help: "Blocks loaded (index header on local disk) in the store-gateway."}),
		bytesLoaded:  f.NewGauge(prometheus.GaugeOpts{Name: "weft_storegateway_blocks_loaded_bytes", Help: "Bytes on local disk of the index headers of the blocks loaded in the store-gateway."}),
		loads:        f.NewCounter(prometheus.CounterOpts{Name: "weft_storegateway_block_loads_total", Help: "Blocks loaded from the bucket, successfully or not."}),
		loadFailures: f.NewCounter(prometheus.CounterOpts{Name: "weft_storegateway_block_load_failures_total", Help: "Block loads that failed."}),
		corruptBlocks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_storegateway_corrupt_blocks_total",
			Help: "Blocks found corrupt when loading them or reading them for a query, by section of the block (meta, index-header, postings, series, chunks, tombstones). Queries over such a block fail with err-weft-corrupt-block.",
		}, []string{"section"}),
		loadDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "weft_storegateway_block_load_duration_seconds",
			Help:    "Time to load a block (meta.json, tombstones, index header).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8),
		}),
		unloads:        f.NewCounterVec(prometheus.CounterOpts{Name: "weft_storegateway_block_unloads_total", Help: "Blocks unloaded, by reason (idle, evicted, gone, shutdown)."}, []string{"reason"}),
		cacheHits:      f.NewCounter(prometheus.CounterOpts{Name: "weft_storegateway_block_cache_hits_total", Help: "Block uses served by a block already loaded (or being loaded)."}),
		cacheMisses:    f.NewCounter(prometheus.CounterOpts{Name: "weft_storegateway_block_cache_misses_total", Help: "Block uses that had to load the block from the bucket."}),
		syncFailures:   f.NewCounter(prometheus.CounterOpts{Name: "weft_storegateway_sync_failures_total", Help: "Failed re-reads of a tenant's block list by the sync loop."}),
		queriedBlocks:  f.NewCounter(prometheus.CounterOpts{Name: "weft_storegateway_queried_blocks_total", Help: "Blocks read by queries (one per block per querier)."}),
		tenantsRefresh: f.NewCounter(prometheus.CounterOpts{Name: "weft_storegateway_tenant_syncs_total", Help: "Re-reads of a tenant's block list by the sync loop."}),

		bucketReads:     f.NewCounterVec(prometheus.CounterOpts{Name: "weft_storegateway_bucket_reads_total", Help: "Reads of block objects from the bucket (through its cache, when one is configured), by section of the block (index-header, postings, series, chunks, meta)."}, []string{"section"}),
		bucketReadBytes: f.NewCounterVec(prometheus.CounterOpts{Name: "weft_storegateway_bucket_read_bytes_total", Help: "Bytes of block objects read from the bucket (through its cache, when one is configured), by section of the block."}, []string{"section"}),

		seriesHashHits:   f.NewCounter(prometheus.CounterOpts{Name: "weft_storegateway_series_hash_cache_hits_total", Help: "Series whose shard hash a sharded query found in its block's cache."}),
		seriesHashMisses: f.NewCounter(prometheus.CounterOpts{Name: "weft_storegateway_series_hash_cache_misses_total", Help: "Series whose labels a sharded query decoded to hash them (then cached within -store-gateway.series-hash-cache-max-bytes)."}),
	}
}
