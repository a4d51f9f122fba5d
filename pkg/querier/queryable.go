package querier

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/weft-io/weft/pkg/federation"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querysharding"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// tenantQueryable reads the tenant of each call from its context, so one
// Prometheus API and engine serve every tenant and no call can reach data
// of a tenant other than the one the request authenticated as.
type tenantQueryable struct {
	reader wire.Reader
	limits *limits.Overrides
	now    func() time.Time
}

func (q tenantQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	return &tenantQuerier{q: q, mint: mint, maxt: maxt}, nil
}

type tenantQuerier struct {
	q          tenantQueryable
	mint, maxt int64
	opened     []storage.Querier
	fetch      *wire.FetchStats // counts the selects made without a query's stats
}

// open returns the reader's querier for the tenant of ctx, clamping the
// range to the tenant's max query lookback, and the range's start.
func (t *tenantQuerier) open(ctx context.Context) (storage.Querier, int64, error) {
	id, err := tenant.From(ctx)
	if err != nil {
		return nil, 0, err
	}
	mint := t.mint
	if lb := t.q.limits.For(id).MaxQueryLookback; lb > 0 {
		if min := t.q.now().Add(-time.Duration(lb)).UnixMilli(); mint < min {
			mint = min
		}
	}
	if mint > t.maxt {
		return storage.NoopQuerier(), mint, nil
	}
	qr, err := t.q.reader.Querier(id, mint, t.maxt)
	if err != nil {
		return nil, 0, err
	}
	t.opened = append(t.opened, qr)
	return qr, mint, nil
}

// Select clamps the hints' start to the max query lookback too: the TSDB
// reads the hints' range when there are hints, not the querier's. A
// __query_shard__ matcher of the query-frontend becomes the hints' shard.
func (t *tenantQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	if ids := federated(ctx); ids != nil {
		return federation.NewQuerier(t, ids).Select(ctx, sortSeries, hints, ms...)
	}
	hints, ms, err := querysharding.SelectShard(hints, t.mint, t.maxt, ms)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	qr, mint, err := t.open(ctx)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	if hints != nil && hints.Start < mint {
		h := *hints
		h.Start = mint
		hints = &h
	}
	// The series limit holds for /series too, whose selects come
	// without the stats of a query: each querier counts its own (its
	// selects come one after the other).
	fetch := wire.FetchStatsFrom(ctx)
	if fetch == nil {
		if t.fetch == nil {
			id, _ := tenant.From(ctx) // open checked it
			lim := t.q.limits.For(id)
			t.fetch = wire.NewFetchStats(int64(lim.MaxFetchedSeriesPerQuery), int64(lim.MaxFetchedChunkBytesPerQuery))
		}
		fetch = t.fetch
		ctx = wire.WithFetchStats(ctx, fetch)
	}
	return &countingSeriesSet{SeriesSet: qr.Select(ctx, sortSeries, hints, ms...), fetch: fetch}
}

func (t *tenantQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	if ids := federated(ctx); ids != nil {
		return federation.NewQuerier(t, ids).LabelValues(ctx, name, hints, ms...)
	}
	qr, _, err := t.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return qr.LabelValues(ctx, name, hints, ms...)
}

func (t *tenantQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	if ids := federated(ctx); ids != nil {
		return federation.NewQuerier(t, ids).LabelNames(ctx, hints, ms...)
	}
	qr, _, err := t.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return qr.LabelNames(ctx, hints, ms...)
}

// federated returns the tenants of a federated read ("a|b" in the
// context), or nil for one tenant. The federation querier then calls t
// again once per tenant, each with one tenant in its context.
func federated(ctx context.Context) []string {
	id, err := tenant.From(ctx)
	if err != nil || !tenant.IsFederated(id) {
		return nil
	}
	return tenant.Split(id)
}

func (t *tenantQuerier) Close() error {
	var first error
	for _, q := range t.opened {
		if err := q.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// tenantExemplars is the exemplar counterpart of tenantQueryable.
type tenantExemplars struct{ reader wire.Reader }

func (e tenantExemplars) ExemplarQuerier(ctx context.Context) (storage.ExemplarQuerier, error) {
	id, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	return e.reader.ExemplarQuerier(ctx, id)
}
