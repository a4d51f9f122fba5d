package querysharding

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// RunFunc runs one sub-query downstream, over the same range and step as
// the query (or at the same time, for an instant query), and returns its
// result: a promql.Matrix for a range query, a promql.Vector (or Matrix)
// for an instant one. Exec calls it concurrently, and reads the value after
// it returned: run must not recycle it (promql.Query.Close does: do not
// close the query, or copy its value first).
type RunFunc func(ctx context.Context, subquery string) (parser.Value, annotations.Annotations, error)

// defaultSubqueryStep is the step of a subquery without one when
// Options.Engine does not say: the querier's (and Prometheus' default
// evaluation interval).
const defaultSubqueryStep = time.Minute

// Options configure a Sharder.
type Options struct {
	// Engine configures the engine that evaluates the outer expression
	// over the partial results. Its Parser and feature flags
	// (EnableDelayedNameRemoval, EnableTypeAndUnitLabels, ...) must be the
	// queriers': the outer expression keeps every operation of the query
	// that is not sharded. Its LookbackDelta is ignored (see Sharder);
	// NoStepSubqueryIntervalFn, when nil, gives 1m, as the querier does.
	Engine promql.EngineOpts
	// Parallelism is the most sub-queries of one query that run at once;
	// 0 runs them all at once.
	Parallelism int
}

// Sharder runs queries as sharded sub-queries and evaluates the rest of
// each query over their results. It is safe for concurrent use.
//
// The outer evaluation reads each partial result at exactly the times it
// was computed at (a lookback of 1ms), so a step with no value in a
// partial is no value, not the previous step's.
type Sharder struct {
	parser      parser.Parser
	engine      *promql.Engine
	parallelism int
}

// New returns a Sharder.
func New(opts Options) *Sharder {
	if opts.Engine.Parser == nil {
		opts.Engine.Parser = parser.NewParser(parser.Options{})
	}
	if opts.Engine.Timeout == 0 {
		opts.Engine.Timeout = time.Hour // the caller's context bounds the query
	}
	if opts.Engine.MaxSamples == 0 {
		opts.Engine.MaxSamples = 1 << 62
	}
	if opts.Engine.NoStepSubqueryIntervalFn == nil {
		// The outer expression may hold a subquery without a step
		// (sum(x) + on() max_over_time(y[10m:])), which the engine
		// cannot evaluate without it.
		opts.Engine.NoStepSubqueryIntervalFn = func(int64) int64 { return defaultSubqueryStep.Milliseconds() }
	}
	opts.Engine.EnableAtModifier = true
	opts.Engine.EnableNegativeOffset = true
	return &Sharder{parser: opts.Engine.Parser, engine: promql.NewEngine(opts.Engine), parallelism: opts.Parallelism}
}

// Shardable says whether qs has a part that shards in shards, and returns
// the sub-queries that Exec would run, for logs and tests. A query that
// does not parse is not shardable: let it fail downstream.
func (s *Sharder) Shardable(qs string, shards int) ([]string, bool) {
	p, ok := s.plan(qs, shards)
	if !ok {
		return nil, false
	}
	var out []string
	for k := range p.partials {
		out = append(out, p.queries(k, shards)...)
	}
	return out, true
}

func (s *Sharder) plan(qs string, shards int) (*plan, bool) {
	if shards < 2 {
		return nil, false
	}
	expr, err := s.parser.ParseExpr(qs)
	if err != nil {
		return nil, false
	}
	return newPlan(expr)
}

// Exec runs the PromQL query qs sharded in shards: the range query over
// [start, end] every step, or the instant query at start when step is 0.
// It returns sharded false, and nothing else, when qs has no part that
// shards (or fewer than two shards are asked for): the caller runs it
// unsharded. Otherwise run gets every sub-query, the shards of each
// shardable aggregation with __query_shard__ matchers and the parts that
// do not shard once without, and Exec evaluates the rest of the query over
// their results. The result is a promql.Matrix for a range query, and a
// promql.Vector, promql.Scalar, promql.Matrix or promql.String for an
// instant one; the annotations are those of the sub-queries and of the
// outer evaluation. An error of run or of the outer evaluation is
// returned as it is (after cancelling the other sub-queries).
func (s *Sharder) Exec(ctx context.Context, qs string, start, end time.Time, step time.Duration, shards int, run RunFunc) (parser.Value, annotations.Annotations, bool, error) {
	p, ok := s.plan(qs, shards)
	if !ok {
		return nil, nil, false, nil
	}
	type job struct {
		partial, shard int
		query          string
	}
	var jobs []job
	for k, pt := range p.partials {
		for i, q := range p.queries(k, shards) {
			if !pt.sharded {
				i = -1
			}
			jobs = append(jobs, job{k, i, q})
		}
	}

	remap := remapper{parser: s.parser, query: qs}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		annos    annotations.Annotations
		results  = make([][]storage.Series, len(p.partials))
		limit    = make(chan struct{}, len(jobs))
	)
	if s.parallelism > 0 && s.parallelism < len(jobs) {
		limit = make(chan struct{}, s.parallelism)
	}
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case limit <- struct{}{}:
				defer func() { <-limit }()
			case <-ctx.Done():
				return
			}
			if ctx.Err() != nil {
				return
			}
			v, a, err := run(ctx, j.query)
			a = remap.remap(a, j.query, p.partials[j.partial].expr)
			var series []storage.Series
			if err == nil {
				series, err = partialSeries(v, j.shard)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				return
			}
			annos.Merge(a)
			results[j.partial] = append(results[j.partial], series...)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, nil, true, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, true, err
	}

	for _, series := range results {
		slices.SortFunc(series, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	}
	q := partialQueryable(results)
	opts := promql.NewPrometheusQueryOpts(false, time.Millisecond, nil)
	var (
		qry   promql.Query
		err   error
		outer = p.outer.String()
	)
	if step == 0 {
		qry, err = s.engine.NewInstantQuery(ctx, q, opts, outer, start)
	} else {
		qry, err = s.engine.NewRangeQuery(ctx, q, opts, outer, start, end, step)
	}
	if err != nil {
		return nil, nil, true, fmt.Errorf("cannot evaluate the sharded query %s: %w", p.outer, err)
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, nil, true, res.Err
	}
	annos.Merge(remap.remap(res.Warnings, outer, p.outer))
	return res.Value, annos, true, nil
}

// partialSeries returns the series of a sub-query's result, labelled with
// their shard unless shard is negative.
func partialSeries(v parser.Value, shard int) ([]storage.Series, error) {
	withShard := func(ls labels.Labels) labels.Labels {
		if shard < 0 {
			return ls
		}
		b := labels.NewBuilder(ls)
		b.Set(shardLabel, strconv.Itoa(shard))
		return b.Labels()
	}
	var out []storage.Series
	switch v := v.(type) {
	case promql.Matrix:
		for _, s := range v {
			out = append(out, &pointSeries{lset: withShard(s.Metric), fs: s.Floats, hs: s.Histograms})
		}
	case promql.Vector:
		for _, s := range v {
			ps := &pointSeries{lset: withShard(s.Metric)}
			if s.H != nil {
				ps.hs = []promql.HPoint{{T: s.T, H: s.H}}
			} else {
				ps.fs = []promql.FPoint{{T: s.T, F: s.F}}
			}
			out = append(out, ps)
		}
	case nil:
	default:
		return nil, fmt.Errorf("cannot use a %s as a partial result of a sharded query", v.Type())
	}
	return out, nil
}

// pointSeries serves the points of a result series, each a float or a
// histogram, as a storage series, without copying them.
type pointSeries struct {
	lset labels.Labels
	fs   []promql.FPoint
	hs   []promql.HPoint
}

func (s *pointSeries) Labels() labels.Labels { return s.lset }

func (s *pointSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	pi, ok := it.(*pointIterator)
	if !ok {
		pi = &pointIterator{}
	}
	*pi = pointIterator{fs: s.fs, hs: s.hs, fi: -1, hi: -1}
	return pi
}

// pointIterator iterates the floats and the histograms of a pointSeries
// in the order of their times (a result series has both when its values
// change kind). fi and hi are the current positions; cur says which one
// the iterator is at.
type pointIterator struct {
	fs     []promql.FPoint
	hs     []promql.HPoint
	fi, hi int
	cur    chunkenc.ValueType
}

func (it *pointIterator) Next() chunkenc.ValueType {
	nf, nh := it.fi+1, it.hi+1
	switch {
	case nf < len(it.fs) && (nh >= len(it.hs) || it.fs[nf].T < it.hs[nh].T):
		it.fi, it.cur = nf, chunkenc.ValFloat
	case nh < len(it.hs):
		it.hi, it.cur = nh, chunkenc.ValFloatHistogram
	default:
		it.fi, it.hi, it.cur = len(it.fs), len(it.hs), chunkenc.ValNone
	}
	return it.cur
}

// millis is int64 under another name, only so that go vet does not take
// Seek for io.Seeker's.
type millis = int64

func (it *pointIterator) Seek(t millis) chunkenc.ValueType {
	if it.cur != chunkenc.ValNone && it.AtT() >= t {
		return it.cur
	}
	for it.Next() != chunkenc.ValNone {
		if it.AtT() >= t {
			return it.cur
		}
	}
	return chunkenc.ValNone
}

func (it *pointIterator) At() (int64, float64) { return it.fs[it.fi].T, it.fs[it.fi].F }

func (it *pointIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	panic("querysharding: a partial result has float histograms only")
}

// AtFloatHistogram copies: the engine may modify what it is given, and
// the result series is not the iterator's own.
func (it *pointIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	p := it.hs[it.hi]
	if fh == nil {
		return p.T, p.H.Copy()
	}
	p.H.CopyTo(fh)
	return p.T, fh
}

func (it *pointIterator) AtT() int64 {
	if it.cur == chunkenc.ValFloatHistogram {
		return it.hs[it.hi].T
	}
	return it.fs[it.fi].T
}

func (*pointIterator) AtST() int64 { return 0 }
func (*pointIterator) Err() error  { return nil }

// partialQueryable serves the partial results to the outer evaluation:
// a select with {__partial__="k"} gets partial k's series.
type partialQueryable [][]storage.Series

func (q partialQueryable) Querier(int64, int64) (storage.Querier, error) { return q, nil }

func (q partialQueryable) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	for _, m := range ms {
		if m.Name != partialLabel {
			continue
		}
		k, err := strconv.Atoi(m.Value)
		if err != nil || k < 0 || k >= len(q) {
			return storage.ErrSeriesSet(fmt.Errorf("cannot select partial result %q", m.Value))
		}
		return &seriesSet{series: q[k], i: -1}
	}
	return storage.EmptySeriesSet()
}

func (partialQueryable) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (partialQueryable) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (partialQueryable) Close() error { return nil }

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }
