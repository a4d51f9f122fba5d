package querysharding_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"
)

// gen generates PromQL expressions over the series of loadRandom, each
// with whether its sharded answer must equal the unsharded one exactly
// (selectors, counts, min, max, group, topk, ...) or within float rounding
// (sums and averages), and whether only the values, not the series, can be
// compared (topk and bottomk may pick another of tied series).
type gen struct {
	r *rand.Rand
}

type genExpr struct {
	q          string
	exact      bool
	valuesOnly bool
}

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

// selector returns a float or a histogram selector, never both kinds in
// one: a group that mixes them is dropped with a warning, the one known
// difference of sharded sums.
func (g *gen) selector(hist bool) string {
	if hist {
		return g.pick(`h`, `h{job="j1"}`, `h{job=~"j[02]"}`, `h{instance!="i3"}`)
	}
	return g.pick(`c`, `g`, `c{job="j1"}`, `g{job=~"j[12]"}`, `{__name__=~"c|g"}`, `c{instance!~"i[0-4]"}`)
}

func (g *gen) modifier() string { return g.pick("", "", "", " offset 5m", " @ 1800") }

// inner returns a series-local expression: each series from one stored
// series.
func (g *gen) inner(hist bool) string {
	base, mod := g.selector(hist), g.modifier()
	s := base + mod
	rs := base + "[" + g.pick("1m", "5m", "10m") + "]" + mod
	if hist {
		return g.pick(s, "rate("+rs+")", "increase("+rs+")", "sum_over_time("+rs+")",
			"last_over_time("+rs+")", "histogram_count("+s+")", "histogram_sum(rate("+rs+"))", s+" * 2")
	}
	return g.pick(s, s, "rate("+rs+")", "increase("+rs+")", "irate("+rs+")", "delta("+rs+")",
		"avg_over_time("+rs+")", "max_over_time("+rs+")", "min_over_time("+rs+")",
		"count_over_time("+rs+")", "stddev_over_time("+rs+")", "quantile_over_time(0.9, "+rs+")",
		"abs("+s+")", "round("+s+", 10)", s+" * 3", "-"+s, s+" > 50", "100 - "+s, "clamp_max("+s+", 100)",
		"max_over_time(rate("+base+"[1m])[10m:1m]"+mod+")", `label_replace(`+s+`, "x", "$1", "instance", "i(.*)")`,
		"deriv("+rs+")", "resets("+rs+")", "changes("+rs+")", "timestamp("+s+")")
}

func (g *gen) grouping() string {
	return g.pick("", "", " by (job)", " by (job, instance)", " without (instance)", " without (job)", " by (__name__)", " by (nonexistent)", " without ()")
}

// aggregation returns a shardable aggregation (or, sometimes, one that
// does not shard) over a series-local expression.
func (g *gen) aggregation() genExpr {
	hist := g.r.IntN(4) == 0
	in, by := g.inner(hist), g.grouping()
	if hist {
		switch g.r.IntN(4) {
		case 0:
			return genExpr{q: "sum" + by + " (" + in + ")"}
		case 1:
			return genExpr{q: "avg" + by + " (" + in + ")"}
		case 2:
			return genExpr{q: "count" + by + " (" + in + ")", exact: true}
		default:
			return genExpr{q: "group" + by + " (" + in + ")", exact: true}
		}
	}
	switch g.r.IntN(10) {
	case 0, 1:
		return genExpr{q: "sum" + by + " (" + in + ")"}
	case 2:
		return genExpr{q: "avg" + by + " (" + in + ")"}
	case 3:
		return genExpr{q: "count" + by + " (" + in + ")", exact: true}
	case 4:
		return genExpr{q: "min" + by + " (" + in + ")", exact: true}
	case 5:
		return genExpr{q: "max" + by + " (" + in + ")", exact: true}
	case 6:
		return genExpr{q: "group" + by + " (" + in + ")", exact: true}
	case 7:
		return genExpr{q: g.pick("topk", "bottomk") + by + " (" + g.pick("1", "3", "20") + ", " + in + ")", exact: true, valuesOnly: true}
	case 8:
		return genExpr{q: `count_values` + by + ` ("value", round(` + in + `))`, exact: true}
	default:
		return genExpr{q: g.pick("quantile(0.5, ", "stddev(", "stdvar(") + in + ")"} // not shardable: run whole
	}
}

// expr returns an aggregation, or an expression around aggregations.
func (g *gen) expr() genExpr {
	a := g.aggregation()
	switch g.r.IntN(8) {
	case 0:
		b := g.aggregation()
		op := g.pick("+ on () group_left ()", "/ on () group_left ()", "- on () group_left ()", "and on ()", "or on (job)", "unless on (instance)")
		rhs := "sum by (job) (" + b.q + ")"
		if strings.Contains(op, "group_left") {
			rhs = "sum(" + b.q + ")"
		}
		return genExpr{q: "(" + a.q + ") " + op + " (" + rhs + ")", valuesOnly: a.valuesOnly}
	case 1:
		return genExpr{q: a.q + " * 2 + 1", exact: a.exact, valuesOnly: a.valuesOnly}
	case 2:
		return genExpr{q: "sum(" + a.q + ")"}
	case 3:
		return genExpr{q: "max(" + a.q + ") / scalar(" + g.aggregation().q + ")"}
	case 4:
		return genExpr{q: a.q + " > " + g.pick("0", "10", "1000"), exact: a.exact, valuesOnly: a.valuesOnly}
	}
	return a
}

// loadRandom fills db with counters c, gauges g and native histograms h
// of 4 jobs × 12 instances, every 15s over an hour, with gaps.
func loadRandom(t *testing.T, db storage.Storage, r *rand.Rand) {
	app := db.Appender(context.Background())
	for j := range 4 {
		for i := range 12 {
			job, inst := fmt.Sprintf("j%d", j), fmt.Sprintf("i%d", i)
			c, h := 0.0, 0.0
			for ts := int64(0); ts <= 3600_000; ts += 15_000 {
				if r.IntN(20) == 0 {
					continue // a missed scrape
				}
				c += r.Float64() * 10
				if r.IntN(200) == 0 {
					c = 0 // a counter reset
				}
				_, err := app.Append(0, labels.FromStrings("__name__", "c", "job", job, "instance", inst), ts, c)
				require.NoError(t, err)
				_, err = app.Append(0, labels.FromStrings("__name__", "g", "job", job, "instance", inst), ts, r.NormFloat64()*100)
				require.NoError(t, err)
				if i < 6 {
					h += float64(r.IntN(5))
					_, err = app.AppendHistogram(0, labels.FromStrings("__name__", "h", "job", job, "instance", inst), ts, nil, randomHistogram(r, h))
					require.NoError(t, err)
				}
			}
		}
	}
	require.NoError(t, app.Commit())
}

// randomHistogram returns a float counter histogram that grows with n.
func randomHistogram(r *rand.Rand, n float64) *histogram.FloatHistogram {
	buckets := []float64{n + 1, n * 2, float64(r.IntN(3)) + n}
	return &histogram.FloatHistogram{
		Schema:          0,
		Count:           buckets[0] + buckets[1] + buckets[2],
		Sum:             n * 3.5,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 3}},
		PositiveBuckets: buckets,
	}
}

// Hundreds of generated expressions give the same answers sharded and
// unsharded, as range and as instant queries: exactly for selectors,
// counts, min, max and topk, within float rounding for sums and averages.
func TestRandomShardedEqualsUnsharded(t *testing.T) {
	// weft's queriers remove the metric name late only with the
	// experimental PromQL features on; both ways are checked.
	for _, delayed := range []bool{false, true} {
		t.Run(fmt.Sprintf("delayed name removal %v", delayed), func(t *testing.T) {
			opts := engineOpts()
			opts.EnableDelayedNameRemoval = delayed
			seed := uint64(1)
			if delayed {
				seed = 2
			}
			randomEquivalence(t, opts, seed)
		})
	}
}

func randomEquivalence(t *testing.T, opts promql.EngineOpts, seed uint64) {
	const exprs = 400
	r := rand.New(rand.NewPCG(seed, 2026))
	db := shardingStorage(t)
	loadRandom(t, db, r)
	e := newShardedEngine(t, 0, opts)
	g := &gen{r: r}
	start, end := time.UnixMilli(1200_000), time.UnixMilli(3600_000)
	sharded := 0
	for n := range exprs {
		ge := g.expr()
		shards := []int{2, 3, 4, 8, 16}[r.IntN(5)]
		e.shards = shards
		instant := n%4 == 3
		t.Run(fmt.Sprintf("%d/%s", n, ge.q), func(t *testing.T) {
			var (
				want, got promql.Query
				err       error
			)
			ts := start.Add(time.Duration(r.IntN(40)) * time.Minute)
			before := e.sharded
			if instant {
				want, err = e.engine.NewInstantQuery(context.Background(), db, nil, ge.q, ts)
				require.NoError(t, err)
				got, err = e.NewInstantQuery(context.Background(), db, nil, ge.q, ts)
			} else {
				want, err = e.engine.NewRangeQuery(context.Background(), db, nil, ge.q, start, end, time.Minute)
				require.NoError(t, err)
				got, err = e.NewRangeQuery(context.Background(), db, nil, ge.q, start, end, time.Minute)
			}
			require.NoError(t, err)
			wres := want.Exec(context.Background())
			gres := got.Exec(context.Background())
			if e.sharded > before {
				sharded++
			}
			if wres.Err != nil {
				// A query of the generator can be wrong (duplicate series,
				// many-to-many matching): sharded it fails too.
				require.Error(t, gres.Err, "unsharded: %v", wres.Err)
				return
			}
			require.NoError(t, gres.Err)
			compare(t, ge, toMatrix(wres.Value), toMatrix(gres.Value))
			require.Equal(t, annotationTexts(ge.q, wres.Warnings), annotationTexts(ge.q, gres.Warnings))
		})
	}
	t.Logf("%d of %d expressions ran sharded", sharded, exprs)
	require.Greater(t, sharded, exprs/2)
}

// annotationTexts returns the annotations as the API shows them, with
// their positions in the query.
func annotationTexts(q string, annos annotations.Annotations) [2][]string {
	w, i := annos.AsStrings(q, 0, 0)
	slices.Sort(w)
	slices.Sort(i)
	return [2][]string{w, i}
}

func toMatrix(v parser.Value) promql.Matrix {
	switch v := v.(type) {
	case promql.Matrix:
		return v
	case promql.Vector:
		var m promql.Matrix
		for _, s := range v {
			ps := promql.Series{Metric: s.Metric}
			if s.H != nil {
				ps.Histograms = []promql.HPoint{{T: s.T, H: s.H}}
			} else {
				ps.Floats = []promql.FPoint{{T: s.T, F: s.F}}
			}
			m = append(m, ps)
		}
		return m
	case promql.Scalar:
		return promql.Matrix{{Floats: []promql.FPoint{{T: v.T, F: v.V}}}}
	}
	panic(fmt.Sprintf("unexpected %T", v))
}

// point is one value of a result: a float, or a histogram.
type point struct {
	series string
	t      int64
	f      float64
	h      *histogram.FloatHistogram
}

func points(m promql.Matrix, valuesOnly bool) []point {
	var out []point
	for _, s := range m {
		name := s.Metric.String()
		if valuesOnly {
			name = ""
		}
		for _, f := range s.Floats {
			out = append(out, point{series: name, t: f.T, f: f.F})
		}
		for _, h := range s.Histograms {
			out = append(out, point{series: name, t: h.T, h: h.H})
		}
	}
	slices.SortFunc(out, func(a, b point) int {
		if c := strings.Compare(a.series, b.series); c != 0 {
			return c
		}
		if a.t != b.t {
			return int(a.t - b.t)
		}
		if a.h != nil || b.h != nil {
			return 0
		}
		switch {
		case a.f < b.f || math.IsNaN(a.f) && !math.IsNaN(b.f):
			return -1
		case a.f > b.f || math.IsNaN(b.f) && !math.IsNaN(a.f):
			return 1
		}
		return 0
	})
	return out
}

func compare(t *testing.T, ge genExpr, want, got promql.Matrix) {
	t.Helper()
	wp, gp := points(want, ge.valuesOnly), points(got, ge.valuesOnly)
	require.Equal(t, len(wp), len(gp), "number of points\nwant %v\ngot  %v", want, got)
	for i := range wp {
		w, g := wp[i], gp[i]
		require.Equal(t, w.series, g.series)
		require.Equal(t, w.t, g.t, "%s", w.series)
		require.Equal(t, w.h == nil, g.h == nil, "%s at %d: float or histogram", w.series, w.t)
		if w.h != nil {
			if ge.exact {
				require.True(t, w.h.Equals(g.h), "%s at %d: want %s, got %s", w.series, w.t, w.h, g.h)
			} else {
				near(t, w.h.Count, g.h.Count, "%s at %d: count", w.series, w.t)
				near(t, w.h.Sum, g.h.Sum, "%s at %d: sum", w.series, w.t)
				wb, gb := w.h.AllBucketIterator(), g.h.AllBucketIterator()
				for wb.Next() {
					require.True(t, gb.Next())
					require.Equal(t, wb.At().Lower, gb.At().Lower)
					near(t, wb.At().Count, gb.At().Count, "%s at %d: bucket", w.series, w.t)
				}
				require.False(t, gb.Next())
			}
			continue
		}
		if ge.exact {
			if !(math.IsNaN(w.f) && math.IsNaN(g.f)) {
				require.Equal(t, w.f, g.f, "%s at %d", w.series, w.t)
			}
			continue
		}
		near(t, w.f, g.f, "%s at %d", w.series, w.t)
	}
}

// near requires a and b equal within float rounding: a relative error of
// 1e-9, or an absolute one of 1e-9 around zero (where a sum of values that
// cancel keeps rounding errors of the values' size).
func near(t *testing.T, a, b float64, msg string, args ...any) {
	t.Helper()
	if math.IsNaN(a) && math.IsNaN(b) || a == b {
		return
	}
	require.InDelta(t, a, b, 1e-9*max(1, math.Abs(a)), fmt.Sprintf(msg, args...))
}
