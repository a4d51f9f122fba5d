package frontend

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"

	"github.com/weft-io/weft/pkg/cacheclient"
)

// Results cache backends of CacheConfig.Backend; "" turns the cache off.
const (
	CacheInMemory  = "inmemory"
	CacheMemcached = "memcached"
)

// maxCacheTTL is memcached's limit: longer TTLs are read as a UNIX time.
const maxCacheTTL = 30 * 24 * time.Hour

// Config of the query-frontend.
type Config struct {
	// SplitInterval splits range queries into parts of at most this
	// long, aligned to multiples of it in UTC; 0 keeps them whole.
	SplitInterval time.Duration `yaml:"split_queries_by_interval"`
	// MaxRetries is how many times a request is retried after a 5xx
	// answer or a connection error of the downstream.
	MaxRetries int `yaml:"max_retries"`
	// DownstreamURL is the querier that a query-frontend running without
	// a querier (and without a scheduler) sends its requests to.
	DownstreamURL string `yaml:"downstream_url"`
	// GenerationRefresh is how often the cache generation of a tenant is
	// derived again from its deletion requests and blocks in the bucket
	// (WithGenerationSource).
	GenerationRefresh time.Duration `yaml:"cache_generation_refresh"`
	ResultsCache      CacheConfig   `yaml:"results_cache"`
}

// CacheConfig configures the results cache.
type CacheConfig struct {
	Backend   string                      `yaml:"backend"`
	TTL       time.Duration               `yaml:"ttl"`
	Memcached cacheclient.MemcachedConfig `yaml:"memcached"`
	InMemory  InMemoryCacheConfig         `yaml:"inmemory"`
}

// InMemoryCacheConfig is the in-process LRU backend of the results cache.
type InMemoryCacheConfig struct {
	MaxSizeBytes int64 `yaml:"max_size_bytes"`
	MaxItemSize  int   `yaml:"max_item_size"`
}

const flagPrefix = "query-frontend."

// RegisterFlags registers the query-frontend flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.DurationVar(&c.SplitInterval, flagPrefix+"split-queries-by-interval", 24*time.Hour, "Split range queries into parts of at most this long, at multiples of it in UTC (each part starts and ends on the query's grid of steps), run in parallel and cached each on its own. 0 keeps queries whole.")
	f.IntVar(&c.MaxRetries, flagPrefix+"max-retries", 5, "How many times a request is retried after a querier answered 5xx or could not be reached. 4xx and 429 answers are never retried.")
	f.StringVar(&c.DownstreamURL, flagPrefix+"downstream-url", "", "URL of the querier (http://host:port) that a query-frontend running without a querier in its process sends queries to.")
	f.DurationVar(&c.GenerationRefresh, flagPrefix+"cache-generation-refresh", time.Minute, "How often the results cache generation of a tenant is derived again from its series deletion requests and blocks in the bucket; a deletion the compactor applied, or blocks removed by retention, invalidate the tenant's cached results within this long.")
	p := flagPrefix + "results-cache."
	f.StringVar(&c.ResultsCache.Backend, p+"backend", CacheInMemory, "Cache of range query results: \"\" (off), \""+CacheInMemory+"\" (in the process, bounded in bytes) or \""+CacheMemcached+"\".")
	f.DurationVar(&c.ResultsCache.TTL, p+"ttl", 7*24*time.Hour, "How long a cached result is kept (at most 30 days).")
	m := &c.ResultsCache.Memcached
	f.Var(&m.Addresses, p+"memcached.addresses", "Comma-separated memcached addresses (host:port, or dns+host:port / dnssrv+_service._proto.host to resolve them with DNS).")
	f.DurationVar(&m.Timeout, p+"memcached.timeout", 200*time.Millisecond, "Read and write timeout of memcached requests; on timeout the query runs as if nothing were cached.")
	f.DurationVar(&m.ConnectTimeout, p+"memcached.connect-timeout", 200*time.Millisecond, "Timeout of connecting to memcached.")
	f.IntVar(&m.MaxItemSize, p+"memcached.max-item-size", 1<<20, "Largest cached result of one split part in bytes; bigger ones are not cached. Keep it below the server's item size limit (memcached -I, 1 MiB by default, which includes the key).")
	f.IntVar(&m.MaxIdleConnections, p+"memcached.max-idle-connections", 100, "Idle connections kept open to each memcached server.")
	f.IntVar(&m.MaxAsyncConcurrency, p+"memcached.max-async-concurrency", 50, "Concurrent background writes to memcached.")
	f.IntVar(&m.MaxAsyncBufferSize, p+"memcached.max-async-buffer-size", 25000, "Background writes to memcached that may wait; more are dropped.")
	f.Int64Var(&c.ResultsCache.InMemory.MaxSizeBytes, p+"inmemory.max-size-bytes", 256<<20, "Memory the in-process results cache may use; the least recently used results are evicted beyond it.")
	f.IntVar(&c.ResultsCache.InMemory.MaxItemSize, p+"inmemory.max-item-size", 16<<20, "Largest cached result of one split part in bytes; bigger ones are not cached.")
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.SplitInterval < 0 {
		errs = append(errs, fmt.Errorf("-%ssplit-queries-by-interval must not be negative, not %s", flagPrefix, c.SplitInterval))
	}
	if c.SplitInterval > 0 && c.SplitInterval%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("-%ssplit-queries-by-interval must be a whole number of milliseconds, not %s", flagPrefix, c.SplitInterval))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("-%smax-retries must not be negative, not %d", flagPrefix, c.MaxRetries))
	}
	if c.GenerationRefresh <= 0 {
		errs = append(errs, fmt.Errorf("-%scache-generation-refresh must be positive, not %s", flagPrefix, c.GenerationRefresh))
	}
	if c.DownstreamURL != "" {
		if u, err := url.Parse(c.DownstreamURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("-%sdownstream-url must be an http:// or https:// URL with a host, not %q", flagPrefix, c.DownstreamURL))
		}
	}
	p := "-" + flagPrefix + "results-cache."
	rc := c.ResultsCache
	switch rc.Backend {
	case "":
	case CacheInMemory:
		if rc.InMemory.MaxSizeBytes <= 0 {
			errs = append(errs, fmt.Errorf("%sinmemory.max-size-bytes must be positive, not %d", p, rc.InMemory.MaxSizeBytes))
		}
		if rc.InMemory.MaxItemSize <= 0 || int64(rc.InMemory.MaxItemSize) > rc.InMemory.MaxSizeBytes {
			errs = append(errs, fmt.Errorf("%sinmemory.max-item-size must be positive and at most %sinmemory.max-size-bytes (%d), not %d", p, p, rc.InMemory.MaxSizeBytes, rc.InMemory.MaxItemSize))
		}
	case CacheMemcached:
		if err := rc.Memcached.Validate(p); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("unknown results cache backend %q (%sbackend): use \"\", %q or %q", rc.Backend, p, CacheInMemory, CacheMemcached))
	}
	if rc.Backend != "" && (rc.TTL < time.Second || rc.TTL > maxCacheTTL) {
		errs = append(errs, fmt.Errorf("%sttl must be between 1s and %s, not %s", p, maxCacheTTL, rc.TTL))
	}
	return errors.Join(errs...)
}
