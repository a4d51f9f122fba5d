package querier

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

const minute = int64(time.Minute / time.Millisecond)

// splitAt returns a split reader whose clock is stopped at now.
func splitAt(ing, store wire.Reader, ingestersWithin, storeAfter time.Duration, now time.Time) *SplitReader {
	r := NewSplitReader(ing, store, nil, ingestersWithin, storeAfter)
	r.now = func() time.Time { return now }
	return r
}

// Which reader is asked for which range: ingesters for the last
// ingestersWithin, the store for everything older than storeAfter, with
// both bounds inclusive.
func TestSplitReaderRoutesByAge(t *testing.T) {
	now := time.UnixMilli(1000 * minute)
	nowMs := now.UnixMilli()
	iEdge := nowMs - 60*minute // now - ingestersWithin
	sEdge := nowMs - 50*minute // now - storeAfter
	f := func(mint, maxt int64, wantIng, wantStore []readCall) {
		t.Helper()
		ing, store := &fakeReader{}, &fakeReader{}
		q, err := splitAt(ing, store, time.Hour, 50*time.Minute, now).Querier("t", mint, maxt)
		require.NoError(t, err)
		require.NoError(t, q.Close())
		require.Equal(t, wantIng, ing.asked(), "ingesters for [%d, %d]", mint, maxt)
		require.Equal(t, wantStore, store.asked(), "store for [%d, %d]", mint, maxt)
		require.Zero(t, ing.openQueriers()+store.openQueriers(), "every querier opened is closed with the split one")
	}
	call := func(mint, maxt int64) []readCall { return []readCall{{"t", mint, maxt}} }

	// Recent: ingesters only.
	f(nowMs-10*minute, nowMs, call(nowMs-10*minute, nowMs), nil)
	f(sEdge+1, nowMs, call(sEdge+1, nowMs), nil)
	// Old: the store only.
	f(0, 10*minute, nil, call(0, 10*minute))
	f(0, iEdge-1, nil, call(0, iEdge-1))
	// Each bound is inclusive: a query ending exactly where the
	// ingesters' window starts asks them for that one millisecond, one
	// starting exactly at storeAfter asks the store for it.
	f(0, iEdge, call(iEdge, iEdge), call(0, iEdge))
	f(sEdge, nowMs, call(sEdge, nowMs), call(sEdge, sEdge))
	// Across the overlap: both, each clamped to its window.
	f(0, nowMs, call(iEdge, nowMs), call(0, sEdge))
	f(iEdge+5*minute, sEdge-5*minute, call(iEdge+5*minute, sEdge-5*minute), call(iEdge+5*minute, sEdge-5*minute))
	// In the future: ingesters.
	f(nowMs+minute, nowMs+2*minute, call(nowMs+minute, nowMs+2*minute), nil)
}

func TestSplitReaderZeroWindowsMeanAllTime(t *testing.T) {
	now := time.UnixMilli(1000 * minute)
	ing, store := &fakeReader{}, &fakeReader{}
	q, err := splitAt(ing, store, 0, time.Hour, now).Querier("t", 0, now.UnixMilli())
	require.NoError(t, err)
	require.NoError(t, q.Close())
	require.Equal(t, []readCall{{"t", 0, now.UnixMilli()}}, ing.asked(), "zero ingestersWithin asks the ingesters for all time")

	ing, store = &fakeReader{}, &fakeReader{}
	q, err = splitAt(ing, store, time.Hour, 0, now).Querier("t", 0, now.UnixMilli())
	require.NoError(t, err)
	require.NoError(t, q.Close())
	require.Equal(t, []readCall{{"t", 0, now.UnixMilli()}}, store.asked(), "zero storeAfter asks the store for all time")
}

func TestSplitReaderWithoutStore(t *testing.T) {
	now := time.UnixMilli(1000 * minute)
	ing := &fakeReader{}
	q, err := splitAt(ing, nil, time.Hour, 50*time.Minute, now).Querier("t", 0, 10*minute)
	require.NoError(t, err)
	got, _, err := selectAll(q)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Empty(t, ing.asked(), "old data and no store: nobody to ask")
}

// With storeAfter above ingestersWithin (a gap; Validate should refuse
// it), a query inside the gap asks nobody and gets nothing, not an error.
func TestSplitReaderGapAsksNobody(t *testing.T) {
	now := time.UnixMilli(1000 * minute)
	ing, store := &fakeReader{}, &fakeReader{}
	q, err := splitAt(ing, store, 30*time.Minute, time.Hour, now).Querier("t", now.UnixMilli()-50*minute, now.UnixMilli()-40*minute)
	require.NoError(t, err)
	got, _, err := selectAll(q)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Empty(t, ing.asked())
	require.Empty(t, store.asked())
}

// In the overlap both answer with the same samples; the merge returns each
// once, and the series of each side that the other lacks.
func TestSplitReaderMergesTheOverlap(t *testing.T) {
	now := time.UnixMilli(1000 * minute)
	nowMs := now.UnixMilli()
	m := labels.FromStrings(labels.MetricName, "m")
	onlyStore := labels.FromStrings(labels.MetricName, "gone")
	onlyIng := labels.FromStrings(labels.MetricName, "new")
	// The store has 120m..55m ago, the ingesters 65m ago..now.
	store := newFakeReader(t, "t").add(t, m, ident, span(nowMs-120*minute, nowMs-55*minute, minute)...).
		add(t, onlyStore, ident, nowMs-100*minute)
	ing := newFakeReader(t, "t").add(t, m, ident, span(nowMs-65*minute, nowMs, minute)...).
		add(t, onlyIng, ident, nowMs-minute)
	q, err := splitAt(ing, store, time.Hour, 50*time.Minute, now).Querier("t", nowMs-120*minute, nowMs)
	require.NoError(t, err)
	got, _, err := selectAll(q)
	require.NoError(t, err)
	require.NoError(t, q.Close())
	require.Equal(t, map[string][]sample{
		m.String():         samplesAt(ident, span(nowMs-120*minute, nowMs, minute)...),
		onlyStore.String(): samplesAt(ident, nowMs-100*minute),
		onlyIng.String():   samplesAt(ident, nowMs-minute),
	}, got)
	require.Zero(t, ing.openQueriers()+store.openQueriers())

	// Labels come from both sides.
	q, err = splitAt(ing, store, time.Hour, 50*time.Minute, now).Querier("t", nowMs-120*minute, nowMs)
	require.NoError(t, err)
	defer q.Close()
	vals, _, err := q.LabelValues(context.Background(), labels.MetricName, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"gone", "m", "new"}, vals)
}

// Native histograms keep their counter-reset hints across the overlap:
// each copy's are "not reset" but for its first sample, and so must the
// merge's be.
func TestSplitReaderKeepsHintsAcrossTheOverlap(t *testing.T) {
	now := time.UnixMilli(1000 * minute)
	nowMs := now.UnixMilli()
	m := labels.FromStrings(labels.MetricName, "m")
	store := newFakeReader(t, "t").addHistograms(t, m, span(nowMs-100*minute, nowMs-45*minute, minute)...)
	ing := newFakeReader(t, "t").addHistograms(t, m, span(nowMs-70*minute, nowMs, minute)...)
	q, err := splitAt(ing, store, time.Hour, 50*time.Minute, now).Querier("t", nowMs-100*minute, nowMs)
	require.NoError(t, err)
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, allSeries)
	require.True(t, ss.Next())
	var got []histogram.CounterResetHint
	it := ss.At().Iterator(nil)
	for it.Next() == chunkenc.ValHistogram {
		_, h := it.AtHistogram(nil)
		got = append(got, h.CounterResetHint)
	}
	require.NoError(t, it.Err())
	require.False(t, ss.Next())
	require.NoError(t, ss.Err())
	want := []histogram.CounterResetHint{histogram.UnknownCounterReset}
	for range 100 {
		want = append(want, histogram.NotCounterReset)
	}
	require.Equal(t, want, got)
}

// Both sides are primaries: an error of either fails the query rather
// than returning a silent gap.
func TestSplitReaderFailsWhenEitherSideFails(t *testing.T) {
	now := time.UnixMilli(1000 * minute)
	nowMs := now.UnixMilli()
	m := labels.FromStrings(labels.MetricName, "m")
	boom := wire.Errorf(wire.KindUnavailable, "", "store down")

	// The store cannot open a querier: the ingesters' querier is closed
	// again and the error returned.
	ing := newFakeReader(t, "t").add(t, m, ident, nowMs)
	store := &fakeReader{}
	store.fail(boom, nil)
	_, err := splitAt(ing, store, time.Hour, 50*time.Minute, now).Querier("t", 0, nowMs)
	require.ErrorIs(t, err, boom)
	require.Len(t, ing.asked(), 1)
	require.Zero(t, ing.openQueriers(), "the ingesters' querier is closed when the store's fails")

	// The ingesters cannot open one: the store is not even asked.
	ing, store = &fakeReader{}, newFakeReader(t, "t")
	ing.fail(boom, nil)
	_, err = splitAt(ing, store, time.Hour, 50*time.Minute, now).Querier("t", 0, nowMs)
	require.ErrorIs(t, err, boom)
	require.Empty(t, store.asked())

	// A Select failing on either side fails the merged Select.
	for _, side := range []string{"ingesters", "store"} {
		ing := newFakeReader(t, "t").add(t, m, ident, nowMs)
		store := newFakeReader(t, "t").add(t, m, ident, 0)
		if side == "ingesters" {
			ing.fail(nil, boom)
		} else {
			store.fail(nil, boom)
		}
		q, err := splitAt(ing, store, time.Hour, 50*time.Minute, now).Querier("t", 0, nowMs)
		require.NoError(t, err)
		_, _, err = selectAll(q)
		require.ErrorIs(t, err, boom, side)
		require.NoError(t, q.Close())
	}
}

func TestSplitReaderWarningsOfBothSides(t *testing.T) {
	now := time.UnixMilli(1000 * minute)
	ing, store := newFakeReader(t, "t"), newFakeReader(t, "t")
	ing.warning, store.warning = errors.New("from ingesters"), errors.New("from store")
	q, err := splitAt(ing, store, time.Hour, 50*time.Minute, now).Querier("t", 0, now.UnixMilli())
	require.NoError(t, err)
	defer q.Close()
	_, warns, err := selectAll(q)
	require.NoError(t, err)
	require.Equal(t, []string{"from ingesters", "from store"}, warningTexts(warns))
}

var _ storage.Querier = (*fakeQuerier)(nil)
