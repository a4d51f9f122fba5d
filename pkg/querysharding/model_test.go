package querysharding_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/querysharding"
)

// apiRange runs a range query and answers as the HTTP API does: the
// matrix through its JSON, the warnings and infos as texts.
func apiRange(t *testing.T, eng *promql.Engine, q storage.Queryable, qs string, start, end time.Time, step time.Duration) (model.Matrix, []string, []string, error) {
	qry, err := eng.NewRangeQuery(context.Background(), q, nil, qs, start, end, step)
	if err != nil {
		return nil, nil, nil, err
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		return nil, nil, nil, res.Err
	}
	b, err := json.Marshal(res.Value)
	require.NoError(t, err)
	var m model.Matrix
	require.NoError(t, json.Unmarshal(b, &m))
	w, i := res.Warnings.AsStrings(qs, 0, 0)
	return m, w, i, nil
}

// ExecModel, for the query-frontend, gives over the API's JSON what the
// whole query gives, warnings included; a query over native histograms
// does not shard (their JSON is not exact).
func TestExecModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 2026))
	db := shardingStorage(t)
	loadRandom(t, db, r)
	opts := engineOpts()
	opts.EnableDelayedNameRemoval = false
	eng := promql.NewEngine(opts)
	s := querysharding.New(querysharding.Options{Engine: opts})
	start, end := time.UnixMilli(1200_000), time.UnixMilli(3600_000)
	g := &gen{r: r}
	sharded := 0
	for n := range 150 {
		ge := g.expr()
		t.Run(fmt.Sprintf("%d/%s", n, ge.q), func(t *testing.T) {
			want, ww, wi, werr := apiRange(t, eng, db, ge.q, start, end, time.Minute)
			got, gw, gi, ok, err := s.ExecModel(context.Background(), ge.q, start, end, time.Minute, 3, func(_ context.Context, sub string) (model.Matrix, []string, []string, error) {
				return apiRange(t, eng, querysharding.Queryable(db), sub, start, end, time.Minute)
			})
			if !ok {
				require.NoError(t, err)
				return
			}
			sharded++
			if werr != nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, ww, gw)
			require.Equal(t, wi, gi)
			compare(t, ge, fromModel(want), fromModel(got))
			for _, ss := range want {
				require.Empty(t, ss.Histograms)
			}
		})
	}
	t.Logf("%d of 150 expressions ran sharded", sharded)
	require.Greater(t, sharded, 75)

	_, _, _, ok, err := s.ExecModel(context.Background(), `sum(h)`, start, end, time.Minute, 3, func(_ context.Context, sub string) (model.Matrix, []string, []string, error) {
		return apiRange(t, eng, querysharding.Queryable(db), sub, start, end, time.Minute)
	})
	require.NoError(t, err)
	require.False(t, ok, "histograms: run it whole")
}

func fromModel(m model.Matrix) promql.Matrix {
	var out promql.Matrix
	for _, ss := range m {
		b := make([]string, 0, 2*len(ss.Metric))
		for n, v := range ss.Metric {
			b = append(b, string(n), string(v))
		}
		s := promql.Series{Metric: labelsFromStrings(b...)}
		for _, p := range ss.Values {
			s.Floats = append(s.Floats, promql.FPoint{T: int64(p.Timestamp), F: float64(p.Value)})
		}
		out = append(out, s)
	}
	return out
}

func labelsFromStrings(ss ...string) labels.Labels { return labels.FromStrings(ss...) }
