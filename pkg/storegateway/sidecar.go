package storegateway

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/wire"
)

// metadataCache keeps the metadata files of the blocks this store-gateway
// owns: blocks never change, their metadata is small, and every call of
// the metadata API reads all of a tenant's blocks.
type metadataCache struct {
	mu      sync.Mutex
	byBlock map[blockKey][]bucketindex.MetricMetadata // guarded by mu
}

// exemplarCache keeps the decoded exemplars files of recently queried
// blocks, at most max exemplars in all: a dashboard asks for the same
// blocks' exemplars on every refresh, and decoding a file costs far more
// than keeping it.
type exemplarCache struct {
	max     int
	mu      sync.Mutex
	byBlock map[blockKey]*cachedExemplars // guarded by mu
	size    int                           // exemplars in byBlock; guarded by mu
	tick    uint64                        // guarded by mu
}

type cachedExemplars struct {
	res      []exemplar.QueryResult
	size     int
	lastUsed uint64
}

// maxCachedExemplars bounds the exemplars the store-gateway's cache keeps
// decoded.
const maxCachedExemplars = 1_000_000

func (c *exemplarCache) get(k blockKey) ([]exemplar.QueryResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byBlock[k]
	if !ok {
		return nil, false
	}
	c.tick++
	e.lastUsed = c.tick
	return e.res, true
}

// put adds a block's exemplars, evicting the least recently used blocks
// beyond c.max; a file larger than that is not kept.
func (c *exemplarCache) put(k blockKey, res []exemplar.QueryResult) {
	n := 1 // an empty file costs an entry too
	for _, r := range res {
		n += len(r.Exemplars)
	}
	if n > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byBlock[k]; ok {
		c.size -= old.size
	}
	for c.size+n > c.max {
		var (
			victim blockKey
			oldest uint64 = math.MaxUint64
		)
		for key, e := range c.byBlock {
			if e.lastUsed < oldest {
				victim, oldest = key, e.lastUsed
			}
		}
		c.size -= c.byBlock[victim].size
		delete(c.byBlock, victim)
	}
	c.tick++
	c.byBlock[k] = &cachedExemplars{res: res, size: n, lastUsed: c.tick}
	c.size += n
}

// ownedBlocks returns the tenant's queryable blocks in [mint, maxt] that
// this store-gateway owns, oldest first (by MinTime, then ULID).
func (s *StoreGateway) ownedBlocks(ctx context.Context, tenant string, mint, maxt int64) ([]bucketindex.Block, error) {
	blocks, err := s.finder.BlocksFor(ctx, tenant, mint, maxt)
	if errors.Is(err, bucketindex.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, wire.Errorf(wire.KindUnavailable, "", "cannot find the blocks of tenant %s: %v", tenant, err)
	}
	blocks = slices.DeleteFunc(blocks, func(b bucketindex.Block) bool { return !s.owns(tenant, b.ID) })
	slices.SortFunc(blocks, func(a, b bucketindex.Block) int {
		if a.MinTime != b.MinTime {
			if a.MinTime < b.MinTime {
				return -1
			}
			return 1
		}
		return a.ID.Compare(b.ID)
	})
	return blocks, nil
}

// Metadata implements wire.Reader: the metadata kept beside the blocks
// this store-gateway owns (bucketindex.MetadataName), merged, a family
// described by several blocks as the newest one describes it.
func (s *StoreGateway) Metadata(ctx context.Context, tenant, metric string, limit int) ([]wire.Metadata, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	blocks, err := s.ownedBlocks(ctx, tenant, math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	lists := make([][]bucketindex.MetricMetadata, 0, len(blocks))
	live := make(map[blockKey]bool, len(blocks))
	for _, b := range blocks {
		k := blockKey{tenant, b.ID}
		live[k] = true
		s.meta.mu.Lock()
		md, ok := s.meta.byBlock[k]
		s.meta.mu.Unlock()
		if !ok {
			if md, err = bucketindex.ReadMetadata(ctx, s.bkt, tenant, b.ID); err != nil {
				return nil, wire.Errorf(wire.KindUnavailable, "", "cannot read the metadata of block %s of tenant %s: %v", b.ID, tenant, err)
			}
			s.meta.mu.Lock()
			s.meta.byBlock[k] = md
			s.meta.mu.Unlock()
		}
		lists = append(lists, md)
	}
	// Forget the tenant's blocks that are gone.
	s.meta.mu.Lock()
	for k := range s.meta.byBlock {
		if k.tenant == tenant && !live[k] {
			delete(s.meta.byBlock, k)
		}
	}
	s.meta.mu.Unlock()

	var out []wire.Metadata
	for _, m := range bucketindex.MergeMetadata(lists...) {
		if metric != "" && m.Metric != metric {
			continue
		}
		out = append(out, wire.Metadata{MetricFamily: m.Metric, Type: m.Type, Help: m.Help, Unit: m.Unit})
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// ExemplarQuerier implements wire.Reader: the exemplars kept beside the
// blocks this store-gateway owns (bucketindex.ExemplarsName), each once.
func (s *StoreGateway) ExemplarQuerier(ctx context.Context, tenant string) (storage.ExemplarQuerier, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	return blockExemplars{s: s, ctx: ctx, tenant: tenant}, nil
}

type blockExemplars struct {
	s      *StoreGateway
	ctx    context.Context
	tenant string
}

// Select reads the exemplars files of the blocks overlapping [start, end]
// (a block's files hold only exemplars of its own range).
func (q blockExemplars) Select(start, end int64, matchers ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	if len(matchers) == 0 {
		return nil, nil
	}
	blocks, err := q.s.ownedBlocks(q.ctx, q.tenant, start, end)
	if err != nil {
		return nil, err
	}
	var lists [][]exemplar.QueryResult
	for _, b := range blocks {
		k := blockKey{q.tenant, b.ID}
		ex, ok := q.s.exemplars.get(k)
		if !ok {
			if ex, err = bucketindex.ReadExemplars(q.ctx, q.s.bkt, q.tenant, b.ID); err != nil {
				return nil, wire.Errorf(wire.KindUnavailable, "", "cannot read the exemplars of block %s of tenant %s: %v", b.ID, q.tenant, err)
			}
			q.s.exemplars.put(k, ex)
		}
		if ex = bucketindex.FilterExemplars(ex, start, end, matchers...); len(ex) > 0 {
			lists = append(lists, ex)
		}
	}
	return bucketindex.MergeExemplars(0, lists...), nil
}
