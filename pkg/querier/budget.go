package querier

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// The tenant's max_samples_per_query is enforced where the engine reads
// storage, not by the engine's query-cost accounting
// (EngineOpts.EnableQueryCost): that accounting wraps every series
// iterator in one that checks the query's context twice per sample, about
// a quarter of a dashboard query's CPU. Here a sample costs one count when
// an iterator's Next or Seek lands on it; the context is checked by the
// engine between steps, as in Prometheus' own server.
// (max_fetched_series_per_query is counted by the stores: trackedQuery.)

// errLimitEnv is where the limit error says it happened, as the engine's
// own do.
const errLimitEnv = "query execution"

// budgetQueryable gives each querier (the engine opens one per query) a
// budget of the tenant's samples limit.
type budgetQueryable struct {
	storage.Queryable
	maxSamples int64
}

// withBudget wraps q with the limit, or returns q when there is none (0).
func withBudget(q storage.Queryable, maxSamples int) storage.Queryable {
	if maxSamples <= 0 {
		return q
	}
	return budgetQueryable{Queryable: q, maxSamples: int64(maxSamples)}
}

func (q budgetQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	qr, err := q.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return &budgetQuerier{Querier: qr, b: queryBudget{maxSamples: q.maxSamples}}, nil
}

// queryBudget counts the samples one query read. The engine evaluates a
// query in one goroutine, so the count needs no lock.
type queryBudget struct {
	maxSamples int64
	samples    int64
}

type budgetQuerier struct {
	storage.Querier
	b queryBudget
}

func (q *budgetQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return &budgetSet{SeriesSet: q.Querier.Select(ctx, sortSeries, hints, ms...), b: &q.b}
}

// budgetSet hands out its series counting their samples.
type budgetSet struct {
	storage.SeriesSet
	b    *queryBudget
	slab []budgetSeries // the series handed out are cut from it
}

func (s *budgetSet) At() storage.Series {
	// The engine keeps every series of a set: one allocation per 256.
	if len(s.slab) == cap(s.slab) {
		s.slab = make([]budgetSeries, 0, 256)
	}
	s.slab = append(s.slab, budgetSeries{Series: s.SeriesSet.At(), b: s.b})
	return &s.slab[len(s.slab)-1]
}

type budgetSeries struct {
	storage.Series
	b *queryBudget
}

func (s *budgetSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if bi, ok := it.(*budgetIterator); ok {
		inner := bi.Iterator
		if bi.err != nil {
			inner = bi.inner // the series' iterator it replaced when it failed
		}
		*bi = budgetIterator{Iterator: s.Series.Iterator(inner), samples: &s.b.samples, max: s.b.maxSamples}
		return bi
	}
	return &budgetIterator{Iterator: s.Series.Iterator(it), samples: &s.b.samples, max: s.b.maxSamples}
}

// budgetIterator counts each sample that Next or Seek lands on, and stops
// with promql.ErrTooManySamplesRead at the first one over the limit. It
// costs a count and a comparison per sample, on top of the call.
type budgetIterator struct {
	chunkenc.Iterator
	samples *int64 // the query's count
	max     int64
	err     error
	inner   chunkenc.Iterator // the series' iterator, once failed
}

func (it *budgetIterator) Next() chunkenc.ValueType {
	vt := it.Iterator.Next()
	if vt == chunkenc.ValNone {
		return vt
	}
	if *it.samples++; *it.samples > it.max {
		return it.fail()
	}
	return vt
}

// Seek implements chunkenc.Iterator.
func (it *budgetIterator) Seek(t millis) chunkenc.ValueType {
	vt := it.Iterator.Seek(t)
	if vt == chunkenc.ValNone {
		return vt
	}
	if *it.samples++; *it.samples > it.max {
		return it.fail()
	}
	return vt
}

// fail ends the iteration: the series' iterator is set aside for reuse and
// an empty one answers from now on.
func (it *budgetIterator) fail() chunkenc.ValueType {
	it.err = promql.ErrTooManySamplesRead(errLimitEnv)
	it.inner, it.Iterator = it.Iterator, chunkenc.NewNopIterator()
	return chunkenc.ValNone
}

func (it *budgetIterator) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.Iterator.Err()
}
