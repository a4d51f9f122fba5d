package serieshash

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/index"
)

// EntryBytes is what one cached series hash costs the heap, about: a map
// entry of a series ref and a hash, with the map's slack.
const EntryBytes = 32

// Budget bounds the series hashes cached by all the caches that share it:
// hashes are cached while there is room, and a cache gives its room back
// when released. A nil Budget is unbounded. Safe for concurrent use.
type Budget struct {
	left atomic.Int64 // entries
}

// NewBudget returns a budget of bytes (EntryBytes per series).
func NewBudget(bytes int64) *Budget {
	b := &Budget{}
	b.left.Store(bytes / EntryBytes)
	return b
}

// Left returns the number of entries there is room for.
func (b *Budget) Left() int64 { return b.left.Load() }

// take reserves room for up to n entries and returns how many it got.
func (b *Budget) take(n int) int {
	if b == nil {
		return n
	}
	for {
		left := b.left.Load()
		got := min(int64(n), left)
		if got <= 0 {
			return 0
		}
		if b.left.CompareAndSwap(left, left-got) {
			return int(got)
		}
	}
}

func (b *Budget) give(n int) {
	if b != nil {
		b.left.Add(int64(n))
	}
}

// Cache holds the shard hash (labels.StableHash of the labels) of a
// block's series by series ref, as Prometheus' head keeps each series'
// hash: a series' labels are decoded once for its hash, by the first
// sharded query that reaches it. Release it with its block. Safe for
// concurrent use.
type Cache struct {
	budget       *Budget
	hits, misses prometheus.Counter // may be nil

	mu       sync.RWMutex
	m        map[storage.SeriesRef]uint64 // guarded by mu
	released bool                         // guarded by mu: caches no more
}

// NewCache returns an empty cache within budget (nil: unbounded) that
// counts its hits and misses in the counters (either may be nil).
func NewCache(budget *Budget, hits, misses prometheus.Counter) *Cache {
	return &Cache{budget: budget, hits: hits, misses: misses}
}

// Len returns the number of cached hashes.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// Release gives the cache's room back to the budget and empties it; it
// caches nothing more (a query still reading the block computes hashes
// as without a cache).
func (c *Cache) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.budget.give(len(c.m))
	c.m, c.released = nil, true
}

// batch is how many series of a postings list ShardedPostings looks up at
// once (one lock per batch).
const batch = 512

// ShardedPostings keeps the series of p whose labels hash to shardIndex
// modulo shardCount, as the TSDB's index readers do; series reads the
// labels of the series whose hash is not cached.
func (c *Cache) ShardedPostings(p index.Postings, shardIndex, shardCount uint64, series func(storage.SeriesRef, *labels.ScratchBuilder) error) index.Postings {
	var (
		out     []storage.SeriesRef
		builder labels.ScratchBuilder
		ls      labels.Labels
		refs    = make([]storage.SeriesRef, 0, batch)
		hashes  [batch]uint64
		found   [batch]bool
	)
	flush := func() error {
		n := len(refs)
		hits := c.get(refs, hashes[:n], found[:n])
		add(c.hits, hits)
		if hits < n {
			add(c.misses, n-hits)
			for i, ref := range refs {
				if found[i] {
					continue
				}
				if err := series(ref, &builder); err != nil {
					return err
				}
				// The labels are hashed, not kept: no copy of them.
				builder.Overwrite(&ls)
				hashes[i] = labels.StableHash(ls)
			}
			c.put(refs, hashes[:n], found[:n], n-hits)
		}
		for i, ref := range refs {
			if hashes[i]%shardCount == shardIndex {
				out = append(out, ref)
			}
		}
		refs = refs[:0]
		return nil
	}
	for p.Next() {
		if refs = append(refs, p.At()); len(refs) == batch {
			if err := flush(); err != nil {
				return index.ErrPostings(err)
			}
		}
	}
	if err := p.Err(); err != nil {
		return index.ErrPostings(err)
	}
	if err := flush(); err != nil {
		return index.ErrPostings(err)
	}
	return index.NewListPostings(out)
}

func add(c prometheus.Counter, n int) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

// get fills hashes[i] for each refs[i] in the cache and reports which
// were found in found[i].
func (c *Cache) get(refs []storage.SeriesRef, hashes []uint64, found []bool) (hits int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, ref := range refs {
		hashes[i], found[i] = c.m[ref]
		if found[i] {
			hits++
		}
	}
	return hits
}

// put caches the hashes of refs for which found is false, as far as the
// budget allows.
func (c *Cache) put(refs []storage.SeriesRef, hashes []uint64, found []bool, misses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return
	}
	n := c.budget.take(misses)
	if n == 0 {
		return
	}
	if c.m == nil {
		c.m = make(map[storage.SeriesRef]uint64, n)
	}
	added := 0
	for i, ref := range refs {
		if added == n {
			break
		}
		if found[i] {
			continue
		}
		// Another query may have cached it since get.
		if _, ok := c.m[ref]; !ok {
			c.m[ref] = hashes[i]
			added++
		}
	}
	c.budget.give(n - added)
}
