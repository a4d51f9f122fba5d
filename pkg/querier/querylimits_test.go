package querier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// tsdbStore is a store over one real TSDB opened as the ingester opens
// its tenants' (counting the chunks its queriers read), answering every
// tenant with the same series: the limits are the only difference between
// tenants. It serves the all-in-one path directly and the distributed one
// through a gRPC server. slow makes every Select wait for its context to
// end (a stuck store).
type tsdbStore struct {
	db   *teststorage.TestStorage
	slow bool
}

// newTSDBStore holds ten series m{i="0".."9"}, each with a sample every
// 15s over [0, 2h].
func newTSDBStore(t *testing.T) *tsdbStore {
	s := &tsdbStore{db: teststorage.New(t, func(o *tsdb.Options) { o.BlockQuerierFunc = wire.CountingBlockQuerier })}
	app := s.db.Appender(context.Background())
	for i := range 10 {
		ls := labels.FromStrings(labels.MetricName, "m", "i", fmt.Sprint(i))
		for ts := int64(0); ts <= 2*60*minute; ts += 15000 {
			_, err := app.Append(0, ls, ts, float64(ts))
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())
	return s
}

// chunkBytes returns the bytes of all the store's chunks.
func (s *tsdbStore) chunkBytes(t *testing.T) int64 {
	q, err := s.db.ChunkQuerier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	var n int64
	set := q.Select(context.Background(), false, &storage.SelectHints{Start: math.MinInt64, End: math.MaxInt64, DisableTrimming: true}, allSeries)
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() {
			n += int64(len(it.At().Chunk.Bytes()))
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, set.Err())
	return n
}

func (s *tsdbStore) Querier(_ string, mint, maxt int64) (storage.Querier, error) {
	q, err := s.db.Querier(mint, maxt)
	if err != nil || !s.slow {
		return q, err
	}
	return stuckQuerier{q}, nil
}

func (s *tsdbStore) ChunkQuerier(_ string, mint, maxt int64) (storage.ChunkQuerier, error) {
	q, err := s.db.ChunkQuerier(mint, maxt)
	if err != nil || !s.slow {
		return q, err
	}
	return stuckChunkQuerier{q}, nil
}

func (s *tsdbStore) ExemplarQuerier(ctx context.Context, _ string) (storage.ExemplarQuerier, error) {
	return s.db.ExemplarQuerier(ctx)
}

func (s *tsdbStore) Metadata(context.Context, string, string, int) ([]wire.Metadata, error) {
	return nil, nil
}

type stuckQuerier struct{ storage.Querier }

func (stuckQuerier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, _ ...*labels.Matcher) storage.SeriesSet {
	<-ctx.Done()
	return storage.ErrSeriesSet(ctx.Err())
}

type stuckChunkQuerier struct{ storage.ChunkQuerier }

func (stuckChunkQuerier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, _ ...*labels.Matcher) storage.ChunkSeriesSet {
	<-ctx.Done()
	return storage.ErrChunkSeriesSet(ctx.Err())
}

// overGRPC returns a RingReader over a one-ingester ring whose ingester is
// s, served by a real gRPC server on loopback.
func overGRPC(t *testing.T, s *tsdbStore) wire.Reader {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	wire.Register(srv, nil, wire.Stores{wire.StoreIngester: s})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, conn.Close())
		srv.Stop()
		<-done
	})
	client := wire.NewStoreClient(conn, wire.StoreIngester)
	r := newTestRing(t, 1, 1)
	return NewRingReader(r.ring, func(string) (wire.Reader, error) { return client, nil }, testOverrides(t, nil), 0)
}

// eachPath runs f with the store read as the all-in-one reads its
// ingester (a local TSDB), and as a distributed querier does (a RingReader
// over gRPC).
func eachPath(t *testing.T, s *tsdbStore, f func(t *testing.T, r wire.Reader)) {
	t.Run("all-in-one", func(t *testing.T) { f(t, s) })
	t.Run("ring over gRPC", func(t *testing.T) { f(t, overGRPC(t, s)) })
}

// limitsQuerier is the query API over r with per-tenant limits.
func limitsQuerier(t *testing.T, r wire.Reader, tenants map[string]func(*limits.Limits), reg prometheus.Registerer, logger *slog.Logger, args ...string) http.Handler {
	t.Helper()
	q, err := New(testConfig(t, args...), r, testOverrides(t, tenants), tenant.Resolver{MultiTenancy: true}, Version{}, reg, logger)
	require.NoError(t, err)
	return q.Handler()
}

func query(qs string, at int64) url.Values {
	return url.Values{"query": {qs}, "time": {fmt.Sprint(at)}}
}

// counterOf returns the value of the counter name for tenant in reg.
func counterOf(t *testing.T, reg *prometheus.Registry, name, id string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == id {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{tenant=%q}", name, id)
	return 0
}

func TestMaxFetchedSeriesPerQuery(t *testing.T) {
	eachPath(t, newTSDBStore(t), func(t *testing.T, r wire.Reader) {
		h := limitsQuerier(t, r, map[string]func(*limits.Limits){
			"small": func(l *limits.Limits) { l.MaxFetchedSeriesPerQuery = 5 },
		}, nil, nil)
		code, resp := get(t, h, "small", "/query", query("count(m)", 7200))
		require.Equal(t, http.StatusUnprocessableEntity, code, resp.Error)
		require.Equal(t, "execution", resp.ErrorType)
		require.Contains(t, resp.Error, "err-weft-max-fetched-series-per-query")
		require.Contains(t, resp.Error, "limit of 5")

		code, resp = get(t, h, "small", "/query", query(`count(m{i=~"[0-4]"})`, 7200))
		require.Equal(t, http.StatusOK, code, "5 series are within the limit: %s", resp.Error)
		require.Contains(t, string(resp.Data), `"5"`)

		// /series holds to it too.
		code, resp = get(t, h, "small", "/series", url.Values{"match[]": {"m"}})
		require.Equal(t, http.StatusUnprocessableEntity, code, resp.Error)
		require.Contains(t, resp.Error, "err-weft-max-fetched-series-per-query")

		code, resp = get(t, h, "other", "/query", query("count(m)", 7200))
		require.Equal(t, http.StatusOK, code, "another tenant has no limit: %s", resp.Error)
		require.Contains(t, string(resp.Data), `"10"`)
	})
}

func TestMaxFetchedChunkBytesPerQuery(t *testing.T) {
	s := newTSDBStore(t)
	total := s.chunkBytes(t)
	require.Positive(t, total)
	eachPath(t, s, func(t *testing.T, r wire.Reader) {
		reg := prometheus.NewRegistry()
		h := limitsQuerier(t, r, map[string]func(*limits.Limits){
			"small": func(l *limits.Limits) { l.MaxFetchedChunkBytesPerQuery = int(total) - 1 },
			"exact": func(l *limits.Limits) { l.MaxFetchedChunkBytesPerQuery = int(total) },
		}, reg, nil)
		// [-1h, 2h] reads every chunk of every series.
		const all = "sum(count_over_time(m[3h]))"
		code, resp := get(t, h, "small", "/query", query(all, 7200))
		require.Equal(t, http.StatusUnprocessableEntity, code, resp.Error)
		require.Equal(t, "execution", resp.ErrorType)
		require.Contains(t, resp.Error, "err-weft-max-fetched-chunk-bytes-per-query")
		require.Contains(t, resp.Error, fmt.Sprintf("limit of %d", total-1))

		code, resp = get(t, h, "exact", "/query", query(all, 7200))
		require.Equal(t, http.StatusOK, code, "exactly the limit is allowed: %s", resp.Error)
		require.Contains(t, string(resp.Data), `"4810"`)
		require.Equal(t, float64(total), counterOf(t, reg, "weft_querier_fetched_chunk_bytes_total", "exact"))
		require.Equal(t, 10.0, counterOf(t, reg, "weft_querier_fetched_series_total", "exact"))

		// The last 5 minutes read one chunk of each series.
		code, resp = get(t, h, "small", "/query", query("count(m)", 7200))
		require.Equal(t, http.StatusOK, code, resp.Error)
	})
}

func TestQueryTimeout(t *testing.T) {
	s := newTSDBStore(t)
	s.slow = true
	eachPath(t, s, func(t *testing.T, r wire.Reader) {
		h := limitsQuerier(t, r, map[string]func(*limits.Limits){
			"short": func(l *limits.Limits) { l.QueryTimeout = model.Duration(100 * time.Millisecond) },
			"long":  func(l *limits.Limits) { l.QueryTimeout = model.Duration(time.Hour) },
		}, nil, nil, "-querier.timeout=1s")
		began := time.Now()
		code, resp := get(t, h, "short", "/query", query("count(m)", 7200))
		require.Less(t, time.Since(began), time.Second, "the tenant's timeout, not -querier.timeout")
		require.Equal(t, http.StatusServiceUnavailable, code, resp.Error)
		require.Equal(t, "timeout", resp.ErrorType)
		require.Contains(t, resp.Error, "err-weft-query-timeout")
		require.Contains(t, resp.Error, "after 100ms, the tenant's limit")

		// A tenant's timeout cannot exceed -querier.timeout.
		code, resp = get(t, h, "long", "/query", query("count(m)", 7200))
		require.Equal(t, http.StatusServiceUnavailable, code, resp.Error)
		require.Equal(t, "timeout", resp.ErrorType)
		require.Contains(t, resp.Error, "after 1s: narrow it, or raise -querier.timeout (err-weft-query-timeout)")

		// The client's own deadline (the timeout parameter) is a timeout
		// too, whatever error the stores made of it.
		params := query("count(m)", 7200)
		params.Set("timeout", "0.1")
		code, resp = get(t, h, "long", "/query", params)
		require.Equal(t, http.StatusServiceUnavailable, code, resp.Error)
		require.Equal(t, "timeout", resp.ErrorType)
	})
}

func TestMaxQueryLengthOfSelectors(t *testing.T) {
	h := limitsQuerier(t, newTSDBStore(t), map[string]func(*limits.Limits){
		"t": func(l *limits.Limits) { l.MaxQueryLength = model.Duration(24 * time.Hour) },
	}, nil, nil)
	f := func(qs string, wantErr string) {
		t.Helper()
		code, resp := get(t, h, "t", "/query", query(qs, 7200))
		if wantErr == "" {
			require.Equal(t, http.StatusOK, code, "%s: %s", qs, resp.Error)
			return
		}
		require.Equal(t, http.StatusBadRequest, code, qs)
		require.Equal(t, "bad_data", resp.ErrorType)
		require.Contains(t, resp.Error, "err-weft-max-query-length")
		require.Contains(t, resp.Error, wantErr)
	}
	f("rate(m[1d])", "")
	f("rate(m[400d])", "m[400d] of the query reads 400d at once, over the limit of 1d")
	f(`sum(rate(m{i="1"}[25h])) + sum(m)`, `m{i="1"}[1d1h] of the query reads 1d1h at once`)
	f("max_over_time(m[1d:1m])", "")
	f("max_over_time(rate(m[5m])[1d:1m])", "rate(m[5m])[1d:1m] of the query reads 1d5m at once")
	f("max_over_time(max_over_time(m[12h:1m])[13h:1h])", "1d1h")
	// An offset moves a window without widening it.
	f("m offset 30d + m", "")
	f("rate(m[1h] offset 30d)", "")

	// Range queries too, for their range and for their selectors.
	rng := func(qs string, start, end int64) (int, apiResponse) {
		return get(t, h, "t", "/query_range", url.Values{"query": {qs}, "start": {fmt.Sprint(start)}, "end": {fmt.Sprint(end)}, "step": {"3600"}})
	}
	code, resp := rng("rate(m[5m])", 0, 86400)
	require.Equal(t, http.StatusOK, code, resp.Error)
	code, resp = rng("rate(m[5m])", 0, 86401)
	require.Equal(t, http.StatusBadRequest, code, resp.Error)
	require.Contains(t, resp.Error, "err-weft-max-query-length")
	code, resp = rng("rate(m[2d])", 0, 3600)
	require.Equal(t, http.StatusBadRequest, code, resp.Error)
	require.Contains(t, resp.Error, "err-weft-max-query-length")

	// Another tenant has no limit.
	code, resp = get(t, h, "other", "/query", query("rate(m[400d])", 7200))
	require.Equal(t, http.StatusOK, code, resp.Error)
}

func TestSlowQueryLog(t *testing.T) {
	s := newTSDBStore(t)
	total := s.chunkBytes(t)
	eachPath(t, s, func(t *testing.T, r wire.Reader) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, nil))
		h := limitsQuerier(t, r, map[string]func(*limits.Limits){
			"logged": func(l *limits.Limits) { l.QueryLogSlowerThan = model.Duration(time.Nanosecond) },
			"quiet":  func(l *limits.Limits) { l.QueryLogSlowerThan = 0 },
		}, nil, logger)

		code, resp := get(t, h, "quiet", "/query", query("sum(count_over_time(m[3h]))", 7200))
		require.Equal(t, http.StatusOK, code, resp.Error)
		require.Empty(t, buf.String(), "0 turns the log off")

		code, resp = get(t, h, "logged", "/query", query("sum(count_over_time(m[3h]))", 7200))
		require.Equal(t, http.StatusOK, code, resp.Error)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		require.Len(t, lines, 1, buf.String())
		line := lines[0]
		for _, want := range []string{
			`msg="slow query"`,
			"tenant=logged",
			"query=sum(count_over_time(m[3h]))",
			"start=1970-01-01T02:00:00Z end=1970-01-01T02:00:00Z step=0s",
			"fetched_series=10",
			fmt.Sprintf("fetched_chunk_bytes=%d", total),
			"fetched_samples=4810",
		} {
			require.Contains(t, line, want)
		}
		require.Regexp(t, ` duration=[0-9.]+[µnm]?s `, line)

		buf.Reset()
		code, resp = get(t, h, "logged", "/query_range", url.Values{"query": {"sum(m)"}, "start": {"3600"}, "end": {"7200"}, "step": {"60"}})
		require.Equal(t, http.StatusOK, code, resp.Error)
		require.Contains(t, buf.String(), "start=1970-01-01T01:00:00Z end=1970-01-01T02:00:00Z step=1m0s")
		require.Contains(t, buf.String(), "fetched_samples=610") // 61 steps of 10 series
	})
}

// stats=all answers the engine's statistics, with the samples of each
// step, as Prometheus does (integration's TestQueryStatsLikePrometheus
// compares the fields with a real Prometheus').
func TestStatsAll(t *testing.T) {
	h := limitsQuerier(t, newTSDBStore(t), nil, nil, nil)
	params := url.Values{"query": {"sum(m)"}, "start": {"3600"}, "end": {"7200"}, "step": {"60"}, "stats": {"all"}}
	code, resp := get(t, h, "t", "/query_range", params)
	require.Equal(t, http.StatusOK, code, resp.Error)
	var data struct {
		Stats struct {
			Timings map[string]float64 `json:"timings"`
			Samples struct {
				PerStep [][2]float64 `json:"totalQueryableSamplesPerStep"`
				Total   int64        `json:"totalQueryableSamples"`
				Peak    int64        `json:"peakSamples"`
			} `json:"samples"`
		} `json:"stats"`
	}
	require.NoError(t, json.Unmarshal(resp.Data, &data))
	require.Contains(t, data.Stats.Timings, "evalTotalTime")
	require.Contains(t, data.Stats.Timings, "execTotalTime")
	require.Equal(t, int64(610), data.Stats.Samples.Total, "61 steps of 10 series")
	require.Len(t, data.Stats.Samples.PerStep, 61)
	require.Equal(t, [2]float64{3600, 10}, data.Stats.Samples.PerStep[0])
	require.Positive(t, data.Stats.Samples.Peak)

	params.Set("stats", "true")
	_, resp = get(t, h, "t", "/query_range", params)
	require.NotContains(t, string(resp.Data), "totalQueryableSamplesPerStep", "only stats=all counts per step")
	require.Contains(t, string(resp.Data), `"totalQueryableSamples":610`)
}
