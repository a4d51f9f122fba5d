package app

import (
	"context"
	"errors"
	"flag"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

const promqlTenant = "promqltest"

// TestPrometheusPromQLSuite runs Prometheus' own PromQL acceptance scripts
// (promql/promqltest/testdata/*.test) with data pushed through the
// ingester's push API and read back through weft's tenant queryable and
// limit-applying engine, so every answer weft gives is checked against the
// answers Prometheus expects of itself.
func TestPrometheusPromQLSuite(t *testing.T) {
	lim := testLimits(t)
	promqltest.RunBuiltinTestsWithStorage(t, promqlEngine(t, lim), func(tb testing.TB) storage.Storage {
		return newPushStorage(tb, lim)
	})
}

// promqlEngine is the querier's engine as the suites run it: every
// feature the scripts use, and the test tenant put in each query.
func promqlEngine(t *testing.T, lim *limits.Overrides) promql.QueryEngine {
	var qcfg querier.Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	qcfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-querier.promql-experimental-features", "-querier.timeout=100s", "-querier.lookback-delta=5m"}))
	return tenantInjectingEngine{querier.NewEngine(qcfg, lim, nil, nil)}
}

func testLimits(t testing.TB) *limits.Overrides {
	var l limits.Limits
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	l.RegisterFlags(fs)
	// The scripts load samples out of order across load commands, far in
	// the past, and read many samples.
	require.NoError(t, fs.Parse([]string{"-ingester.out-of-order-time-window=100000d", "-querier.max-samples=0", "-ingester.max-series-per-tenant=0"}))
	return limits.NewOverrides(l, nil)
}

// tenantInjectingEngine puts the test tenant in each query's context, as
// the HTTP layer does for a request.
type tenantInjectingEngine struct{ promql.QueryEngine }

func (e tenantInjectingEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	qry, err := e.QueryEngine.NewInstantQuery(tenant.With(ctx, promqlTenant), q, opts, qs, ts)
	return tenantQuery{qry}, err
}

func (e tenantInjectingEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	qry, err := e.QueryEngine.NewRangeQuery(tenant.With(ctx, promqlTenant), q, opts, qs, start, end, step)
	return tenantQuery{qry}, err
}

// tenantQuery runs with the tenant in the context given to Exec, which is
// the one the engine passes to the storage.
type tenantQuery struct{ promql.Query }

func (q tenantQuery) Exec(ctx context.Context) *promql.Result {
	return q.Query.Exec(tenant.With(ctx, promqlTenant))
}

// pushStorage is a storage.Storage whose appends become wire.PushRequests
// to a real ingester (or a distributor's ring pusher) and whose reads go
// through weft's tenant queryable.
type pushStorage struct {
	storage.Queryable
	pusher wire.Pusher
	// committed, when set, runs after each commit (a load command).
	committed func(context.Context) error
	// close, when set, stops what the storage started (the suite closes
	// a storage at each clear command).
	close func() error
}

// promqlIngesterArgs are the flags of the suites' ingesters: the scripts'
// data spans days around 1970, so they keep every block.
var promqlIngesterArgs = []string{"-ingester.tsdb.retention-period=1000000h"}

func newPushStorage(tb testing.TB, lim *limits.Overrides) *pushStorage {
	ing := startIngester(tb, testIngesterConfig(tb, promqlIngesterArgs...), lim, nil)
	return &pushStorage{Queryable: querier.NewQueryable(ing, lim), pusher: ing}
}

func (s *pushStorage) ChunkQuerier(int64, int64) (storage.ChunkQuerier, error) {
	return nil, errors.New("not supported")
}
func (s *pushStorage) Appender(context.Context) storage.Appender { return nil }
func (s *pushStorage) AppenderV2(ctx context.Context) storage.AppenderV2 {
	return &pushAppender{ctx: ctx, s: s, idx: map[string]int{}}
}
func (s *pushStorage) StartTime() (int64, error) { return 0, nil }
func (s *pushStorage) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

type pushAppender struct {
	ctx context.Context
	s   *pushStorage
	req wire.PushRequest
	idx map[string]int
}

func (a *pushAppender) Append(_ storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	k := ls.String()
	i, ok := a.idx[k]
	if !ok {
		i = len(a.req.Series)
		a.idx[k] = i
		a.req.Series = append(a.req.Series, wire.Series{Labels: ls})
	}
	s := &a.req.Series[i]
	switch {
	case h != nil || fh != nil:
		s.Histograms = append(s.Histograms, wire.Histogram{T: t, H: h, FH: fh, ST: st})
	default:
		s.Samples = append(s.Samples, wire.Sample{T: t, V: v, ST: st})
	}
	for _, e := range opts.Exemplars {
		s.Exemplars = append(s.Exemplars, wire.Exemplar{Labels: e.Labels, T: e.Ts, V: e.Value})
	}
	if !opts.Metadata.IsEmpty() {
		a.req.Metadata = append(a.req.Metadata, wire.Metadata{MetricFamily: ls.Get(labels.MetricName), Type: string(opts.Metadata.Type), Help: opts.Metadata.Help, Unit: opts.Metadata.Unit})
	}
	return storage.SeriesRef(i + 1), nil
}

func (a *pushAppender) AppendExemplars(storage.SeriesRef, labels.Labels, []exemplar.Exemplar) (storage.SeriesRef, error) {
	return 0, nil
}

func (a *pushAppender) Commit() error {
	if _, err := a.s.pusher.Push(a.ctx, promqlTenant, &a.req); err != nil {
		return err
	}
	if a.s.committed != nil {
		return a.s.committed(a.ctx)
	}
	return nil
}

func (a *pushAppender) Rollback() error { return nil }

func flagSet(tb testing.TB) *flag.FlagSet {
	tb.Helper()
	return flag.NewFlagSet(tb.Name(), flag.ContinueOnError)
}
