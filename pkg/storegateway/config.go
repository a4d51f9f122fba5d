package storegateway

import (
	"errors"
	"flag"
	"time"

	"github.com/weft-io/weft/pkg/bucket"
)

// Config of the store-gateway. Dir is set by the app (a directory of the
// store-gateway's own under -data.dir).
type Config struct {
	// Dir holds the index headers of the blocks loaded from the bucket, as
	// <Dir>/<tenant>/<ULID>/.
	// Everything in it is a cache: it is cleaned at New and may be lost.
	Dir string `yaml:"-"`
	// SyncInterval is how often each known tenant's block list is re-read
	// from the bucket (index, or listing), and loaded blocks that are gone
	// from it, or no longer owned, are unloaded.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// IgnoreDeletionMarksDelay: a block marked for deletion longer ago than
	// this is no longer queried (the compactor's replacement is visible by
	// then). It must be shorter than the compactor's deletion delay.
	IgnoreDeletionMarksDelay time.Duration `yaml:"ignore_deletion_marks_delay"`
	// MaxConcurrentLoads bounds the blocks loaded (index header read) at once.
	MaxConcurrentLoads int `yaml:"max_concurrent_loads"`
	// IdleTimeout unloads a block that no query used for this long.
	IdleTimeout time.Duration `yaml:"block_idle_timeout"`
	// MaxLoadedBlocks and MaxLoadedBytes bound the loaded blocks (count,
	// and bytes of index headers on local disk); the least recently used blocks that
	// no query holds are unloaded first. 0 means no bound.
	MaxLoadedBlocks int   `yaml:"max_loaded_blocks"`
	MaxLoadedBytes  int64 `yaml:"max_loaded_bytes"`
	// SeriesHashCacheMaxBytes bounds the memory of the series hashes that
	// query sharding caches per loaded block.
	SeriesHashCacheMaxBytes int64 `yaml:"series_hash_cache_max_bytes"`

	// Cache keeps the ranges of block objects read from the bucket
	// (postings, series, chunks, index headers) in memory or memcached (the
	// app wraps the store-gateway's bucket with it).
	Cache bucket.CacheConfig `yaml:"cache"`
}

// RegisterFlags registers the store-gateway flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.DurationVar(&c.SyncInterval, "store-gateway.sync-interval", 15*time.Minute, "How often the store-gateway re-reads the block list (bucket index) of each tenant it serves and unloads blocks that are gone or no longer owned.")
	f.DurationVar(&c.IgnoreDeletionMarksDelay, "store-gateway.ignore-deletion-marks-delay", time.Hour, "A block marked for deletion longer ago than this is no longer queried. Must be shorter than the compactor's deletion delay.")
	f.IntVar(&c.MaxConcurrentLoads, "store-gateway.max-concurrent-loads", 4, "How many blocks are loaded (their index header read from the bucket) at once.")
	f.DurationVar(&c.IdleTimeout, "store-gateway.block-idle-timeout", time.Hour, "A loaded block that no query used for this long is unloaded (its index header deleted from local disk).")
	f.IntVar(&c.MaxLoadedBlocks, "store-gateway.max-loaded-blocks", 0, "Most blocks kept loaded at once; the least recently used idle block is unloaded first. 0 means no limit.")
	c.Cache.RegisterFlagsWithPrefix(f, "store-gateway.cache.")
	f.Int64Var(&c.MaxLoadedBytes, "store-gateway.max-loaded-bytes", 0, "Most bytes of index headers of loaded blocks kept on local disk; the least recently used idle block is unloaded first. Blocks in use are never unloaded, so this is a soft limit. 0 means no limit.")
	f.Int64Var(&c.SeriesHashCacheMaxBytes, "store-gateway.series-hash-cache-max-bytes", 256<<20, "Most memory of the series label hashes that query sharding caches for the loaded blocks (about 32 bytes per series), so that the shards of a query do not each decode every matching series' labels. A block's hashes are dropped when it is unloaded. 0 disables the cache.")
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return errors.New("store-gateway: the local directory is not set")
	}
	if c.SyncInterval <= 0 {
		return errors.New("store-gateway.sync-interval must be positive")
	}
	if c.IgnoreDeletionMarksDelay < 0 {
		return errors.New("store-gateway.ignore-deletion-marks-delay must not be negative")
	}
	if c.MaxConcurrentLoads <= 0 {
		return errors.New("store-gateway.max-concurrent-loads must be positive")
	}
	if c.IdleTimeout <= 0 {
		return errors.New("store-gateway.block-idle-timeout must be positive")
	}
	if c.MaxLoadedBlocks < 0 || c.MaxLoadedBytes < 0 {
		return errors.New("store-gateway.max-loaded-blocks and max-loaded-bytes must not be negative")
	}
	if c.SeriesHashCacheMaxBytes < 0 {
		return errors.New("store-gateway.series-hash-cache-max-bytes must not be negative")
	}
	if err := c.Cache.Validate(); err != nil {
		return err
	}
	return nil
}
