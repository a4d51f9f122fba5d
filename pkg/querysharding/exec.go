package querysharding

import (
	"cmp"
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
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// RunFunc runs one sub-query downstream, over the same range and step as
// the query (or at the same time, for an instant query), and returns its
// result: a promql.Matrix for a range query, a promql.Vector (or Matrix)
// for an instant one. Exec calls it concurrently, and reads the value after
// it returned: run must not recycle it (promql.Query.Close does: do not
// close the query, or copy its value first).
type RunFunc func(ctx context.Context, subquery string) (parser.Value, annotations.Annotations, error)

// Options configure a Sharder.
type Options struct {
	// Engine configures the engine that evaluates the outer expression
	// over the partial results. Its Parser and feature flags
	// (EnableDelayedNameRemoval, EnableTypeAndUnitLabels, ...) must be the
	// queriers': the outer expression keeps every operation of the query
	// that is not sharded. Its LookbackDelta is ignored (see Sharder).
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
	opts.Engine.EnableAtModifier = true
	opts.Engine.EnableNegativeOffset = true
	return &Sharder{parser: opts.Engine.Parser, engine: promql.NewEngine(opts.Engine), parallelism: opts.Parallelism}
}

// Shardable says whether qs has a part that shards, and returns the
// sub-queries that one shard of shards runs, for logs and tests. A query
// that does not parse is not shardable: let it fail downstream.
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
			smp := make([]chunks.Sample, 0, len(s.Floats)+len(s.Histograms))
			for _, f := range s.Floats {
				smp = append(smp, point{t: f.T, f: f.F})
			}
			for _, h := range s.Histograms {
				smp = append(smp, point{t: h.T, h: h.H})
			}
			if len(s.Floats) > 0 && len(s.Histograms) > 0 {
				slices.SortFunc(smp, func(a, b chunks.Sample) int { return cmp.Compare(a.T(), b.T()) })
			}
			out = append(out, listSeries(withShard(s.Metric), smp))
		}
	case promql.Vector:
		for _, s := range v {
			out = append(out, listSeries(withShard(s.Metric), []chunks.Sample{point{t: s.T, f: s.F, h: s.H}}))
		}
	case nil:
	default:
		return nil, fmt.Errorf("cannot use a %s as a partial result of a sharded query", v.Type())
	}
	return out, nil
}

func listSeries(ls labels.Labels, smp []chunks.Sample) storage.Series {
	return &storage.SeriesEntry{
		Lset: ls,
		SampleIteratorFn: func(chunkenc.Iterator) chunkenc.Iterator {
			return storage.NewListSeriesIteratorWithCopy(samples(smp))
		},
	}
}

type samples []chunks.Sample

func (s samples) Get(i int) chunks.Sample { return s[i] }
func (s samples) Len() int                { return len(s) }

// point is one sample of a partial result: a float, or a float histogram
// when h is set.
type point struct {
	t int64
	f float64
	h *histogram.FloatHistogram
}

func (p point) T() int64                      { return p.t }
func (p point) ST() int64                     { return 0 }
func (p point) F() float64                    { return p.f }
func (p point) H() *histogram.Histogram       { return nil }
func (p point) FH() *histogram.FloatHistogram { return p.h }
func (p point) Copy() chunks.Sample           { return p }
func (p point) Type() chunkenc.ValueType {
	if p.h != nil {
		return chunkenc.ValFloatHistogram
	}
	return chunkenc.ValFloat
}

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
