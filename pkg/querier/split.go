package querier

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/wire"
)

// BlockHolder is implemented by readers of ingesters that can say which
// blocks the live ingesters hold for a tenant: their local blocks, shipped
// or not, by ULID (a shipped block keeps its ULID in the bucket).
type BlockHolder interface {
	HeldBlocks(ctx context.Context, tenant string) ([]ulid.ULID, error)
}

// BucketBlocks lists the blocks of a tenant in the bucket that overlap
// [mint, maxt] and that queriers read (the store-gateways' view).
type BucketBlocks func(ctx context.Context, tenant string, mint, maxt int64) ([]bucketindex.Block, error)

// heldTTL is how long the blocks the ingesters hold are remembered per
// tenant: a dashboard's panels ask once, not once each. A block cut since
// is only read twice (merged), never missed.
const heldTTL = 5 * time.Second

// checkTimeout bounds the lookups of the bucket's and the ingesters'
// blocks when a querier opens.
const checkTimeout = 10 * time.Second

// SplitReader reads a tenant's recent series from the ingesters and older
// ones from the bucket's blocks (the store-gateways): ingesters for the
// last ingestersWithin, the store for everything older than storeAfter.
// storeAfter < ingestersWithin gives an overlap in which both answer, so a
// block being shipped is never missed; the copies are merged and each
// sample kept once. When the live ingesters hold every bucket block of
// their part of the query, the store is not asked for the overlap.
//
// A block shipped within the last storeAfter is read from the store too
// when no live ingester holds it: after a restart on an empty disk, a
// scale-down, or the loss of an ingester's disk, the ingesters no longer
// have what they shipped, and history must not hide until it is older than
// storeAfter. The store's range then extends to the newest such block.
type SplitReader struct {
	ingesters       wire.Reader
	store           wire.Reader
	blocks          BucketBlocks
	ingestersWithin time.Duration
	storeAfter      time.Duration
	now             func() time.Time

	mu   sync.Mutex
	held map[string]heldBlocks // by tenant; guarded by mu
}

type heldBlocks struct {
	at  time.Time
	ids map[ulid.ULID]struct{}
}

// NewSplitReader returns the reader over ingesters and store. A zero
// ingestersWithin asks the ingesters for all time; a zero storeAfter asks
// the store for all time. blocks lists the bucket's blocks; with nil, or
// when the ingesters reader is no BlockHolder, blocks shipped within
// storeAfter are read from the ingesters only.
func NewSplitReader(ingesters, store wire.Reader, blocks BucketBlocks, ingestersWithin, storeAfter time.Duration) *SplitReader {
	return &SplitReader{
		ingesters: ingesters, store: store, blocks: blocks,
		ingestersWithin: ingestersWithin, storeAfter: storeAfter, now: time.Now,
		held: map[string]heldBlocks{},
	}
}

// unheld reports whether the tenant's bucket has blocks overlapping
// [mint, maxt] that no live ingester holds, and the last millisecond of
// the newest of them. A block is held when all of its sources are (the
// compactor's merge of the replicas' blocks names them as sources). When
// the lookups fail it returns maxt, true: reading the store for the whole
// range can cost time, never data.
func (r *SplitReader) unheld(tenant string, mint, maxt int64) (last int64, found bool) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	blocks, err := r.blocks(ctx, tenant, mint, maxt)
	if err != nil {
		return maxt, true
	}
	if len(blocks) == 0 {
		return 0, false
	}
	held, err := r.heldBy(ctx, tenant)
	if err != nil {
		return maxt, true
	}
	last = minInt64
	for _, b := range blocks {
		sources := b.Sources
		if len(sources) == 0 {
			sources = []ulid.ULID{b.ID}
		}
		for _, id := range sources {
			if _, ok := held[id]; !ok {
				last, found = max(last, b.MaxTime-1), true // block ranges end exclusively
				break
			}
		}
	}
	return last, found
}

const minInt64 = -1 << 63

// heldBy returns the blocks the live ingesters hold for tenant, from the
// last heldTTL when asked lately.
func (r *SplitReader) heldBy(ctx context.Context, tenant string) (map[ulid.ULID]struct{}, error) {
	now := r.now()
	r.mu.Lock()
	h, ok := r.held[tenant]
	r.mu.Unlock()
	if ok && now.Sub(h.at) < heldTTL {
		return h.ids, nil
	}
	holder, ok := r.ingesters.(BlockHolder)
	if !ok {
		return nil, nil
	}
	ids, err := holder.HeldBlocks(ctx, tenant)
	if err != nil {
		return nil, err
	}
	set := make(map[ulid.ULID]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, h := range r.held { // forget tenants not asked about lately
		if now.Sub(h.at) >= heldTTL {
			delete(r.held, t)
		}
	}
	r.held[tenant] = heldBlocks{at: now, ids: set}
	return set, nil
}

// Querier implements wire.Reader.
func (r *SplitReader) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	now := r.now()
	var qs []storage.Querier
	imin := mint
	if r.ingestersWithin > 0 {
		imin = max(mint, now.Add(-r.ingestersWithin).UnixMilli())
	}
	if imin <= maxt {
		q, err := r.ingesters.Querier(tenant, imin, maxt)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	smax := maxt
	if r.storeAfter > 0 {
		smax = min(maxt, now.Add(-r.storeAfter).UnixMilli())
		if _, ok := r.ingesters.(BlockHolder); ok && r.store != nil && r.blocks != nil {
			// The overlap of the two ranges is there for blocks being
			// shipped: when the live ingesters hold every block of
			// their range (of the query), the store stops where they
			// start, and neither reads the other's samples. A day's
			// query then merges two copies of each series that do not
			// overlap, and the store reads an hour less.
			lo := max(mint, smax+1)
			shrink := r.ingestersWithin > 0 && imin <= smax && imin <= maxt
			if shrink {
				lo = imin
			}
			if lo <= maxt {
				last, found := r.unheld(tenant, lo, maxt)
				switch {
				case found && last > smax:
					smax = min(maxt, last)
				case !found && shrink:
					smax = imin - 1
				}
			}
		}
	}
	if r.store != nil && mint <= smax {
		q, err := r.store.Querier(tenant, mint, smax)
		if err != nil {
			for _, q := range qs {
				_ = q.Close()
			}
			return nil, err
		}
		qs = append(qs, q)
	}
	switch len(qs) {
	case 0:
		return storage.NoopQuerier(), nil
	case 1:
		return qs[0], nil
	}
	// Both are primaries: an error of either fails the query rather than
	// silently returning a gap. In the overlap both hold the same samples,
	// as replicas do: the replica merge keeps histograms' hints there.
	return storage.NewMergeQuerier(qs, nil, mergeReplicaSeries), nil
}

// ExemplarQuerier implements wire.Reader: the ingesters' exemplars and
// those kept beside the blocks in the bucket (older than the ingesters'
// exemplar storage, or lost with an ingester's disk), each once. Both are
// asked over the whole range: the store only reads the exemplars of the
// blocks that overlap it, and the copies the two hold are merged.
func (r *SplitReader) ExemplarQuerier(ctx context.Context, tenant string) (storage.ExemplarQuerier, error) {
	ing, err := r.ingesters.ExemplarQuerier(ctx, tenant)
	if err != nil || r.store == nil {
		return ing, err
	}
	return splitExemplars{ing: ing, store: r.store, ctx: ctx, tenant: tenant}, nil
}

type splitExemplars struct {
	ing    storage.ExemplarQuerier
	store  wire.Reader
	ctx    context.Context
	tenant string
}

func (q splitExemplars) Select(start, end int64, ms ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	ing, err := q.ing.Select(start, end, ms...)
	if err != nil {
		return nil, err
	}
	var fromStore []exemplar.QueryResult
	sq, err := q.store.ExemplarQuerier(q.ctx, q.tenant)
	if err == nil {
		fromStore, err = sq.Select(start, end, ms...)
	}
	if err != nil {
		if !wire.IsUnimplemented(err) {
			return nil, err
		}
		fromStore = nil
	}
	if len(fromStore) == 0 {
		return ing, nil
	}
	return bucketindex.MergeExemplars(0, ing, fromStore), nil
}

// Metadata implements wire.Reader: the ingesters' metadata and the
// metadata kept beside the blocks in the bucket, for metrics that only
// the bucket still has; a family both describe is described as the
// ingesters, which saw it last, describe it. A store of an older build
// that does not serve metadata adds nothing.
func (r *SplitReader) Metadata(ctx context.Context, tenant, metric string, limit int) ([]wire.Metadata, error) {
	if r.store == nil {
		return r.ingesters.Metadata(ctx, tenant, metric, limit)
	}
	ing, err := r.ingesters.Metadata(ctx, tenant, metric, 0)
	if err != nil {
		return nil, err
	}
	fromStore, err := r.store.Metadata(ctx, tenant, metric, 0)
	if err != nil {
		if !wire.IsUnimplemented(err) {
			return nil, err
		}
		fromStore = nil
	}
	return mergeMetadata(limit, fromStore, ing), nil
}

// mergeMetadata merges lists of metadata by family, the last list's
// description winning, sorted by family, at most limit when limit > 0.
func mergeMetadata(limit int, lists ...[]wire.Metadata) []wire.Metadata {
	byName := map[string]wire.Metadata{}
	for _, l := range lists {
		for _, m := range l {
			byName[m.MetricFamily] = m
		}
	}
	out := make([]wire.Metadata, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MetricFamily < out[j].MetricFamily })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

var _ wire.Reader = (*SplitReader)(nil)

// TSDBStatus implements wire.CardinalityReader: the in-memory series
// live in the ingesters only.
func (r *SplitReader) TSDBStatus(ctx context.Context, tenant string, limit int) (*wire.TSDBStatus, error) {
	cr, err := cardinalityOf(r.ingesters)
	if err != nil {
		return nil, err
	}
	return cr.TSDBStatus(ctx, tenant, limit)
}

// LabelCardinality implements wire.CardinalityReader over the ingesters.
func (r *SplitReader) LabelCardinality(ctx context.Context, tenant string, req *wire.CardinalityRequest) (*wire.LabelCardinality, error) {
	cr, err := cardinalityOf(r.ingesters)
	if err != nil {
		return nil, err
	}
	return cr.LabelCardinality(ctx, tenant, req)
}

// cardinalityOf returns reader as a wire.CardinalityReader, or the error
// that a query API over it answers.
func cardinalityOf(reader wire.Reader) (wire.CardinalityReader, error) {
	cr, ok := reader.(wire.CardinalityReader)
	if !ok {
		return nil, httpapi.Errorf(http.StatusNotImplemented, "cannot count series: this querier reads no ingesters")
	}
	return cr, nil
}
