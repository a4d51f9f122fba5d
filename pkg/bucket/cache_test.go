package bucket

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
	"gopkg.in/yaml.v3"

	"github.com/weft-io/weft/internal/memcachedtest"
)

// countingBucket counts the reads that reach the bucket it wraps.
type countingBucket struct {
	objstore.Bucket
	gets, getRanges, attrs, exists atomic.Int64
}

func (c *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Bucket.Get(ctx, name)
}

func (c *countingBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	c.getRanges.Add(1)
	return c.Bucket.GetRange(ctx, name, off, length)
}

func (c *countingBucket) Attributes(ctx context.Context, name string) (objstore.ObjectAttributes, error) {
	c.attrs.Add(1)
	return c.Bucket.Attributes(ctx, name)
}

func (c *countingBucket) Exists(ctx context.Context, name string) (bool, error) {
	c.exists.Add(1)
	return c.Bucket.Exists(ctx, name)
}

// reads is every read that reached the bucket.
func (c *countingBucket) reads() int64 {
	return c.gets.Load() + c.getRanges.Load() + c.attrs.Load() + c.exists.Load()
}

func newCountingBucket(t *testing.T) *countingBucket {
	t.Helper()
	fs, err := filesystem.NewBucket(t.TempDir())
	require.NoError(t, err)
	return &countingBucket{Bucket: fs}
}

// testCacheConfig is the flags' defaults for backend, with small items
// and pieces so that tests cross their limits with small objects.
func testCacheConfig(t *testing.T, backend string, addr string) CacheConfig {
	t.Helper()
	var c CacheConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlagsWithPrefix(fs, "test.cache.")
	require.NoError(t, fs.Parse(nil))
	c.Backend = backend
	c.SubrangeSize = 1000
	c.Memcached.MaxItemSize = 64 << 10
	c.InMemory.MaxItemSize = 64 << 10
	if addr != "" {
		c.Memcached.Addresses = []string{addr}
	}
	return c
}

type cacheFixture struct {
	under  *countingBucket
	bkt    objstore.Bucket
	reg    *prometheus.Registry
	server *memcachedtest.Server // nil for the in-memory backend
	// Objects: name -> content.
	small, big, meta, chunk string
	objects                 map[string][]byte
}

func newCacheFixture(t *testing.T, backend string, tweak ...func(*CacheConfig)) *cacheFixture {
	t.Helper()
	f := &cacheFixture{under: newCountingBucket(t), reg: prometheus.NewRegistry(), objects: map[string][]byte{}}
	addr := ""
	if backend == CacheMemcached {
		f.server = memcachedtest.Start(t)
		addr = f.server.Addr
	}
	cfg := testCacheConfig(t, backend, addr)
	for _, fn := range tweak {
		fn(&cfg)
	}
	var err error
	f.bkt, err = NewCachingBucket(f.under, cfg, f.reg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.bkt.Close()) })

	id := ulid.MustNew(1, nil).String()
	f.meta = "tenant-a/" + id + "/meta.json"
	f.small = "tenant-a/" + id + "/index"
	f.chunk = "tenant-a/" + id + "/chunks/000001"
	f.big = "tenant-a/" + id + "/chunks/000002"
	f.put(t, f.meta, []byte(`{"ulid":"`+id+`","version":1}`))
	f.put(t, f.small, randomBytes(t, 20_500)) // ends inside a piece
	f.put(t, f.chunk, randomBytes(t, 7_000))
	f.put(t, f.big, randomBytes(t, 200_000)) // over the max item size
	return f
}

func (f *cacheFixture) put(t *testing.T, name string, data []byte) {
	t.Helper()
	require.NoError(t, f.under.Upload(context.Background(), name, bytes.NewReader(data)))
	f.objects[name] = data
}

// eventuallyCached repeats read until it no longer reaches the bucket
// (memcached stores asynchronously), then checks that it stays so.
func (f *cacheFixture) eventuallyCached(t *testing.T, read func()) {
	t.Helper()
	require.Eventually(t, func() bool {
		before := f.under.reads()
		read()
		return f.under.reads() == before
	}, 5*time.Second, 10*time.Millisecond)
	before := f.under.reads()
	for range 5 {
		read()
	}
	require.Equal(t, before, f.under.reads(), "cached reads reached the bucket")
}

func getAll(t *testing.T, b objstore.Bucket, name string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), name)
	return readAll(t, rc, err)
}

func getRange(t *testing.T, b objstore.Bucket, name string, off, length int64) []byte {
	t.Helper()
	rc, err := b.GetRange(context.Background(), name, off, length)
	return readAll(t, rc, err)
}

// wantRange is what GetRange(off, length) of data returns.
func wantRange(data []byte, off, length int64) []byte {
	end := int64(len(data))
	if length >= 0 && off+length < end {
		end = off + length
	}
	return data[off:end]
}

// forEachBackend runs fn with the in-memory cache and with memcached.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, backend := range []string{CacheInMemory, CacheMemcached} {
		t.Run(backend, func(t *testing.T) { fn(t, backend) })
	}
}

func TestCachingBucketServesBlockObjectsFromCache(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newCacheFixture(t, backend)
		ctx := context.Background()
		for _, name := range []string{f.meta, f.small, f.chunk} {
			f.eventuallyCached(t, func() { require.Equal(t, f.objects[name], getAll(t, f.bkt, name)) })
		}
		f.eventuallyCached(t, func() {
			a, err := f.bkt.Attributes(ctx, f.small)
			require.NoError(t, err)
			require.Equal(t, int64(len(f.objects[f.small])), a.Size)
			require.False(t, a.LastModified.IsZero())
		})
		f.eventuallyCached(t, func() {
			ok, err := f.bkt.Exists(ctx, f.meta)
			require.NoError(t, err)
			require.True(t, ok)
		})
		f.eventuallyCached(t, func() {
			require.Equal(t, f.objects[f.small][1500:4500], getRange(t, f.bkt, f.small, 1500, 3000))
		})
		// Overlapping ranges share the pieces already read.
		before := f.under.reads()
		require.Equal(t, f.objects[f.small][2000:4000], getRange(t, f.bkt, f.small, 2000, 2000))
		require.Equal(t, before, f.under.reads())

		// A block object that does not exist is asked again each time,
		// and found once uploaded.
		missing := strings.Replace(f.meta, "meta.json", "tombstones", 1)
		for range 2 {
			ok, err := f.bkt.Exists(ctx, missing)
			require.NoError(t, err)
			require.False(t, ok)
			_, err = f.bkt.Get(ctx, missing)
			require.True(t, f.bkt.IsObjNotFoundErr(err), "%v", err)
		}
		f.put(t, missing, []byte("tombstones"))
		ok, err := f.bkt.Exists(ctx, missing)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, []byte("tombstones"), getAll(t, f.bkt, missing))

		for _, op := range []string{cacheOpGet, cacheOpGetRange, cacheOpAttributes, cacheOpExists} {
			require.Positive(t, counterValue(t, f.reg, "weft_bucket_cache_hits_total", op), op)
			require.Greater(t, counterValue(t, f.reg, "weft_bucket_cache_requests_total", op), counterValue(t, f.reg, "weft_bucket_cache_hits_total", op), op)
		}
		require.Positive(t, counterValue(t, f.reg, "weft_bucket_cache_served_bytes_total", cacheOpGet))
		served, err := testutil.GatherAndCount(f.reg, "weft_bucket_cache_served_bytes_total")
		require.NoError(t, err)
		require.Equal(t, 4, served)
		if backend == CacheMemcached {
			n, err := testutil.GatherAndCount(f.reg, "cache_operations_total")
			require.NoError(t, err)
			require.Positive(t, n, "dskit's memcached client metrics")
		}
	})
}

// counterValue is the value of the counter name{op="op"} in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, op string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && l.GetValue() == op {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{op=%q}", name, op)
	return 0
}

func TestCachingBucketRangesAreExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		for _, sub := range []int64{1000, 0} {
			t.Run(fmt.Sprintf("subrange-size=%d", sub), func(t *testing.T) {
				f := newCacheFixture(t, backend, func(c *CacheConfig) { c.SubrangeSize = sub })
				rng := rand.New(rand.NewPCG(1, uint64(sub)))
				for _, name := range []string{f.small, f.chunk, f.big} {
					data := f.objects[name]
					size := int64(len(data))
					cases := [][2]int64{
						{0, -1}, {0, size}, {0, size + 10}, {size - 1, 1}, {size - 1, -1}, {size - 1, 100},
						{999, 2}, {1000, 1000}, {999, 1002}, {1, 1}, {0, 1},
					}
					for range 200 {
						off := rng.Int64N(size)
						length := rng.Int64N(3*max(sub, 1000)) + 1
						if rng.IntN(10) == 0 {
							length = -1
						}
						cases = append(cases, [2]int64{off, length})
					}
					// Twice: first filling the cache, then from it.
					for range 2 {
						for _, c := range cases {
							got := getRange(t, f.bkt, name, c[0], c[1])
							require.Equal(t, wantRange(data, c[0], c[1]), got, "%s off=%d length=%d", name, c[0], c[1])
						}
					}
				}
				// Pieces of big objects are cached too.
				if sub > 0 {
					f.eventuallyCached(t, func() {
						require.Equal(t, f.objects[f.big][150_000:160_000], getRange(t, f.bkt, f.big, 150_000, 10_000))
					})
				}
			})
		}
	})
}

func TestCachingBucketMutableObjectsComeFromTheBucket(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newCacheFixture(t, backend)
		ctx := context.Background()
		id := "01JZ4K8W5QXYV3T2M7N9PBCDEF"
		names := []string{
			"tenant-a/" + id + "/deletion-mark.json",
			"tenant-a/" + id + "/no-compact-mark.json",
			"tenant-a/bucket-index.json.gz",
			"tenant-a/not-a-ulid/index",
			"tenant-a/" + id + "/chunks/extra.json",
			"tenant-a/" + strings.ToLower(id) + "/index", // not the canonical ULID form
		}
		for _, name := range names {
			for i := range 3 {
				data := []byte(fmt.Sprintf("version %d of %s", i, name))
				f.put(t, name, data)
				before := f.under.reads()
				require.Equal(t, data, getAll(t, f.bkt, name))
				require.Equal(t, data[2:5], getRange(t, f.bkt, name, 2, 3))
				a, err := f.bkt.Attributes(ctx, name)
				require.NoError(t, err)
				require.Equal(t, int64(len(data)), a.Size)
				ok, err := f.bkt.Exists(ctx, name)
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, before+4, f.under.reads(), name)
				if backend == CacheMemcached {
					time.Sleep(20 * time.Millisecond) // let a wrong async write land
				}
			}
			require.NoError(t, f.bkt.Delete(ctx, name))
			ok, err := f.bkt.Exists(ctx, name)
			require.NoError(t, err)
			require.False(t, ok)
		}
	})
}

func TestCachingBucketBigObjectsAreNotCached(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newCacheFixture(t, backend)
		for i := range 3 {
			before := f.under.gets.Load()
			require.Equal(t, f.objects[f.big], getAll(t, f.bkt, f.big))
			require.Equal(t, before+1, f.under.gets.Load(), "read %d", i)
		}
		// A reader whose size is unknown is buffered up to the max item
		// size, then streamed.
		f.under.Bucket = &sizelessBucket{f.under.Bucket}
		require.Equal(t, f.objects[f.big], getAll(t, f.bkt, f.big))
		f.eventuallyCached(t, func() { require.Equal(t, f.objects[f.chunk], getAll(t, f.bkt, f.chunk)) })
	})
}

// sizelessBucket hides the size of the readers Get returns.
type sizelessBucket struct{ objstore.Bucket }

func (s *sizelessBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := s.Bucket.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return struct{ io.ReadCloser }{rc}, nil
}

func TestCachingBucketDeleteForgets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newCacheFixture(t, backend)
		ctx := context.Background()
		f.eventuallyCached(t, func() {
			getAll(t, f.bkt, f.small)
			getRange(t, f.bkt, f.small, 0, -1)
			ok, err := f.bkt.Exists(ctx, f.small)
			require.NoError(t, err)
			require.True(t, ok)
		})
		require.NoError(t, f.bkt.Delete(ctx, f.small))
		_, err := f.bkt.Get(ctx, f.small)
		require.True(t, f.bkt.IsObjNotFoundErr(err), "%v", err)
		_, err = f.bkt.GetRange(ctx, f.small, 10, 10)
		require.True(t, f.bkt.IsObjNotFoundErr(err), "%v", err)
		ok, err := f.bkt.Exists(ctx, f.small)
		require.NoError(t, err)
		require.False(t, ok)
		_, err = f.bkt.Attributes(ctx, f.small)
		require.True(t, f.bkt.IsObjNotFoundErr(err), "%v", err)

		// Uploaded again (a retried block upload), with other content.
		f.put(t, f.small, randomBytes(t, 3000))
		require.Equal(t, f.objects[f.small], getAll(t, f.bkt, f.small))
		require.Equal(t, f.objects[f.small][100:2500], getRange(t, f.bkt, f.small, 100, 2400))
	})
}

func TestCachingBucketSurvivesMemcachedDeath(t *testing.T) {
	f := newCacheFixture(t, CacheMemcached, func(c *CacheConfig) {
		c.Memcached.Timeout = 100 * time.Millisecond
		c.Memcached.ConnectTimeout = 100 * time.Millisecond
	})
	ctx := context.Background()
	read := func() {
		require.Equal(t, f.objects[f.meta], getAll(t, f.bkt, f.meta))
		require.Equal(t, f.objects[f.small][500:7000], getRange(t, f.bkt, f.small, 500, 6500))
		a, err := f.bkt.Attributes(ctx, f.chunk)
		require.NoError(t, err)
		require.Equal(t, int64(len(f.objects[f.chunk])), a.Size)
		ok, err := f.bkt.Exists(ctx, f.chunk)
		require.NoError(t, err)
		require.True(t, ok)
	}
	f.eventuallyCached(t, read)
	f.server.Kill()
	for range 3 {
		before := f.under.reads()
		read()
		require.Greater(t, f.under.reads(), before, "reads go to the bucket")
	}
	require.NoError(t, f.bkt.Delete(ctx, f.meta))
}

func TestCachingBucketConcurrentReaders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newCacheFixture(t, backend)
		names := []string{f.meta, f.small, f.chunk, f.big}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), 7))
				for range 100 {
					name := names[rng.IntN(len(names))]
					data := f.objects[name]
					var got, want []byte
					var err error
					if rng.IntN(3) == 0 {
						want = data
						got, err = readErr(f.bkt.Get(context.Background(), name))
					} else {
						off := rng.Int64N(int64(len(data)))
						length := rng.Int64N(5000) + 1
						want = wantRange(data, off, length)
						got, err = readErr(f.bkt.GetRange(context.Background(), name, off, length))
					}
					if err == nil && !bytes.Equal(got, want) {
						err = fmt.Errorf("wrong bytes for %s", name)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
}

func readErr(rc io.ReadCloser, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestCacheable(t *testing.T) {
	id := "01JZ4K8W5QXYV3T2M7N9PBCDEF"
	require.Equal(t, id, ulid.MustParseStrict(id).String())
	f := func(name string, want bool) {
		t.Helper()
		require.Equal(t, want, cacheable(name), name)
	}
	f("t/"+id+"/meta.json", true)
	f("t/"+id+"/index", true)
	f("t/"+id+"/tombstones", true)
	f("t/"+id+"/chunks/000001", true)
	f("t/"+id+"/chunks/1234567", true)
	f("t/"+id+"/deletion-mark.json", false)
	f("t/"+id+"/no-compact-mark.json", false)
	f("t/"+id+"/chunks/", false)
	f("t/"+id+"/chunks/00x001", false)
	f("t/"+id+"/chunks/000001/x", false)
	f("t/"+id+"/index/x", false)
	f("t/"+id, false)
	f("t/"+id+"/", false)
	f("/"+id+"/index", false)
	f(id+"/index", false)
	f("t/bucket-index.json.gz", false)
	f("t/"+strings.ToLower(id)+"/index", false)
	f("t/not-a-ulid-at-all-0000000/index", false)
	f("a/b/"+id+"/index", false)
}

func TestCacheKeys(t *testing.T) {
	id := ulid.MustNew(4, nil).String()
	long := strings.Repeat("x", 300) + "/" + id + "/index"
	names := []string{"t/" + id + "/index", "t u/" + id + "/index", "té/" + id + "/index", "t\n/" + id + "/index", long, long + "x"}
	seen := map[string]string{}
	for _, name := range names {
		for _, k := range []string{cacheKey(cacheOpGet, name), cacheKey(cacheOpAttributes, name), subrangeKey(name, 16384, 32768), rangeKey(name, 1, 2)} {
			require.LessOrEqual(t, len(k), maxKeyLen, k)
			require.True(t, printableASCII(k), k)
			require.NotContains(t, seen, k, "%s and %s", seen[k], name)
			seen[k] = name
		}
	}
	require.Equal(t, "weft:b1:get:t/"+id+"/index", cacheKey(cacheOpGet, "t/"+id+"/index"))
}

func TestCacheConfig(t *testing.T) {
	parseCache := func(t *testing.T, doc string, args ...string) CacheConfig {
		t.Helper()
		var c CacheConfig
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		c.RegisterFlagsWithPrefix(fs, "store-gateway.cache.")
		require.NoError(t, fs.Parse(nil))
		dec := yaml.NewDecoder(strings.NewReader(doc))
		dec.KnownFields(true)
		require.NoError(t, dec.Decode(&c))
		require.NoError(t, fs.Parse(args))
		return c
	}
	c := parseCache(t, "backend: ''")
	require.Equal(t, "", c.Backend)
	require.Equal(t, 24*time.Hour, c.TTL)
	require.Equal(t, int64(16<<10), c.SubrangeSize)
	require.Equal(t, 1<<20, c.Memcached.MaxItemSize)
	require.NoError(t, c.Validate())

	c = parseCache(t, `
backend: memcached
ttl: 1h
subrange_size: 4096
memcached:
  addresses: a:11211,dns+b:11211
  timeout: 1s
  max_item_size: 2097152
`, "-store-gateway.cache.memcached.timeout=500ms")
	require.Equal(t, []string{"a:11211", "dns+b:11211"}, []string(c.Memcached.Addresses))
	require.Equal(t, 500*time.Millisecond, c.Memcached.Timeout)
	require.Equal(t, 2<<20, c.Memcached.MaxItemSize)
	require.NoError(t, c.Validate())

	bad := func(want string, mod func(c *CacheConfig)) {
		t.Helper()
		c := parseCache(t, "backend: inmemory")
		mod(&c)
		err := c.Validate()
		require.Error(t, err)
		require.Contains(t, err.Error(), want)
	}
	bad(`unknown cache backend "redis" (-store-gateway.cache.backend)`, func(c *CacheConfig) { c.Backend = "redis" })
	bad("needs -store-gateway.cache.memcached.addresses", func(c *CacheConfig) { c.Backend = CacheMemcached })
	bad("-store-gateway.cache.ttl", func(c *CacheConfig) { c.TTL = 31 * 24 * time.Hour })
	bad("-store-gateway.cache.subrange-size", func(c *CacheConfig) { c.SubrangeSize = 2 << 20 })
	bad("-store-gateway.cache.inmemory.max-size-bytes", func(c *CacheConfig) { c.InMemory.MaxSizeBytes = 0 })
	bad("-store-gateway.cache.memcached.timeout", func(c *CacheConfig) {
		c.Backend, c.Memcached.Addresses, c.Memcached.Timeout = CacheMemcached, []string{"a:1"}, 0
	})
}

func TestNewCachingBucketOffReturnsTheBucket(t *testing.T) {
	b := newCountingBucket(t)
	got, err := NewCachingBucket(b, CacheConfig{}, nil, nil)
	require.NoError(t, err)
	require.Same(t, b, got)
}

func TestCachingBucketCloseStopsTheClient(t *testing.T) {
	m := memcachedtest.Start(t)
	root := prometheus.NewRegistry()
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"component": "store-gateway"}, root)
	b, err := NewCachingBucket(newCountingBucket(t), testCacheConfig(t, CacheMemcached, m.Addr), reg, nil)
	require.NoError(t, err)
	// A second one on the same registry is an error, not a panic; with
	// a distinguishing label it works.
	_, err = NewCachingBucket(newCountingBucket(t), testCacheConfig(t, CacheMemcached, m.Addr), reg, nil)
	require.ErrorContains(t, err, "one caching bucket per registerer")
	b2, err := NewCachingBucket(newCountingBucket(t), testCacheConfig(t, CacheMemcached, m.Addr),
		prometheus.WrapRegistererWith(prometheus.Labels{"component": "querier"}, root), nil)
	require.NoError(t, err)
	require.NoError(t, b2.Close())
	ib, ok := b.(objstore.InstrumentedBucket)
	require.True(t, ok)
	require.NotNil(t, ib.WithExpectedErrs(func(error) bool { return true }))
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
	// goleak in TestMain checks that the client's goroutines are gone.
}

func TestCachingBucketPassesThroughListingAndUpload(t *testing.T) {
	f := newCacheFixture(t, CacheInMemory)
	ctx := context.Background()
	id := ulid.MustNew(1, nil).String()
	require.ElementsMatch(t, []string{"tenant-a/" + id + "/"}, list(t, f.bkt, "tenant-a/"))
	got := list(t, f.bkt, "tenant-a/"+id+"/", objstore.WithRecursiveIter())
	require.Len(t, got, 4)
	name := filepath.ToSlash(filepath.Join("tenant-b", id, "index"))
	require.NoError(t, f.bkt.Upload(ctx, name, strings.NewReader("abc")))
	require.Equal(t, []byte("abc"), getAll(t, f.bkt, name))
	require.Equal(t, f.under.Name(), f.bkt.Name())
}
