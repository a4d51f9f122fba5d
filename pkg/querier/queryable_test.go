package querier

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

// Every call reads the tenant of its context, and only that tenant's
// data; no call without a tenant reaches the reader.
func TestTenantQueryableServesTheTenantOfTheContext(t *testing.T) {
	m := labels.FromStrings(labels.MetricName, "m")
	r := newFakeReader(t, "a").add(t, m, ident, 1, 2)
	q, err := NewQueryable(r, testOverrides(t, nil)).Querier(0, 100)
	require.NoError(t, err)

	_, _, err = collect(q.Select(context.Background(), true, nil, allSeries))
	require.ErrorIs(t, err, tenant.ErrMissing)
	_, _, err = q.LabelNames(context.Background(), nil)
	require.ErrorIs(t, err, tenant.ErrMissing)
	_, _, err = q.LabelValues(context.Background(), labels.MetricName, nil)
	require.ErrorIs(t, err, tenant.ErrMissing)
	require.Empty(t, r.asked(), "nothing is read without a tenant")

	got, _, err := collect(q.Select(tenant.With(context.Background(), "a"), true, nil, allSeries))
	require.NoError(t, err)
	require.Equal(t, map[string][]sample{m.String(): samplesAt(ident, 1, 2)}, got)
	got, _, err = collect(q.Select(tenant.With(context.Background(), "b"), true, nil, allSeries))
	require.NoError(t, err)
	require.Empty(t, got)
	vals, _, err := q.LabelValues(tenant.With(context.Background(), "a"), labels.MetricName, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"m"}, vals)
	names, _, err := q.LabelNames(tenant.With(context.Background(), "a"), nil)
	require.NoError(t, err)
	require.Equal(t, []string{labels.MetricName}, names)
	require.Equal(t, []readCall{{"a", 0, 100}, {"b", 0, 100}, {"a", 0, 100}, {"a", 0, 100}}, r.asked())

	// Close closes every querier opened for any call.
	require.Equal(t, 4, r.openQueriers())
	require.NoError(t, q.Close())
	require.Zero(t, r.openQueriers())
}

// A tenant's max query lookback clamps how far back its queries read.
func TestTenantQueryableAppliesMaxQueryLookback(t *testing.T) {
	now := time.UnixMilli(1000 * minute)
	nowMs := now.UnixMilli()
	lim := testOverrides(t, map[string]func(*limits.Limits){"short": func(l *limits.Limits) { l.MaxQueryLookback = model.Duration(time.Hour) }})
	r := &fakeReader{}
	qa := tenantQueryable{reader: r, limits: lim, now: func() time.Time { return now }}
	f := func(id string, mint, maxt int64, want ...readCall) {
		t.Helper()
		r.reset()
		q, err := qa.Querier(mint, maxt)
		require.NoError(t, err)
		defer q.Close()
		_, _, err = collect(q.Select(tenant.With(context.Background(), id), true, nil, allSeries))
		require.NoError(t, err)
		require.Equal(t, want, r.asked())
	}
	f("short", 0, nowMs, readCall{"short", nowMs - 60*minute, nowMs})
	f("short", nowMs-30*minute, nowMs, readCall{"short", nowMs - 30*minute, nowMs})
	f("short", 0, nowMs-60*minute, readCall{"short", nowMs - 60*minute, nowMs - 60*minute})
	f("short", 0, nowMs-60*minute-1) // entirely older: nothing read
	f("other", 0, nowMs, readCall{"other", 0, nowMs})

	// The hints' range is clamped too: the TSDB reads that one.
	ts := span(nowMs-90*minute, nowMs, 10*minute)
	for _, id := range []string{"short", "other"} {
		qa.reader = newFakeReader(t, id).add(t, labels.FromStrings(labels.MetricName, "m"), ident, ts...)
		q, err := qa.Querier(0, nowMs)
		require.NoError(t, err)
		got, _, err := collect(q.Select(tenant.With(context.Background(), id), true, &storage.SelectHints{Start: 0, End: nowMs}, allSeries))
		require.NoError(t, err)
		require.NoError(t, q.Close())
		want := ts
		if id == "short" {
			want = ts[3:]
		}
		require.Equal(t, map[string][]sample{`{__name__="m"}`: samplesAt(ident, want...)}, got, id)
	}
}

func TestTenantExemplars(t *testing.T) {
	m := labels.FromStrings(labels.MetricName, "m")
	r := newFakeReader(t, "a")
	e := exemplar.Exemplar{Labels: labels.FromStrings("trace_id", "x"), Value: 1, Ts: 5, HasTs: true}
	r.addExemplar(t, m, e)
	eq := tenantExemplars{r}
	_, err := eq.ExemplarQuerier(context.Background())
	require.ErrorIs(t, err, tenant.ErrMissing)
	q, err := eq.ExemplarQuerier(tenant.With(context.Background(), "a"))
	require.NoError(t, err)
	res, err := q.Select(0, 10, []*labels.Matcher{allSeries})
	require.NoError(t, err)
	require.Equal(t, []exemplar.QueryResult{{SeriesLabels: m, Exemplars: []exemplar.Exemplar{e}}}, res)
	q, err = eq.ExemplarQuerier(tenant.With(context.Background(), "b"))
	require.NoError(t, err)
	res, err = q.Select(0, 10, []*labels.Matcher{allSeries})
	require.NoError(t, err)
	require.Empty(t, res)
}
