package storegateway

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/storage"
)

// hashCacheEntryBytes is what one cached series hash costs the heap, about:
// a map entry of a series ref and a hash, with the map's slack.
const hashCacheEntryBytes = 32

// hashBudget bounds the series hashes cached by all the blocks of a
// store-gateway: hashes are cached while there is room, and a block's
// room is given back when it is unloaded. A nil budget is unbounded.
type hashBudget struct {
	left atomic.Int64 // entries
}

func newHashBudget(bytes int64) *hashBudget {
	b := &hashBudget{}
	b.left.Store(bytes / hashCacheEntryBytes)
	return b
}

// take reserves room for up to n entries and returns how many it got.
func (b *hashBudget) take(n int) int {
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

func (b *hashBudget) give(n int) {
	if b != nil {
		b.left.Add(int64(n))
	}
}

// seriesHashes caches the shard hash (labels.StableHash of the labels) of
// a block's series by series ref. Query sharding keeps, in each of S
// shards, the series of the matchers' postings whose hash falls in the
// shard: without the cache every shard decodes the labels of every
// matching series to hash them, S times the label decoding of an
// unsharded query, before decoding its own series again; with it a
// series' labels are decoded once for its hash, by the first sharded
// query that reaches it, as Prometheus' head keeps each series' hash. It
// is dropped with the block. Safe for concurrent use.
type seriesHashes struct {
	budget *hashBudget

	mu sync.RWMutex
	m  map[storage.SeriesRef]uint64 // guarded by mu
}

// get fills hashes[i] for each refs[i] in the cache and reports which
// were found in found[i].
func (c *seriesHashes) get(refs []storage.SeriesRef, hashes []uint64, found []bool) (hits int) {
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
func (c *seriesHashes) put(refs []storage.SeriesRef, hashes []uint64, found []bool, misses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
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

// release gives the cache's room back to the budget.
func (c *seriesHashes) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.budget.give(len(c.m))
	c.m = nil
}
