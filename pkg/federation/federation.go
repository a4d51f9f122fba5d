package federation

import (
	"context"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/weft-io/weft/pkg/tenant"
)

// TenantLabel names, in the results of a federated read, the tenant each
// series comes from, so that equal series of two tenants stay apart (as
// Cortex and Mimir name it).
const TenantLabel = "__tenant_id__"

// NewQueryable returns a queryable over the given tenants: inner serves
// the tenant of the context of each call, and each series it returns is
// labelled with its tenant in TenantLabel.
func NewQueryable(inner storage.Queryable, tenants []string) storage.Queryable {
	return queryable{inner: inner, tenants: tenants}
}

// NewQuerier is NewQueryable for one querier: inner serves the tenant of
// the context of each call. Its Close closes inner.
func NewQuerier(inner storage.Querier, tenants []string) storage.Querier {
	return querier{inner: inner, tenants: tenants}
}

// queryable reads the series of several tenants through a queryable
// that serves the tenant of its context, each series labelled with its
// tenant. A matcher on TenantLabel selects the tenants to read.
type queryable struct {
	inner   storage.Queryable
	tenants []string
}

func (f queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	q, err := f.inner.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return querier{inner: q, tenants: f.tenants}, nil
}

type querier struct {
	inner   storage.Querier
	tenants []string
}

// split returns the tenants that the matchers on TenantLabel select, and
// the other matchers.
func (f querier) split(ms []*labels.Matcher) ([]string, []*labels.Matcher) {
	var rest []*labels.Matcher
	tenants := slices.Clone(f.tenants)
	for _, m := range ms {
		if m.Name != TenantLabel {
			rest = append(rest, m)
			continue
		}
		tenants = slices.DeleteFunc(tenants, func(t string) bool { return !m.Matches(t) })
	}
	return tenants, rest
}

func (f querier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	tenants, rest := f.split(ms)
	sets := make([]storage.SeriesSet, 0, len(tenants))
	for _, t := range tenants {
		// Each set must be sorted to be merged.
		set := f.inner.Select(tenant.With(ctx, t), true, hints, rest...)
		sets = append(sets, &labelledSet{SeriesSet: set, tenantID: t})
	}
	return storage.NewMergeSeriesSet(sets, 0, storage.ChainedSeriesMerge)
}

func (f querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	tenants, rest := f.split(ms)
	if name == TenantLabel {
		return tenants, nil, nil
	}
	var out []string
	var warns annotations.Annotations
	for _, t := range tenants {
		vs, w, err := f.inner.LabelValues(tenant.With(ctx, t), name, hints, rest...)
		if err != nil {
			return nil, nil, err
		}
		warns.Merge(w)
		out = append(out, vs...)
	}
	slices.Sort(out)
	return slices.Compact(out), warns, nil
}

func (f querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	tenants, rest := f.split(ms)
	out := []string{TenantLabel}
	var warns annotations.Annotations
	for _, t := range tenants {
		ns, w, err := f.inner.LabelNames(tenant.With(ctx, t), hints, rest...)
		if err != nil {
			return nil, nil, err
		}
		warns.Merge(w)
		out = append(out, ns...)
	}
	slices.Sort(out)
	return slices.Compact(out), warns, nil
}

func (f querier) Close() error { return f.inner.Close() }

// labelledSet adds TenantLabel to each series of a set. Adding one label
// keeps the set's order, except against series that already carry it,
// which a tenant's own series never do (the label is reserved).
type labelledSet struct {
	storage.SeriesSet
	tenantID string
	b        labels.Builder
}

func (s *labelledSet) At() storage.Series {
	ser := s.SeriesSet.At()
	s.b.Reset(ser.Labels())
	s.b.Set(TenantLabel, s.tenantID)
	return labelledSeries{Series: ser, lset: s.b.Labels()}
}

type labelledSeries struct {
	storage.Series
	lset labels.Labels
}

func (s labelledSeries) Labels() labels.Labels { return s.lset }
