package bucket

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grafana/dskit/cache"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/cacheclient"
	"github.com/weft-io/weft/pkg/logutil"
)

// Cache backends of CacheConfig.Backend; "" turns the cache off.
const (
	CacheInMemory  = "inmemory"
	CacheMemcached = "memcached"
)

// maxCacheTTL is memcached's limit: longer TTLs are read as a UNIX time.
const maxCacheTTL = 30 * 24 * time.Hour

// CacheConfig configures the cache of immutable block objects that
// NewCachingBucket puts in front of a bucket. The same struct is a YAML
// section and the flags under the prefix given to RegisterFlagsWithPrefix.
type CacheConfig struct {
	Backend string        `yaml:"backend"`
	TTL     time.Duration `yaml:"ttl"`
	// SubrangeSize is the size of the aligned pieces in which GetRange
	// results are cached, so that overlapping ranges share entries; 0
	// caches each exact range instead.
	SubrangeSize int64                `yaml:"subrange_size"`
	Memcached    MemcachedCacheConfig `yaml:"memcached"`
	InMemory     InMemoryCacheConfig  `yaml:"inmemory"`

	flagPrefix string // for error messages; set by RegisterFlagsWithPrefix
}

// MemcachedCacheConfig is the memcached backend of the cache.
type MemcachedCacheConfig = cacheclient.MemcachedConfig

// InMemoryCacheConfig is the in-process LRU backend of the cache.
type InMemoryCacheConfig struct {
	MaxSizeBytes int64 `yaml:"max_size_bytes"`
	MaxItemSize  int   `yaml:"max_item_size"`
}

// RegisterFlagsWithPrefix registers the cache flags under prefix, which
// ends with a dot ("store-gateway.cache.").
func (c *CacheConfig) RegisterFlagsWithPrefix(f *flag.FlagSet, prefix string) {
	c.flagPrefix = prefix
	f.StringVar(&c.Backend, prefix+"backend", "", "Cache of immutable block objects (meta.json, index, chunks, tombstones) read from the bucket: \"\" (off), \""+CacheInMemory+"\" or \""+CacheMemcached+"\".")
	f.DurationVar(&c.TTL, prefix+"ttl", 24*time.Hour, "How long a cached block object is kept (at most 30 days).")
	f.Int64Var(&c.SubrangeSize, prefix+"subrange-size", 16<<10, "Range reads are cached in aligned pieces of this many bytes, shared by overlapping ranges; 0 caches each exact range instead.")

	f.Var(&c.Memcached.Addresses, prefix+"memcached.addresses", "Comma-separated memcached addresses (host:port, or dns+host:port / dnssrv+_service._proto.host to resolve them with DNS).")
	f.DurationVar(&c.Memcached.Timeout, prefix+"memcached.timeout", 200*time.Millisecond, "Read and write timeout of memcached requests; on timeout the object is read from the bucket.")
	f.DurationVar(&c.Memcached.ConnectTimeout, prefix+"memcached.connect-timeout", 200*time.Millisecond, "Timeout of connecting to memcached.")
	f.IntVar(&c.Memcached.MaxItemSize, prefix+"memcached.max-item-size", 1<<20, "Largest object or range stored in memcached, in bytes; bigger ones are always read from the bucket. Keep it below the server's item size limit (memcached -I, 1 MiB by default, which includes the key).")
	f.IntVar(&c.Memcached.MaxIdleConnections, prefix+"memcached.max-idle-connections", 100, "Idle connections kept open to each memcached server.")
	f.IntVar(&c.Memcached.MaxAsyncConcurrency, prefix+"memcached.max-async-concurrency", 50, "Concurrent background writes to memcached.")
	f.IntVar(&c.Memcached.MaxAsyncBufferSize, prefix+"memcached.max-async-buffer-size", 25000, "Background writes to memcached that may wait; more are dropped.")

	f.Int64Var(&c.InMemory.MaxSizeBytes, prefix+"inmemory.max-size-bytes", 256<<20, "Memory the in-memory cache may use for cached bytes; the least recently used objects are evicted beyond it.")
	f.IntVar(&c.InMemory.MaxItemSize, prefix+"inmemory.max-item-size", 1<<20, "Largest object or range stored in the in-memory cache, in bytes; bigger ones are always read from the bucket.")
}

// Validate reports a configuration that cannot work.
func (c *CacheConfig) Validate() error {
	p := "-" + c.flagPrefix
	switch c.Backend {
	case "":
		return nil
	case CacheInMemory:
		if c.InMemory.MaxSizeBytes <= 0 {
			return fmt.Errorf("%sinmemory.max-size-bytes must be positive, not %d", p, c.InMemory.MaxSizeBytes)
		}
		if c.InMemory.MaxItemSize <= 0 || int64(c.InMemory.MaxItemSize) > c.InMemory.MaxSizeBytes {
			return fmt.Errorf("%sinmemory.max-item-size must be positive and at most %sinmemory.max-size-bytes (%d), not %d", p, p, c.InMemory.MaxSizeBytes, c.InMemory.MaxItemSize)
		}
	case CacheMemcached:
		if err := c.Memcached.Validate(p); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown cache backend %q (%sbackend): use \"\", %q or %q", c.Backend, p, CacheInMemory, CacheMemcached)
	}
	if c.TTL < time.Second || c.TTL > maxCacheTTL {
		return fmt.Errorf("%sttl must be between 1s and %s, not %s", p, maxCacheTTL, c.TTL)
	}
	if c.SubrangeSize < 0 || c.SubrangeSize > int64(c.maxItemSize()) {
		return fmt.Errorf("%ssubrange-size must be between 0 and the max item size (%d), not %d", p, c.maxItemSize(), c.SubrangeSize)
	}
	return nil
}

func (c *CacheConfig) maxItemSize() int {
	if c.Backend == CacheMemcached {
		return c.Memcached.MaxItemSize
	}
	return c.InMemory.MaxItemSize
}

// NewCachingBucket returns b with a cache in front of it for the objects
// of blocks, which never change once written: <tenant>/<ULID>/meta.json,
// index, tombstones and chunks/<number>. Every other object (deletion
// marks, bucket indexes, anything not in a block) is read from b each
// time. When cfg.Backend is "" it returns b itself.
//
// For block objects it caches:
//   - Get of objects up to the max item size (bigger ones stream from b);
//   - GetRange, in aligned pieces of cfg.SubrangeSize (or exact ranges);
//   - Attributes, and Exists when the answer is true.
//
// Errors are never cached, and a cache that fails or times out is a miss:
// the object is read from b. Iter, IterWithAttributes and Upload go to b;
// Delete also removes the object's entries from the cache, best effort (a
// read in flight may store it again; the content is still that of the
// immutable object).
//
// reg gets weft_bucket_cache_{requests,hits,served_bytes}_total{op} and, for
// memcached, dskit's client metrics (cache name "bucket"). One caching
// bucket may use a registerer: wrap reg with a distinguishing label (e.g.
// component) for others; a second one on the same reg is an error.
//
// Close stops the cache client; it does not close b, which the caller
// owns (it is often shared by several components).
func NewCachingBucket(b objstore.Bucket, cfg CacheConfig, reg prometheus.Registerer, logger *slog.Logger) (objstore.Bucket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Backend == "" {
		return b, nil
	}
	logger = logutil.OrNop(logger)
	// Metrics first: a second caching bucket on reg fails here, before
	// a memcached client (and its goroutines) exists.
	m, err := newCacheMetrics(reg)
	if err != nil {
		return nil, err
	}
	var c cache.Cache
	switch cfg.Backend {
	case CacheInMemory:
		c = cacheclient.NewInMemory(cfg.InMemory.MaxSizeBytes, cfg.InMemory.MaxItemSize)
	case CacheMemcached:
		mc, err := cacheclient.NewMemcached(cfg.Memcached, "bucket", reg, logger)
		if err != nil {
			m.unregister(reg)
			return nil, fmt.Errorf("cannot create the memcached client of the bucket cache: %w", err)
		}
		c = mc
	}
	return &cachingBucket{
		b:       b,
		c:       c,
		m:       m,
		ttl:     cfg.TTL,
		maxItem: int64(cfg.maxItemSize()),
		sub:     cfg.SubrangeSize,
		stop:    &sync.Once{},
	}, nil
}

// Cache operations: the op label of the metrics and part of the keys.
const (
	cacheOpGet        = "get"
	cacheOpGetRange   = "get_range"
	cacheOpAttributes = "attributes"
	cacheOpExists     = "exists"
)

type cacheMetrics struct {
	requests, hits, servedBytes *prometheus.CounterVec
}

func (m *cacheMetrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.hits, m.servedBytes}
}

func (m *cacheMetrics) unregister(reg prometheus.Registerer) {
	if reg != nil {
		for _, c := range m.all() {
			reg.Unregister(c)
		}
	}
}

func newCacheMetrics(reg prometheus.Registerer) (*cacheMetrics, error) {
	m := &cacheMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_bucket_cache_requests_total",
			Help: "Lookups of block objects in the bucket cache, by operation (for get_range, one per cached piece).",
		}, []string{"op"}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_bucket_cache_hits_total",
			Help: "Lookups of block objects that the bucket cache answered, by operation.",
		}, []string{"op"}),
		servedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_bucket_cache_served_bytes_total",
			Help: "Bytes of block objects served from the bucket cache instead of the bucket, by operation.",
		}, []string{"op"}),
	}
	if reg != nil {
		for i, cv := range m.all() {
			if err := reg.Register(cv); err != nil {
				for _, done := range m.all()[:i] {
					reg.Unregister(done)
				}
				return nil, fmt.Errorf("cannot register the bucket cache metrics (one caching bucket per registerer: wrap it with a distinguishing label): %w", err)
			}
		}
	}
	for _, op := range []string{cacheOpGet, cacheOpGetRange, cacheOpAttributes, cacheOpExists} {
		m.requests.WithLabelValues(op)
		m.hits.WithLabelValues(op)
		m.servedBytes.WithLabelValues(op)
	}
	return m, nil
}

// cachingBucket is the bucket NewCachingBucket returns.
type cachingBucket struct {
	b       objstore.Bucket
	c       cache.Cache
	m       *cacheMetrics
	ttl     time.Duration
	maxItem int64
	sub     int64
	stop    *sync.Once // shared by the copies WithExpectedErrs makes
}

var _ objstore.InstrumentedBucket = (*cachingBucket)(nil)

// cacheable reports whether name is an immutable object of a block:
// <tenant>/<ULID>/meta.json, index, tombstones or chunks/<digits>.
func cacheable(name string) bool {
	tenant, rest, ok := strings.Cut(name, "/")
	if !ok || tenant == "" {
		return false
	}
	id, file, ok := strings.Cut(rest, "/")
	if !ok {
		return false
	}
	if u, err := ulid.ParseStrict(id); err != nil || u.String() != id {
		return false // only the canonical (upper case) form names a block
	}
	switch file {
	case "meta.json", "index", "tombstones":
		return true
	}
	seg, ok := strings.CutPrefix(file, "chunks/")
	if !ok || seg == "" {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return true
}

// maxKeyLen is memcached's limit on the length of keys.
const maxKeyLen = 250

// cacheKey returns the key of an entry: "weft:b1:<kind>:<name>" when that
// is a valid memcached key (at most 250 printable non-space ASCII bytes),
// else "weft:b1:<kind>#<hex sha256 of name>". kind holds neither ':' nor
// '#', so the two forms cannot collide.
func cacheKey(kind, name string) string {
	k := "weft:b1:" + kind + ":" + name
	if len(k) <= maxKeyLen && printableASCII(name) {
		return k
	}
	sum := sha256.Sum256([]byte(name))
	return "weft:b1:" + kind + "#" + hex.EncodeToString(sum[:])
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func subrangeKey(name string, sub, start int64) string {
	return cacheKey("sub/"+strconv.FormatInt(sub, 10)+"/"+strconv.FormatInt(start, 10), name)
}

func rangeKey(name string, off, length int64) string {
	return cacheKey("rng/"+strconv.FormatInt(off, 10)+"/"+strconv.FormatInt(length, 10), name)
}

// lookup returns the value of key, counting the request under op.
func (c *cachingBucket) lookup(ctx context.Context, op, key string) ([]byte, bool) {
	c.m.requests.WithLabelValues(op).Inc()
	v, ok := c.c.GetMulti(ctx, []string{key})[key]
	if ok {
		c.m.hits.WithLabelValues(op).Inc()
	}
	return v, ok
}

func (c *cachingBucket) store(key string, v []byte) {
	if int64(len(v)) <= c.maxItem {
		c.c.SetAsync(key, v, c.ttl)
	}
}

// Get implements objstore.Bucket.
func (c *cachingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if !cacheable(name) {
		return c.b.Get(ctx, name)
	}
	key := cacheKey(cacheOpGet, name)
	if v, ok := c.lookup(ctx, cacheOpGet, key); ok {
		c.m.servedBytes.WithLabelValues(cacheOpGet).Add(float64(len(v)))
		return objstore.NopCloserWithSize(bytes.NewReader(v)), nil
	}
	rc, err := c.b.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if size, err := objstore.TryToGetSize(rc); err == nil && size > c.maxItem {
		return rc, nil
	}
	// Size unknown, or small: read at most one byte more than an item
	// may hold to learn whether the whole object fits.
	buf, err := io.ReadAll(io.LimitReader(rc, c.maxItem+1))
	if err != nil {
		_ = rc.Close()
		return nil, err
	}
	if int64(len(buf)) > c.maxItem {
		return &readCloser{Reader: io.MultiReader(bytes.NewReader(buf), rc), close: rc.Close}, nil
	}
	_ = rc.Close() // the whole object is read
	c.store(key, buf)
	return objstore.NopCloserWithSize(bytes.NewReader(buf)), nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// GetRange implements objstore.Bucket. Ranges of block objects are served
// from cached pieces; a range that starts at or past the object's end, an
// object whose size cannot be learnt, and (without subranges) a range
// bigger than an item go to the bucket, which gives its own answer.
func (c *cachingBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if !cacheable(name) || off < 0 || length == 0 || length < -1 {
		return c.b.GetRange(ctx, name, off, length)
	}
	attrs, err := c.Attributes(ctx, name)
	if err != nil || off >= attrs.Size {
		return c.b.GetRange(ctx, name, off, length)
	}
	size := attrs.Size
	end := size
	if length > 0 && length < size-off {
		end = off + length
	}
	var out []byte
	if c.sub == 0 {
		out, err = c.getExactRange(ctx, name, off, end)
	} else {
		out, err = c.getSubranges(ctx, name, size, off, end)
	}
	if err != nil {
		return nil, err
	}
	if out == nil { // not cacheable as one item
		return c.b.GetRange(ctx, name, off, length)
	}
	return objstore.NopCloserWithSize(bytes.NewReader(out)), nil
}

// getExactRange returns [off, end) of name through a cache entry of
// exactly that range, or nil when the range is bigger than an item.
func (c *cachingBucket) getExactRange(ctx context.Context, name string, off, end int64) ([]byte, error) {
	n := end - off
	if n > c.maxItem {
		return nil, nil
	}
	key := rangeKey(name, off, n)
	if v, ok := c.lookup(ctx, cacheOpGetRange, key); ok && int64(len(v)) == n {
		c.m.servedBytes.WithLabelValues(cacheOpGetRange).Add(float64(n))
		return v, nil
	}
	v, err := ReadRange(ctx, c.b, name, off, n)
	if err != nil {
		return nil, err
	}
	c.store(key, v)
	return v, nil
}

// getSubranges returns [off, end) of name, an object of size bytes, from
// the cached pieces [k*sub, (k+1)*sub) that it overlaps, reading each run
// of missing pieces from the bucket with one GetRange and caching them.
func (c *cachingBucket) getSubranges(ctx context.Context, name string, size, off, end int64) ([]byte, error) {
	first := off / c.sub * c.sub
	n := int((end - first + c.sub - 1) / c.sub)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = subrangeKey(name, c.sub, first+int64(i)*c.sub)
	}
	c.m.requests.WithLabelValues(cacheOpGetRange).Add(float64(n))
	hits := c.c.GetMulti(ctx, keys)

	pieceLen := func(start int64) int64 { return min(c.sub, size-start) }
	pieces := make([][]byte, n)
	var hitCount int
	var served int64
	for i, k := range keys {
		start := first + int64(i)*c.sub
		if v, ok := hits[k]; ok && int64(len(v)) == pieceLen(start) {
			pieces[i] = v
			hitCount++
			served += min(start+int64(len(v)), end) - max(start, off)
		}
	}
	c.m.hits.WithLabelValues(cacheOpGetRange).Add(float64(hitCount))
	c.m.servedBytes.WithLabelValues(cacheOpGetRange).Add(float64(served))

	for i := 0; i < n; {
		if pieces[i] != nil {
			i++
			continue
		}
		j := i
		for j < n && pieces[j] == nil {
			j++
		}
		runStart := first + int64(i)*c.sub
		runEnd := min(first+int64(j)*c.sub, size)
		buf, err := ReadRange(ctx, c.b, name, runStart, runEnd-runStart)
		if err != nil {
			return nil, err
		}
		for k := i; k < j; k++ {
			s := int64(k-i) * c.sub
			// A copy, so that a cached piece does not keep the whole run
			// in memory.
			p := bytes.Clone(buf[s : s+pieceLen(runStart+s)])
			pieces[k] = p
			c.store(keys[k], p)
		}
		i = j
	}

	out := make([]byte, 0, end-off)
	for i, p := range pieces {
		start := first + int64(i)*c.sub
		lo := max(off-start, 0)
		hi := min(end-start, int64(len(p)))
		out = append(out, p[lo:hi]...)
	}
	return out, nil
}

// ReadRange reads exactly n bytes at off of the object name.
func ReadRange(ctx context.Context, b objstore.BucketReader, name string, off, n int64) ([]byte, error) {
	rc, err := b.GetRange(ctx, name, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("cannot read %d bytes at %d of %q: the object is shorter than its attributes say: %w", n, off, name, err)
		}
		return nil, err
	}
	return buf, nil
}

// Attributes implements objstore.Bucket.
func (c *cachingBucket) Attributes(ctx context.Context, name string) (objstore.ObjectAttributes, error) {
	if !cacheable(name) {
		return c.b.Attributes(ctx, name)
	}
	key := cacheKey(cacheOpAttributes, name)
	if v, ok := c.lookup(ctx, cacheOpAttributes, key); ok {
		if a, err := decodeAttributes(v); err == nil {
			c.m.servedBytes.WithLabelValues(cacheOpAttributes).Add(float64(len(v)))
			return a, nil
		}
	}
	a, err := c.b.Attributes(ctx, name)
	if err != nil {
		return a, err
	}
	if v, err := encodeAttributes(a); err == nil {
		c.store(key, v)
	}
	return a, nil
}

// encodeAttributes is the size (8 bytes, big endian) then the last
// modification time in time.Time's binary form.
func encodeAttributes(a objstore.ObjectAttributes) ([]byte, error) {
	t, err := a.LastModified.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint64(nil, uint64(a.Size)), t...), nil
}

func decodeAttributes(v []byte) (objstore.ObjectAttributes, error) {
	var a objstore.ObjectAttributes
	if len(v) < 8 {
		return a, errors.New("short attributes entry")
	}
	a.Size = int64(binary.BigEndian.Uint64(v))
	if a.Size < 0 {
		return a, errors.New("negative size")
	}
	return a, a.LastModified.UnmarshalBinary(v[8:])
}

// Exists implements objstore.Bucket. Only "true" is cached: a block
// object that does not exist yet may be uploaded at any time.
func (c *cachingBucket) Exists(ctx context.Context, name string) (bool, error) {
	if !cacheable(name) {
		return c.b.Exists(ctx, name)
	}
	key := cacheKey(cacheOpExists, name)
	if _, ok := c.lookup(ctx, cacheOpExists, key); ok {
		return true, nil
	}
	ok, err := c.b.Exists(ctx, name)
	if err == nil && ok {
		c.store(key, []byte{1})
	}
	return ok, err
}

// maxForgottenSubranges bounds the keys Delete removes for the pieces of
// one object: beyond it, they are left to expire.
const maxForgottenSubranges = 1024

// Delete implements objstore.Bucket. The cache entries of name are
// removed too, best effort: all but exact ranges (which cannot be listed)
// and the pieces of very big objects, which expire with the TTL.
func (c *cachingBucket) Delete(ctx context.Context, name string) error {
	err := c.b.Delete(ctx, name)
	if cacheable(name) {
		c.forget(ctx, name)
	}
	return err
}

func (c *cachingBucket) forget(ctx context.Context, name string) {
	keys := []string{cacheKey(cacheOpGet, name), cacheKey(cacheOpExists, name)}
	attrsKey := cacheKey(cacheOpAttributes, name)
	if v, ok := c.c.GetMulti(ctx, []string{attrsKey})[attrsKey]; ok && c.sub > 0 {
		if a, err := decodeAttributes(v); err == nil && a.Size/c.sub < maxForgottenSubranges {
			for start := int64(0); start < a.Size; start += c.sub {
				keys = append(keys, subrangeKey(name, c.sub, start))
			}
		}
	}
	keys = append(keys, attrsKey) // last: it finds the pieces
	for _, k := range keys {
		_ = c.c.Delete(ctx, k) // a missing key is an error too
	}
}

// Upload implements objstore.Bucket.
func (c *cachingBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	return c.b.Upload(ctx, name, r, opts...)
}

// Iter implements objstore.Bucket.
func (c *cachingBucket) Iter(ctx context.Context, dir string, f func(string) error, opts ...objstore.IterOption) error {
	return c.b.Iter(ctx, dir, f, opts...)
}

// IterWithAttributes implements objstore.Bucket.
func (c *cachingBucket) IterWithAttributes(ctx context.Context, dir string, f func(objstore.IterObjectAttributes) error, opts ...objstore.IterOption) error {
	return c.b.IterWithAttributes(ctx, dir, f, opts...)
}

// SupportedIterOptions implements objstore.Bucket.
func (c *cachingBucket) SupportedIterOptions() []objstore.IterOptionType {
	return c.b.SupportedIterOptions()
}

// IsObjNotFoundErr implements objstore.Bucket.
func (c *cachingBucket) IsObjNotFoundErr(err error) bool { return c.b.IsObjNotFoundErr(err) }

// IsAccessDeniedErr implements objstore.Bucket.
func (c *cachingBucket) IsAccessDeniedErr(err error) bool { return c.b.IsAccessDeniedErr(err) }

// Provider implements objstore.Bucket.
func (c *cachingBucket) Provider() objstore.ObjProvider { return c.b.Provider() }

// Name implements objstore.Bucket.
func (c *cachingBucket) Name() string { return c.b.Name() }

// Close stops the cache client (pending background writes are dropped
// or finished). It does not close the wrapped bucket. Safe to call twice.
func (c *cachingBucket) Close() error {
	c.stop.Do(c.c.Stop)
	return nil
}

// WithExpectedErrs implements objstore.InstrumentedBucket.
func (c *cachingBucket) WithExpectedErrs(fn objstore.IsOpFailureExpectedFunc) objstore.Bucket {
	ib, ok := c.b.(objstore.InstrumentedBucket)
	if !ok {
		return c
	}
	cp := *c
	cp.b = ib.WithExpectedErrs(fn)
	return &cp
}

// ReaderWithExpectedErrs implements objstore.InstrumentedBucket.
func (c *cachingBucket) ReaderWithExpectedErrs(fn objstore.IsOpFailureExpectedFunc) objstore.BucketReader {
	return c.WithExpectedErrs(fn)
}
