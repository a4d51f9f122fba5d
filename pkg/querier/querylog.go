package querier

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/wire"
)

// queryObserver records what each query fetched: per-tenant counters, and
// one log line for each query slower than its tenant's
// query_log_slower_than. It costs a few counter additions per query.
type queryObserver struct {
	logger      *slog.Logger
	series      *prometheus.CounterVec
	chunkBytes  *prometheus.CounterVec
	samples     *prometheus.CounterVec
	slowQueries *prometheus.CounterVec
}

// newQueryObserver registers the counters in reg (may be nil), which the
// caller prefixes (weft_querier_, weft_ruler_).
func newQueryObserver(reg prometheus.Registerer, logger *slog.Logger) *queryObserver {
	f := promauto.With(reg)
	return &queryObserver{
		logger: logutil.OrNop(logger),
		series: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fetched_series_total",
			Help: "Series the tenant's queries fetched from ingesters and store-gateways, summed over each query's selectors.",
		}, []string{"tenant"}),
		chunkBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fetched_chunk_bytes_total",
			Help: "Bytes of chunks the tenant's queries fetched from ingesters and store-gateways (every replica's copy).",
		}, []string{"tenant"}),
		samples: f.NewCounterVec(prometheus.CounterOpts{
			Name: "fetched_samples_total",
			Help: "Samples the tenant's queries read in evaluation (stats=all's totalQueryableSamples).",
		}, []string{"tenant"}),
		slowQueries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "slow_queries_total",
			Help: "Queries of the tenant that took longer than its query_log_slower_than, each logged.",
		}, []string{"tenant"}),
	}
}

// observe records a query that ran for took and failed with err (nil on
// success).
func (o *queryObserver) observe(q *trackedQuery, fetch *wire.FetchStats, err error, took time.Duration) {
	series, bytes, samples := fetch.Series(), fetch.ChunkBytes(), q.samples()
	o.series.WithLabelValues(q.tenant).Add(float64(series))
	o.chunkBytes.WithLabelValues(q.tenant).Add(float64(bytes))
	o.samples.WithLabelValues(q.tenant).Add(float64(samples))
	slower := time.Duration(q.lim.QueryLogSlowerThan)
	if slower <= 0 || took <= slower {
		return
	}
	o.slowQueries.WithLabelValues(q.tenant).Inc()
	attrs := []any{
		"tenant", q.tenant,
		"query", q.qs,
	}
	attrs = append(attrs,
		// An instant query's start and end are its time, its step 0.
		"start", q.start.UTC().Format(time.RFC3339Nano),
		"end", q.end.UTC().Format(time.RFC3339Nano),
		"step", q.step,
		"duration", took,
		"fetched_series", series,
		"fetched_chunk_bytes", bytes,
		"fetched_samples", samples,
	)
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	o.logger.Info("slow query", attrs...)
}
