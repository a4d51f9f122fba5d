package querier

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weft-io/weft/pkg/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// readCall is one Querier call a fakeReader answered.
type readCall struct {
	tenant     string
	mint, maxt int64
}

// fakeReader is a wire.Reader over a real in-memory Prometheus TSDB (the
// series of one tenant), that records what it was asked and can fail or
// warn on demand, standing in for an ingester or a store-gateway.
//
// The fields are set before the reader is used; fail changes err and
// selectErr while queries may run.
type fakeReader struct {
	db       *teststorage.TestStorage // nil: no series
	tenant   string                   // the tenant owning db; others get nothing
	warning  error                    // added to the warnings of every Select and label call
	metadata []wire.Metadata

	mu        sync.Mutex
	err       error      // returned by Querier, ExemplarQuerier and Metadata, guarded by mu
	selectErr error      // returned by every Select, guarded by mu
	calls     []readCall // guarded by mu
	open      int        // queriers not closed yet, guarded by mu
}

// newFakeReader returns a reader over an empty TSDB of its own, holding
// the series of tenant.
func newFakeReader(t testing.TB, tenant string) *fakeReader {
	// Sharding enabled, as in the ingester's TSDB.
	return &fakeReader{db: teststorage.New(t, func(o *tsdb.Options) { o.EnableSharding = true }), tenant: tenant}
}

// add appends samples at the timestamps ts, valued v(ts).
func (f *fakeReader) add(t *testing.T, ls labels.Labels, v func(ts int64) float64, ts ...int64) *fakeReader {
	app := f.db.Appender(context.Background())
	for _, x := range ts {
		_, err := app.Append(0, ls, x, v(x))
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	return f
}

// addHistograms appends native histograms at the timestamps ts, valued by
// the minute they are in (a counter that grows).
func (f *fakeReader) addHistograms(t *testing.T, ls labels.Labels, ts ...int64) *fakeReader {
	app := f.db.Appender(context.Background())
	for _, x := range ts {
		_, err := app.AppendHistogram(0, ls, x, tsdbutil.GenerateTestHistogram(x/minute), nil)
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	return f
}

func (f *fakeReader) addExemplar(t *testing.T, ls labels.Labels, e exemplar.Exemplar) {
	app := f.db.Appender(context.Background())
	ref, err := app.Append(0, ls, e.Ts, e.Value)
	require.NoError(t, err)
	_, err = app.AppendExemplar(ref, ls, e)
	require.NoError(t, err)
	require.NoError(t, app.Commit())
}

// fail makes the reader fail from now on: err for every call, selectErr
// for Select only.
func (f *fakeReader) fail(err, selectErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.selectErr = err, selectErr
}

func (f *fakeReader) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// reset forgets the calls so far.
func (f *fakeReader) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

func (f *fakeReader) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, readCall{tenant, mint, maxt})
	if f.err != nil {
		return nil, f.err
	}
	var q storage.Querier = storage.NoopQuerier()
	if f.db != nil && tenant == f.tenant {
		var err error
		if q, err = f.db.Querier(mint, maxt); err != nil {
			return nil, err
		}
	}
	f.open++
	return &fakeQuerier{Querier: q, f: f, selectErr: f.selectErr}, nil
}

func (f *fakeReader) ExemplarQuerier(ctx context.Context, tenant string) (storage.ExemplarQuerier, error) {
	if err := f.failure(); err != nil {
		return nil, err
	}
	if f.db == nil || tenant != f.tenant {
		return noExemplars{}, nil
	}
	return f.db.ExemplarQuerier(ctx)
}

func (f *fakeReader) Metadata(_ context.Context, tenant, metric string, limit int) ([]wire.Metadata, error) {
	if err := f.failure(); err != nil {
		return nil, err
	}
	if tenant != f.tenant {
		return nil, nil
	}
	var out []wire.Metadata
	for _, m := range f.metadata {
		if metric == "" || m.MetricFamily == metric {
			out = append(out, m)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// asked returns the calls so far.
func (f *fakeReader) asked() []readCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeReader) openQueriers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

type noExemplars struct{}

func (noExemplars) Select(int64, int64, ...[]*labels.Matcher) ([]exemplar.QueryResult, error) {
	return nil, nil
}

type fakeQuerier struct {
	storage.Querier
	f         *fakeReader
	selectErr error
	closed    bool // guarded by f.mu
}

func (q *fakeQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	if q.selectErr != nil {
		return storage.ErrSeriesSet(q.selectErr)
	}
	ss := q.Querier.Select(ctx, sortSeries, hints, ms...)
	if q.f.warning == nil {
		return ss
	}
	return warnSet{ss, q.f.warning}
}

func (q *fakeQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	vals, warns, err := q.Querier.LabelValues(ctx, name, hints, ms...)
	return vals, q.warn(warns), err
}

func (q *fakeQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	names, warns, err := q.Querier.LabelNames(ctx, hints, ms...)
	return names, q.warn(warns), err
}

func (q *fakeQuerier) warn(warns annotations.Annotations) annotations.Annotations {
	if q.f.warning != nil {
		warns = warns.Add(q.f.warning)
	}
	return warns
}

func (q *fakeQuerier) Close() error {
	q.f.mu.Lock()
	defer q.f.mu.Unlock()
	if q.closed {
		return errors.New("querier closed twice")
	}
	q.closed = true
	q.f.open--
	return q.Querier.Close()
}

// warnSet adds a warning to a series set's.
type warnSet struct {
	storage.SeriesSet
	w error
}

func (s warnSet) Warnings() annotations.Annotations {
	var out annotations.Annotations
	out.Merge(s.SeriesSet.Warnings())
	return out.Add(s.w)
}

type sample struct {
	t int64
	v float64
}

// collect reads a series set whole: the samples of each series by its
// labels, with the set's error and warnings.
func collect(ss storage.SeriesSet) (map[string][]sample, annotations.Annotations, error) {
	out := map[string][]sample{}
	var it chunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		k := s.Labels().String()
		if _, dup := out[k]; dup {
			return nil, nil, errors.New("series " + k + " returned twice")
		}
		it = s.Iterator(it)
		var got []sample
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			got = append(got, sample{ts, v})
		}
		if err := it.Err(); err != nil {
			return nil, nil, err
		}
		out[k] = got
	}
	return out, ss.Warnings(), ss.Err()
}

// selectAll selects every series of q in its whole range.
func selectAll(q storage.Querier) (map[string][]sample, annotations.Annotations, error) {
	return collect(q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+")))
}

// samplesAt returns samples at ts valued by v.
func samplesAt(v func(int64) float64, ts ...int64) []sample {
	out := make([]sample, 0, len(ts))
	for _, t := range ts {
		out = append(out, sample{t, v(t)})
	}
	return out
}

// span returns from, from+step, ... up to to inclusive.
func span(from, to, step int64) []int64 {
	var out []int64
	for t := from; t <= to; t += step {
		out = append(out, t)
	}
	return out
}

func ident(t int64) float64 { return float64(t) }

// warningTexts returns the texts of warns, sorted.
func warningTexts(warns annotations.Annotations) []string {
	out := []string{}
	for text := range warns {
		out = append(out, text)
	}
	slices.Sort(out)
	return out
}
