package querier

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// The tenant's max_fetched_series_per_query and max_samples_per_query are
// enforced where the engine reads storage, not by the engine's query-cost
// accounting (EngineOpts.EnableQueryCost): that accounting wraps every
// series iterator in one that checks the query's context twice per sample,
// about a quarter of a dashboard query's CPU. Here a series costs one
// count when its set yields it and a sample one count when an iterator's
// Next or Seek lands on it; the context is checked by the engine between
// steps, as in Prometheus' own server.

// errLimitEnv is where the limit errors say they happened, as the engine's
// own do.
const errLimitEnv = "query execution"

// budgetQueryable gives each querier (the engine opens one per query) a
// budget of the tenant's limits. A zero limit is no limit; with neither
// limit set it returns the queryable's querier as it is.
type budgetQueryable struct {
	storage.Queryable
	maxSeries, maxSamples int64
}

// withBudget wraps q with the limits, or returns q when there are none.
func withBudget(q storage.Queryable, maxSeries, maxSamples int) storage.Queryable {
	if maxSeries <= 0 && maxSamples <= 0 {
		return q
	}
	return budgetQueryable{Queryable: q, maxSeries: int64(max(maxSeries, 0)), maxSamples: int64(max(maxSamples, 0))}
}

func (q budgetQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	qr, err := q.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return &budgetQuerier{Querier: qr, b: queryBudget{maxSeries: q.maxSeries, maxSamples: q.maxSamples}}, nil
}

// queryBudget counts the series and samples one query read. The engine
// evaluates a query in one goroutine, so the counts need no lock.
type queryBudget struct {
	maxSeries, maxSamples int64 // 0: no limit
	series, samples       int64
}

type budgetQuerier struct {
	storage.Querier
	b queryBudget
}

func (q *budgetQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return &budgetSet{SeriesSet: q.Querier.Select(ctx, sortSeries, hints, ms...), b: &q.b}
}

// budgetSet counts the series of a set; when samples are limited, its
// series count their samples.
type budgetSet struct {
	storage.SeriesSet
	b    *queryBudget
	err  error
	slab []budgetSeries // the series handed out are cut from it
}

func (s *budgetSet) Next() bool {
	if s.err != nil || !s.SeriesSet.Next() {
		return false
	}
	if s.b.maxSeries > 0 {
		if s.b.series++; s.b.series > s.b.maxSeries {
			s.err = promql.ErrTooManySeries(errLimitEnv)
			return false
		}
	}
	return true
}

func (s *budgetSet) At() storage.Series {
	if s.b.maxSamples <= 0 {
		return s.SeriesSet.At()
	}
	// The engine keeps every series of a set: one allocation per 256.
	if len(s.slab) == cap(s.slab) {
		s.slab = make([]budgetSeries, 0, 256)
	}
	s.slab = append(s.slab, budgetSeries{Series: s.SeriesSet.At(), b: s.b})
	return &s.slab[len(s.slab)-1]
}

func (s *budgetSet) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.SeriesSet.Err()
}

type budgetSeries struct {
	storage.Series
	b *queryBudget
}

func (s *budgetSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if bi, ok := it.(*budgetIterator); ok {
		bi.Iterator, bi.b, bi.err = s.Series.Iterator(bi.Iterator), s.b, nil
		return bi
	}
	return &budgetIterator{Iterator: s.Series.Iterator(it), b: s.b}
}

// budgetIterator counts each sample that Next or Seek lands on, and stops
// with promql.ErrTooManySamplesRead at the first one over the limit.
type budgetIterator struct {
	chunkenc.Iterator
	b   *queryBudget
	err error
}

func (it *budgetIterator) Next() chunkenc.ValueType {
	if it.err != nil {
		return chunkenc.ValNone
	}
	return it.count(it.Iterator.Next())
}

// Seek implements chunkenc.Iterator.
func (it *budgetIterator) Seek(t millis) chunkenc.ValueType {
	if it.err != nil {
		return chunkenc.ValNone
	}
	return it.count(it.Iterator.Seek(t))
}

func (it *budgetIterator) count(vt chunkenc.ValueType) chunkenc.ValueType {
	if vt == chunkenc.ValNone {
		return vt
	}
	if it.b.samples++; it.b.samples > it.b.maxSamples {
		it.err = promql.ErrTooManySamplesRead(errLimitEnv)
		return chunkenc.ValNone
	}
	return vt
}

func (it *budgetIterator) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.Iterator.Err()
}
