package querier

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/wire"
)

// reportPrefix starts the warning through which the test's store reports
// the blocks it read, as a store-gateway does.
const reportPrefix = "queried blocks: "

func blockID(n byte) ulid.ULID { return ulid.MustNew(uint64(n), bytes.NewReader(make([]byte, 10))) }

// queriedFromWarnings is the BlockCheck.Queried of the test's store.
func queriedFromWarnings(warns annotations.Annotations) ([]ulid.ULID, annotations.Annotations) {
	var (
		ids  []ulid.ULID
		rest annotations.Annotations
	)
	for text, err := range warns {
		list, ok := strings.CutPrefix(text, reportPrefix)
		if !ok {
			rest.Add(err)
			continue
		}
		for _, s := range strings.Split(list, ",") {
			ids = append(ids, ulid.MustParse(s))
		}
	}
	return ids, rest
}

// reportingReader is a store that reports reading the given blocks, plus
// one ordinary warning, with every Select and label call.
type reportingReader struct {
	*fakeReader
	read []ulid.ULID
}

func (r reportingReader) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	q, err := r.fakeReader.Querier(tenant, mint, maxt)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(r.read))
	for i, id := range r.read {
		ids[i] = id.String()
	}
	return reportingQuerier{q, reportPrefix + strings.Join(ids, ",")}, nil
}

type reportingQuerier struct {
	storage.Querier
	report string
}

func (q reportingQuerier) warns(w annotations.Annotations) annotations.Annotations {
	var out annotations.Annotations
	out.Merge(w)
	out.Add(errors.New("an ordinary warning"))
	if len(q.report) > len(reportPrefix) {
		out.Add(errors.New(q.report))
	}
	return out
}

func (q reportingQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	ss := q.Querier.Select(ctx, sortSeries, hints, ms...)
	return reportingSet{ss, q}
}

func (q reportingQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	names, w, err := q.Querier.LabelNames(ctx, hints, ms...)
	return names, q.warns(w), err
}

func (q reportingQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	vals, w, err := q.Querier.LabelValues(ctx, name, hints, ms...)
	return vals, q.warns(w), err
}

type reportingSet struct {
	storage.SeriesSet
	q reportingQuerier
}

func (s reportingSet) Warnings() annotations.Annotations { return s.q.warns(s.SeriesSet.Warnings()) }

// requiredCall is one call of BlockCheck.Required.
type requiredCall struct {
	tenant     string
	mint, maxt int64
}

// checkFixture is a store holding one series that read the blocks in
// read, and a check that requires the blocks in required.
type checkFixture struct {
	store    reportingReader
	series   labels.Labels
	mu       sync.Mutex
	calls    []requiredCall // guarded by mu
	required []ulid.ULID
	err      error // returned by Required
}

func newCheckFixture(t *testing.T, required, read []ulid.ULID) *checkFixture {
	f := &checkFixture{series: labels.FromStrings(labels.MetricName, "m"), required: required}
	f.store = reportingReader{newFakeReader(t, "t").add(t, f.series, ident, 10, 20, 30), read}
	return f
}

func (f *checkFixture) reader() wire.Reader {
	return CheckedReader(f.store, BlockCheck{
		Required: func(_ context.Context, tenant string, mint, maxt int64) ([]ulid.ULID, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls = append(f.calls, requiredCall{tenant, mint, maxt})
			return f.required, f.err
		},
		Queried: queriedFromWarnings,
	})
}

func TestCheckedReaderPassesWhenEveryBlockWasRead(t *testing.T) {
	a, b, c := blockID(1), blockID(2), blockID(3)
	f := newCheckFixture(t, []ulid.ULID{a, b}, []ulid.ULID{c, a, b})
	q, err := f.reader().Querier("t", 0, 100)
	require.NoError(t, err)
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, allSeries)
	require.Equal(t, []string{"an ordinary warning"}, warningTexts(ss.Warnings()), "the report never reaches the user, even before the end")
	got, warns, err := collect(ss)
	require.NoError(t, err)
	require.Equal(t, map[string][]sample{f.series.String(): samplesAt(ident, 10, 20, 30)}, got)
	require.Equal(t, []string{"an ordinary warning"}, warningTexts(warns), "the report is taken out, other warnings stay")
	require.Equal(t, []requiredCall{{"t", 0, 100}}, f.calls)

	// A store that read nothing passes when nothing is required.
	f = newCheckFixture(t, nil, nil)
	q, err = f.reader().Querier("t", 0, 100)
	require.NoError(t, err)
	_, _, err = selectAll(q)
	require.NoError(t, err)
}

func TestCheckedReaderFailsOnAMissedBlock(t *testing.T) {
	a, b, c := blockID(1), blockID(2), blockID(3)
	f := newCheckFixture(t, []ulid.ULID{a, b, c}, []ulid.ULID{b})
	q, err := f.reader().Querier("tenant-1", 0, 100)
	require.NoError(t, err)
	defer q.Close()
	_, warns, err := selectAll(q)
	require.Error(t, err, "a missed block fails the query rather than leave a silent gap")
	require.ErrorContains(t, err, a.String())
	require.ErrorContains(t, err, c.String())
	require.NotContains(t, err.Error(), b.String(), "only the missed blocks are named")
	require.ErrorContains(t, err, "tenant-1")
	require.ErrorContains(t, err, "err-weft-store-consistency-check-failed")
	var se promql.ErrStorage
	require.ErrorAs(t, err, &se, "a storage error: the API answers 5xx, a retry can help")
	require.Equal(t, wire.KindUnavailable, wire.KindOf(se.Err))
	require.Equal(t, []string{"an ordinary warning"}, warningTexts(warns))
}

// The check asks for the blocks of the range actually selected: the
// querier's range narrowed by the hints.
func TestCheckedReaderChecksTheSelectedRange(t *testing.T) {
	f := newCheckFixture(t, nil, nil)
	q, err := f.reader().Querier("t", 0, 1000)
	require.NoError(t, err)
	defer q.Close()
	for _, h := range []*storage.SelectHints{{Start: 100, End: 500}, {Start: -50, End: 2000}, nil} {
		_, _, err = collect(q.Select(context.Background(), true, h, allSeries))
		require.NoError(t, err)
	}
	require.Equal(t, []requiredCall{{"t", 100, 500}, {"t", 0, 1000}, {"t", 0, 1000}}, f.calls)
}

// Label calls cannot fail on a missed block (the answer is still useful);
// they warn instead.
func TestCheckedReaderWarnsOnLabelCalls(t *testing.T) {
	a, b := blockID(1), blockID(2)
	f := newCheckFixture(t, []ulid.ULID{a, b}, []ulid.ULID{a})
	q, err := f.reader().Querier("t", 0, 100)
	require.NoError(t, err)
	defer q.Close()
	names, warns, err := q.LabelNames(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, []string{labels.MetricName}, names)
	require.Len(t, warns, 2)
	require.Contains(t, strings.Join(warningTexts(warns), "\n"), b.String())
	vals, warns, err := q.LabelValues(context.Background(), labels.MetricName, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"m"}, vals)
	require.Contains(t, strings.Join(warningTexts(warns), "\n"), b.String())

	f = newCheckFixture(t, []ulid.ULID{a}, []ulid.ULID{a})
	q, err = f.reader().Querier("t", 0, 100)
	require.NoError(t, err)
	defer q.Close()
	_, warns, err = q.LabelNames(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, []string{"an ordinary warning"}, warningTexts(warns))
}

func TestCheckedReaderErrors(t *testing.T) {
	boom := errors.New("cannot read the bucket index")

	// The required blocks cannot be known: the query fails.
	f := newCheckFixture(t, nil, nil)
	f.err = boom
	q, err := f.reader().Querier("t", 0, 100)
	require.NoError(t, err)
	_, _, err = selectAll(q)
	require.ErrorIs(t, err, boom)
	_, warns, err := q.LabelNames(context.Background(), nil)
	require.NoError(t, err)
	require.Contains(t, warningTexts(warns), boom.Error())

	// The store's own failures pass through unchanged.
	f = newCheckFixture(t, []ulid.ULID{blockID(1)}, nil)
	f.store.fail(nil, boom)
	q, err = f.reader().Querier("t", 0, 100)
	require.NoError(t, err)
	_, _, err = selectAll(q)
	require.ErrorIs(t, err, boom)
	f.store.fail(boom, nil)
	_, err = f.reader().Querier("t", 0, 100)
	require.ErrorIs(t, err, boom)
}
