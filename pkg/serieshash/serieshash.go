package serieshash

import (
	"math"
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
func (b *Budget) Left() int64 {
	if b == nil {
		return math.MaxInt64
	}
	return b.left.Load()
}

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
// sharded query that reaches it. The shards of one query run at once on
// the same blocks: a series another query is hashing is not hashed again
// but awaited, after this query has hashed the rest, so that the shards
// share the work of a block's first sharded query rather than each doing
// all of it. Release it with its block. Safe for concurrent use.
type Cache struct {
	budget       *Budget
	hits, misses prometheus.Counter // may be nil

	mu sync.RWMutex
	// hashed (on mu's write lock) is signalled when series leave pending.
	hashed   *sync.Cond
	m        map[storage.SeriesRef]uint64   // guarded by mu
	pending  map[storage.SeriesRef]struct{} // guarded by mu: being hashed by a query
	released bool                           // guarded by mu: caches no more
}

// NewCache returns an empty cache within budget (nil: unbounded) that
// counts its hits and misses in the counters (either may be nil).
func NewCache(budget *Budget, hits, misses prometheus.Counter) *Cache {
	c := &Cache{budget: budget, hits: hits, misses: misses, pending: map[storage.SeriesRef]struct{}{}}
	c.hashed = sync.NewCond(&c.mu)
	return c
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
		out    []storage.SeriesRef
		h      = hasher{series: series}
		refs   = make([]storage.SeriesRef, 0, batch)
		hashes [batch]uint64
		known  [batch]bool         // hashes[i] is refs[i]'s
		mine   []int               // indexes in refs: hashed here
		others []storage.SeriesRef // awaited from other queries, in order
		hits   int
		total  int
	)
	flush := func() error {
		n := len(refs)
		total += n
		missing := 0
		c.mu.RLock()
		for i, ref := range refs {
			hashes[i], known[i] = c.m[ref]
			if !known[i] {
				missing++
			}
		}
		c.mu.RUnlock()
		hits += n - missing
		if missing > 0 {
			mine = mine[:0]
			c.mu.Lock()
			// Claim the series only when their hashes can be cached
			// for whoever awaits them.
			claim := !c.released && c.budget.Left() > 0
			for i, ref := range refs {
				if known[i] {
					continue
				}
				if v, ok := c.m[ref]; ok { // cached meanwhile
					hashes[i], known[i] = v, true
					hits++
					continue
				}
				if _, ok := c.pending[ref]; ok {
					others = append(others, ref)
					continue
				}
				if claim {
					c.pending[ref] = struct{}{}
				}
				mine = append(mine, i)
			}
			c.mu.Unlock()
			if err := c.hashClaimed(&h, refs, hashes[:n], mine, claim); err != nil {
				return err
			}
			for _, i := range mine {
				known[i] = true
			}
		}
		for i, ref := range refs {
			if known[i] && hashes[i]%shardCount == shardIndex {
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
	if len(others) > 0 {
		theirs, n, err := c.await(&h, others, shardIndex, shardCount)
		if err != nil {
			return index.ErrPostings(err)
		}
		hits += n
		out = mergeSorted(out, theirs)
	}
	add(c.hits, hits)
	add(c.misses, total-hits)
	return index.NewListPostings(out)
}

// await waits until no query is hashing the series refs, which this query
// found being hashed by others, and returns those of the shard and how
// many were found cached. The query holds no claims then: waiting cannot
// deadlock.
func (c *Cache) await(h *hasher, refs []storage.SeriesRef, shardIndex, shardCount uint64) (_ []storage.SeriesRef, hits int, _ error) {
	hashes := make([]uint64, len(refs))
	var missing []int
	c.mu.Lock()
	for k := 0; k < len(refs); {
		if _, ok := c.pending[refs[k]]; ok {
			c.hashed.Wait()
			continue
		}
		k++
	}
	for i, ref := range refs {
		v, ok := c.m[ref]
		if !ok {
			missing = append(missing, i) // the other query failed, or the budget ran out
			continue
		}
		hashes[i] = v
		hits++
	}
	c.mu.Unlock()
	if err := c.hashClaimed(h, refs, hashes, missing, false); err != nil {
		return nil, 0, err
	}
	out := refs[:0]
	for i, ref := range refs {
		if hashes[i]%shardCount == shardIndex {
			out = append(out, ref)
		}
	}
	return out, hits, nil
}

// mergeSorted merges two sorted lists of distinct refs.
func mergeSorted(a, b []storage.SeriesRef) []storage.SeriesRef {
	out := make([]storage.SeriesRef, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

// hashClaimed hashes the series refs[i] for each i of idx, caches their
// hashes and ends their claim when claimed, even if series panics (the
// PromQL engine recovers from panics: a claim left behind would block
// every later query of the block).
func (c *Cache) hashClaimed(h *hasher, refs []storage.SeriesRef, hashes []uint64, idx []int, claimed bool) (err error) {
	finished := false
	defer func() {
		if !finished {
			c.finish(refs, hashes, idx, claimed, false)
		}
	}()
	err = h.hash(refs, hashes, idx)
	finished = true
	c.finish(refs, hashes, idx, claimed, err == nil)
	return err
}

// hasher hashes series' labels for one query.
type hasher struct {
	series  func(storage.SeriesRef, *labels.ScratchBuilder) error
	builder labels.ScratchBuilder
	ls      labels.Labels
}

// hash sets hashes[i] to the hash of series refs[i] for each i of idx.
func (h *hasher) hash(refs []storage.SeriesRef, hashes []uint64, idx []int) error {
	for _, i := range idx {
		if err := h.series(refs[i], &h.builder); err != nil {
			return err
		}
		// The labels are hashed, not kept: no copy of them.
		h.builder.Overwrite(&h.ls)
		hashes[i] = labels.StableHash(h.ls)
	}
	return nil
}

func add(c prometheus.Counter, n int) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

// finish caches the hashes of refs[i] for each i of idx when ok, as far as
// the budget allows, and, when claimed, ends their claim.
func (c *Cache) finish(refs []storage.SeriesRef, hashes []uint64, idx []int, claimed, ok bool) {
	if len(idx) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if claimed {
		for _, i := range idx {
			delete(c.pending, refs[i])
		}
		c.hashed.Broadcast()
	}
	if !ok || c.released {
		return
	}
	n := c.budget.take(len(idx))
	if n == 0 {
		return
	}
	if c.m == nil {
		c.m = make(map[storage.SeriesRef]uint64, n)
	}
	added := 0
	for _, i := range idx {
		if added == n {
			break
		}
		// Another query may have cached it meanwhile.
		if _, ok := c.m[refs[i]]; !ok {
			c.m[refs[i]] = hashes[i]
			added++
		}
	}
	c.budget.give(n - added)
}
