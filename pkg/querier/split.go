package querier

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/storage"

	"github.com/weft-io/weft/pkg/wire"
)

// SplitReader reads a tenant's recent series from the ingesters and older
// ones from the bucket's blocks (the store-gateways): ingesters for the
// last ingestersWithin, the store for everything older than storeAfter.
// storeAfter < ingestersWithin gives an overlap in which both answer, so a
// block being shipped is never missed; the copies are merged and each
// sample kept once.
type SplitReader struct {
	ingesters       wire.Reader
	store           wire.Reader
	ingestersWithin time.Duration
	storeAfter      time.Duration
	now             func() time.Time
}

// NewSplitReader returns the reader over ingesters and store. A zero
// ingestersWithin asks the ingesters for all time; a zero storeAfter asks
// the store for all time.
func NewSplitReader(ingesters, store wire.Reader, ingestersWithin, storeAfter time.Duration) *SplitReader {
	return &SplitReader{ingesters: ingesters, store: store, ingestersWithin: ingestersWithin, storeAfter: storeAfter, now: time.Now}
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
	// silently returning a gap.
	return storage.NewMergeQuerier(qs, nil, storage.ChainedSeriesMerge), nil
}

// ExemplarQuerier implements wire.Reader: exemplars live in ingesters only.
func (r *SplitReader) ExemplarQuerier(ctx context.Context, tenant string) (storage.ExemplarQuerier, error) {
	return r.ingesters.ExemplarQuerier(ctx, tenant)
}

// Metadata implements wire.Reader: metadata lives in ingesters only.
func (r *SplitReader) Metadata(ctx context.Context, tenant, metric string, limit int) ([]wire.Metadata, error) {
	return r.ingesters.Metadata(ctx, tenant, metric, limit)
}

var _ wire.Reader = (*SplitReader)(nil)
