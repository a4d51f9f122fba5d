package app

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/ingester"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/wire"
)

func newTestIngester(t *testing.T) *ingester.Ingester {
	return startIngester(t, testIngesterConfig(t), testLimits(t), nil)
}

func pushRange(t *testing.T, ing *ingester.Ingester, from, to time.Time, step time.Duration) int {
	req := &wire.PushRequest{Series: []wire.Series{{Labels: labels.FromStrings("__name__", "m")}}}
	for ts := from; !ts.After(to); ts = ts.Add(step) {
		req.Series[0].Samples = append(req.Series[0].Samples, wire.Sample{T: ts.UnixMilli(), V: float64(ts.Unix())})
	}
	_, err := ing.Push(context.Background(), "t", req)
	require.NoError(t, err)
	return len(req.Series[0].Samples)
}

// The querier reads recent data from ingesters and older data from the
// store; in the overlap both answer and each sample comes back once.
func TestSplitReaderMergesIngestersAndStore(t *testing.T) {
	now := time.Now().Truncate(time.Minute)
	recent, store := newTestIngester(t), newTestIngester(t)
	step := 10 * time.Minute
	// The store holds 20h..11h ago; the ingesters 14h ago..now.
	pushRange(t, store, now.Add(-20*time.Hour), now.Add(-11*time.Hour), step)
	pushRange(t, recent, now.Add(-14*time.Hour), now, step)
	r := querier.NewSplitReader(recent, store, nil, 13*time.Hour, 12*time.Hour)

	count := func(mint, maxt time.Time) []int64 {
		q, err := r.Querier("t", mint.UnixMilli(), maxt.UnixMilli())
		require.NoError(t, err)
		defer q.Close()
		ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
		var ts []int64
		for ss.Next() {
			it := ss.At().Iterator(nil)
			for it.Next() != 0 {
				t, _ := it.At()
				ts = append(ts, t)
			}
		}
		require.NoError(t, ss.Err())
		return ts
	}
	all := count(now.Add(-20*time.Hour), now)
	require.Len(t, all, int(20*time.Hour/step)+1, "every sample once across the overlap")
	for i := 1; i < len(all); i++ {
		require.Equal(t, step.Milliseconds(), all[i]-all[i-1])
	}
	// A range older than the ingesters' window is answered by the store
	// alone: the recent ingester's 14h..13h samples are not asked for.
	old := count(now.Add(-20*time.Hour), now.Add(-13*time.Hour-time.Minute))
	require.Len(t, old, int(7*time.Hour/step))
}
