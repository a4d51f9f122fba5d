package federation

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/tenant"
)

// perTenant serves, for the tenant of each call's context, the series
// of that tenant in series.
type perTenant struct {
	series map[string][]labels.Labels
}

func (p perTenant) Select(ctx context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	id, err := tenant.From(ctx)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	var out []storage.Series
	for _, ls := range p.series[id] {
		ok := true
		for _, m := range ms {
			ok = ok && m.Matches(ls.Get(m.Name))
		}
		if ok {
			out = append(out, storage.NewListSeries(ls, nil))
		}
	}
	return &listSet{series: out, i: -1}
}

type listSet struct {
	series []storage.Series
	i      int
}

func (s *listSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *listSet) At() storage.Series                { return s.series[s.i] }
func (s *listSet) Err() error                        { return nil }
func (s *listSet) Warnings() annotations.Annotations { return nil }

func (p perTenant) LabelValues(ctx context.Context, name string, _ *storage.LabelHints, _ ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	id, _ := tenant.From(ctx)
	var out []string
	for _, ls := range p.series[id] {
		out = append(out, ls.Get(name))
	}
	return out, nil, nil
}

func (p perTenant) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return []string{"__name__", "job"}, nil, nil
}

func (perTenant) Close() error { return nil }

func TestQuerier(t *testing.T) {
	inner := perTenant{series: map[string][]labels.Labels{
		"a": {labels.FromStrings("__name__", "up", "job", "x")},
		"b": {labels.FromStrings("__name__", "up", "job", "x"), labels.FromStrings("__name__", "up", "job", "y")},
	}}
	q := NewQuerier(inner, []string{"a", "b"})
	ctx := context.Background()
	sel := func(ms ...*labels.Matcher) []string {
		t.Helper()
		set := q.Select(ctx, true, nil, ms...)
		var got []string
		for set.Next() {
			got = append(got, set.At().Labels().String())
		}
		require.NoError(t, set.Err())
		return got
	}
	up := labels.MustNewMatcher(labels.MatchEqual, "__name__", "up")
	// Equal series of two tenants stay apart, each with its tenant.
	require.Equal(t, []string{
		`{__name__="up", __tenant_id__="a", job="x"}`,
		`{__name__="up", __tenant_id__="b", job="x"}`,
		`{__name__="up", __tenant_id__="b", job="y"}`,
	}, sel(up))
	// A matcher on the tenant label picks the tenants read.
	require.Equal(t, []string{`{__name__="up", __tenant_id__="a", job="x"}`},
		sel(up, labels.MustNewMatcher(labels.MatchNotEqual, TenantLabel, "b")))

	vs, _, err := q.LabelValues(ctx, TenantLabel, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, vs)
	vs, _, err = q.LabelValues(ctx, "job", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y"}, vs)
	ns, _, err := q.LabelNames(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", TenantLabel, "job"}, ns)
}
