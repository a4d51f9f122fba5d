package frontend

import (
	"context"
	"flag"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/tenant"
)

// FromPromQL writes what the querier's JSON holds, and ToPromQL gives
// back PromQL's own values from it: floats, and histograms with their
// schema, zero bucket and buckets (empty buckets aside).
func TestPromQLConversions(t *testing.T) {
	db := openTSDB(t)
	lim := testLimits(t, nil)
	q := newQuerier(t, db, lim)
	var qc querier.Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	qc.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	eng := querier.NewEngine(qc, lim, nil, nil)
	queryable := querier.NewQueryable(tsdbReader{db}, lim)
	ctx := tenant.With(context.Background(), "t")
	for _, qs := range []string{`x_total`, `h`, `rate(h[5m])`, `sum(h) * 3`, `histogram_fraction(0, 4, h)`} {
		// Not -h: the JSON leaves out a zero bucket with a negative count.
		start, end := base.Add(10*time.Hour), base.Add(11*time.Hour)
		qry, err := eng.NewRangeQuery(ctx, queryable, nil, qs, start, end, time.Minute)
		require.NoError(t, err)
		res := qry.Exec(ctx)
		require.NoError(t, res.Err)
		want, err := res.Matrix()
		require.NoError(t, err)
		got := do(t, q, "t", http.MethodGet, "/query_range", rangeParams(qs, 10*time.Hour, 11*time.Hour, time.Minute), nil)
		m := got.matrix(t)
		require.Equal(t, m, FromPromQL(want), qs)

		back, err := ToPromQL(m)
		require.NoError(t, err, qs)
		require.Len(t, back, len(want))
		for i := range want {
			require.Equal(t, want[i].Metric, back[i].Metric)
			require.Equal(t, want[i].Floats, back[i].Floats)
			require.Len(t, back[i].Histograms, len(want[i].Histograms))
			for j, p := range want[i].Histograms {
				w := p.H.Copy().Compact(0)
				w.CounterResetHint = histogram.UnknownCounterReset
				g := back[i].Histograms[j].H
				require.Equal(t, p.T, back[i].Histograms[j].T)
				require.True(t, w.Equals(g), "%s: %s\nwant %s", qs, g, w)
			}
		}
	}

	// Custom buckets (the first includes both bounds, as Prometheus writes
	// it), and what cannot be rebuilt.
	nhcb := &model.SampleHistogram{Count: 6, Sum: 10, Buckets: model.HistogramBuckets{
		{Boundaries: 3, Lower: model.FloatString(negInf), Upper: 1, Count: 1},
		{Boundaries: 0, Lower: 5, Upper: 10, Count: 3},
		{Boundaries: 0, Lower: 10, Upper: model.FloatString(posInf), Count: 2},
	}}
	fh, err := floatHistogram(nhcb)
	require.NoError(t, err)
	require.Equal(t, histogram.CustomBucketsSchema, fh.Schema)
	require.Equal(t, []float64{1, 5, 10}, fh.CustomValues)
	// One bucket next to the zero bucket: its lower bound is the zero
	// threshold, and nothing gives the schema.
	_, err = floatHistogram(&model.SampleHistogram{Count: 2, Buckets: model.HistogramBuckets{
		{Boundaries: 3, Lower: -0.001, Upper: 0.001, Count: 1}, {Boundaries: 0, Lower: 0.001, Upper: 1, Count: 1}}})
	require.ErrorIs(t, err, errNoSchema)
}

var negInf, posInf = math.Inf(-1), math.Inf(1)
