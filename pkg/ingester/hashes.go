package ingester

import (
	"sync"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/weft-io/weft/pkg/serieshash"
)

// blockHashes keeps a series hash cache for each local block of a tenant's
// TSDB. The head keeps each series' shard hash itself, but a block's index
// reader decodes every matching series' labels to hash them, in each shard
// of a sharded query; with the cache a block's series are hashed once.
// The caches of blocks the TSDB no longer has are released by prune.
type blockHashes struct {
	budget       *serieshash.Budget
	hits, misses prometheus.Counter

	mu     sync.Mutex
	caches map[ulid.ULID]*serieshash.Cache // guarded by mu
}

func newBlockHashes(budget *serieshash.Budget, hits, misses prometheus.Counter) *blockHashes {
	return &blockHashes{budget: budget, hits: hits, misses: misses, caches: map[ulid.ULID]*serieshash.Cache{}}
}

// wrap returns b with its sharded postings through the cache of its
// block; the head (and anything else but a block) as it is.
func (h *blockHashes) wrap(b tsdb.BlockReader) tsdb.BlockReader {
	if _, ok := b.(*tsdb.Block); !ok {
		return b
	}
	id := b.Meta().ULID
	h.mu.Lock()
	c := h.caches[id]
	if c == nil {
		c = serieshash.NewCache(h.budget, h.hits, h.misses)
		h.caches[id] = c
	}
	h.mu.Unlock()
	return hashedBlock{b, c}
}

// prune releases the caches of the blocks that are not in blocks.
func (h *blockHashes) prune(blocks []*tsdb.Block) {
	keep := make(map[ulid.ULID]struct{}, len(blocks))
	for _, b := range blocks {
		keep[b.Meta().ULID] = struct{}{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, c := range h.caches {
		if _, ok := keep[id]; !ok {
			c.Release()
			delete(h.caches, id)
		}
	}
}

type hashedBlock struct {
	tsdb.BlockReader
	c *serieshash.Cache
}

func (b hashedBlock) Index() (tsdb.IndexReader, error) {
	ir, err := b.BlockReader.Index()
	if err != nil {
		return nil, err
	}
	return hashedIndex{ir, b.c}, nil
}

type hashedIndex struct {
	tsdb.IndexReader
	c *serieshash.Cache
}

func (r hashedIndex) ShardedPostings(p index.Postings, shardIndex, shardCount uint64) index.Postings {
	return r.c.ShardedPostings(p, shardIndex, shardCount, func(ref storage.SeriesRef, builder *labels.ScratchBuilder) error {
		return r.Series(ref, builder, nil)
	})
}
