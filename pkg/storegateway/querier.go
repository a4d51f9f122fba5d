package storegateway

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/weft-io/weft/pkg/bucket"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

var _ wire.StoreServer = (*StoreGateway)(nil)

func checkTenant(id string) error {
	if err := tenant.Validate(id); err != nil {
		return wire.Errorf(wire.KindBadData, "", "cannot query tenant %q: %v", id, err)
	}
	return nil
}

// Querier implements wire.Reader: a querier over the tenant's blocks that
// overlap [mint, maxt] and that this store-gateway owns. The blocks are
// found and loaded at the querier's first use (under that call's
// context); the series of overlapping blocks (RF copies not yet
// compacted) are merged, equal samples once. Each Select, LabelNames and
// LabelValues adds the blocks it read to the wire.BlockReport of its
// context.
func (s *StoreGateway) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	return newBlockQuerier(s, tenant, mint, maxt), nil
}

// ChunkQuerier implements wire.ChunkReader as Querier does, serving the
// blocks' chunks as they are (overlapping chunks of RF copies are merged).
// Its queriers report the blocks they read as Querier's do.
func (s *StoreGateway) ChunkQuerier(tenant string, mint, maxt int64) (storage.ChunkQuerier, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	return newBlockChunkQuerier(s, tenant, mint, maxt), nil
}

// blockSet is the blocks one querier reads, acquired at its first use and
// released by Close.
type blockSet struct {
	s          *StoreGateway
	tenant     string
	mint, maxt int64

	mu      sync.Mutex
	entries []*blockEntry // guarded by mu
	ids     []ulid.ULID   // sorted; guarded by mu
	opened  bool          // guarded by mu
	closed  bool          // guarded by mu
}

// openLocked finds the blocks to read, then loads them (in parallel, up
// to -store-gateway.max-concurrent-loads) and takes a reference on each.
func (bs *blockSet) openLocked(ctx context.Context) error {
	if bs.closed {
		return errors.New("cannot query: the querier is closed")
	}
	s := bs.s
	blocks, err := s.finder.BlocksFor(ctx, bs.tenant, bs.mint, bs.maxt)
	if err != nil {
		return wire.Errorf(wire.KindUnavailable, "", "cannot find the blocks of tenant %s: %v", bs.tenant, err)
	}
	var entries []*blockEntry
	fail := func(err error) error {
		for _, e := range entries {
			s.release(e)
		}
		return err
	}
	for _, b := range blocks {
		if !s.owns(bs.tenant, b.ID) {
			continue
		}
		e, err := s.acquire(blockKey{bs.tenant, b.ID})
		if err != nil {
			return fail(err)
		}
		entries = append(entries, e)
	}
	for _, e := range entries {
		if err := s.wait(ctx, e); err != nil {
			return fail(err)
		}
	}
	ids := make([]ulid.ULID, len(entries))
	for i, e := range entries {
		ids[i] = e.key.id
	}
	slices.SortFunc(ids, func(a, b ulid.ULID) int { return a.Compare(b) })
	s.m.queriedBlocks.Add(float64(len(ids)))
	bs.entries, bs.ids, bs.opened = entries, ids, true
	return nil
}

// closeLocked closes the inner querier (when there is one) and releases
// the blocks.
func (bs *blockSet) closeLocked(inner interface{ Close() error }) error {
	if bs.closed {
		return nil
	}
	bs.closed = true
	var err error
	if inner != nil {
		err = inner.Close()
	}
	for _, e := range bs.entries {
		bs.s.release(e)
	}
	bs.entries = nil
	return err
}

// lazyQuerier is what blockQuerier and blockChunkQuerier share: at first
// use, the blocks are opened and one TSDB querier of each (untrimmed for a
// block with tombstones) is merged into inner.
type lazyQuerier[Q storage.LabelQuerier] struct {
	blockSet
	open  func(b tsdb.BlockReader, mint, maxt int64, tombstones bool) (Q, error)
	merge func([]Q) Q

	inner Q    // guarded by mu
	ready bool // inner is set; guarded by mu
}

// get returns the merged querier, opening it at the first call, and
// reports the blocks it reads to the wire.BlockReport of ctx.
func (q *lazyQuerier[Q]) get(ctx context.Context) (Q, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var none Q
	if q.ready {
		wire.BlockReportFrom(ctx).Add(q.ids...)
		return q.inner, nil
	}
	if !q.opened {
		if err := q.openLocked(ctx); err != nil {
			return none, err
		}
	}
	qs := make([]Q, 0, len(q.entries))
	for _, e := range q.entries {
		bq, err := q.open(e.block.view(ctx), q.mint, q.maxt, e.block.hasTombstones())
		if err != nil {
			for _, x := range qs {
				_ = x.Close()
			}
			return none, err
		}
		qs = append(qs, bq)
	}
	q.inner, q.ready = q.merge(qs), true
	wire.BlockReportFrom(ctx).Add(q.ids...)
	return q.inner, nil
}

func (q *lazyQuerier[Q]) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	ctx = bucket.WithRetryBudget(ctx, queryRetryBudget)
	inner, err := q.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	return inner.LabelValues(ctx, name, hints, ms...)
}

func (q *lazyQuerier[Q]) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	ctx = bucket.WithRetryBudget(ctx, queryRetryBudget)
	inner, err := q.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	return inner.LabelNames(ctx, hints, ms...)
}

func (q *lazyQuerier[Q]) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var inner interface{ Close() error }
	if q.ready {
		inner = q.inner
	}
	return q.closeLocked(inner)
}

// blockQuerier is the storage.Querier of Querier.
type blockQuerier struct {
	lazyQuerier[storage.Querier]
}

func newBlockQuerier(s *StoreGateway, tenant string, mint, maxt int64) *blockQuerier {
	return &blockQuerier{lazyQuerier[storage.Querier]{
		blockSet: blockSet{s: s, tenant: tenant, mint: mint, maxt: maxt},
		open: func(b tsdb.BlockReader, mint, maxt int64, tombstones bool) (storage.Querier, error) {
			q, err := tsdb.NewBlockQuerier(b, mint, maxt)
			if err == nil && tombstones {
				q = untrimmedQuerier{q, mint, maxt}
			}
			return q, err
		},
		merge: func(qs []storage.Querier) storage.Querier {
			return storage.NewMergeQuerier(qs, nil, storage.ChainedSeriesMerge)
		},
	}}
}

func (q *blockQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	ctx = bucket.WithRetryBudget(ctx, queryRetryBudget)
	inner, err := q.get(ctx)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	return inner.Select(ctx, sortSeries, hints, ms...)
}

// blockChunkQuerier is the storage.ChunkQuerier of ChunkQuerier; the
// chunks of RF copies that overlap are merged.
type blockChunkQuerier struct {
	lazyQuerier[storage.ChunkQuerier]
}

func newBlockChunkQuerier(s *StoreGateway, tenant string, mint, maxt int64) *blockChunkQuerier {
	return &blockChunkQuerier{lazyQuerier[storage.ChunkQuerier]{
		blockSet: blockSet{s: s, tenant: tenant, mint: mint, maxt: maxt},
		open: func(b tsdb.BlockReader, mint, maxt int64, tombstones bool) (storage.ChunkQuerier, error) {
			q, err := tsdb.NewBlockChunkQuerier(b, mint, maxt)
			if err == nil && tombstones {
				q = untrimmedChunkQuerier{q, mint, maxt}
			}
			return q, err
		},
		merge: func(qs []storage.ChunkQuerier) storage.ChunkQuerier {
			return storage.NewMergeChunkQuerier(qs, nil, storage.NewCompactingChunkSeriesMerger(storage.ChainedSeriesMerge))
		},
	}}
}

func (q *blockChunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.ChunkSeriesSet {
	ctx = bucket.WithRetryBudget(ctx, queryRetryBudget)
	inner, err := q.get(ctx)
	if err != nil {
		return storage.ErrChunkSeriesSet(err)
	}
	return inner.Select(ctx, sortSeries, hints, ms...)
}
