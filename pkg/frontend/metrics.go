package frontend

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests         *prometheus.CounterVec
	retries          prometheus.Counter
	downstream       prometheus.Counter
	downstreamRanges prometheus.Counter
	splitParts       prometheus.Counter
	cacheRequests    prometheus.Counter
	cacheHits        prometheus.Counter
	cacheHitBytes    prometheus.Counter
	cacheStoredBytes prometheus.Counter
	cacheErrors      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_query_frontend_requests_total",
			Help: "Requests the query-frontend answered, by operation (query_range, split and cached; pass_through, everything else) and status code.",
		}, []string{"op", "code"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_query_frontend_retries_total",
			Help: "Requests sent downstream again after a 5xx answer or a connection error.",
		}),
		downstream: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_query_frontend_downstream_requests_total",
			Help: "Requests sent downstream (to queriers or the scheduler), retries included.",
		}),
		downstreamRanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_query_frontend_downstream_range_queries_total",
			Help: "Ranges of split range queries computed downstream because the results cache did not hold them (retries not counted).",
		}),
		splitParts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_query_frontend_split_parts_total",
			Help: "Parts that range queries were split into.",
		}),
		cacheRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_query_frontend_results_cache_requests_total",
			Help: "Lookups of split parts in the results cache.",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_query_frontend_results_cache_hits_total",
			Help: "Lookups of split parts that found cached extents (whole or partial).",
		}),
		cacheHitBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_query_frontend_results_cache_hit_bytes_total",
			Help: "Bytes of cached extents read from the results cache.",
		}),
		cacheStoredBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_query_frontend_results_cache_stored_bytes_total",
			Help: "Bytes of extents written to the results cache.",
		}),
		cacheErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_query_frontend_results_cache_errors_total",
			Help: "Queries not cached because the cache generation could not be read, or cached entries that did not decode.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.retries, m.downstream, m.downstreamRanges, m.splitParts,
			m.cacheRequests, m.cacheHits, m.cacheHitBytes, m.cacheStoredBytes, m.cacheErrors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("cannot register the query-frontend metrics: %w", err)
			}
		}
	}
	// Both operations exist from the start, so that the label names of
	// weft's own series do not change when the first query arrives.
	for _, op := range []string{"query_range", "pass_through"} {
		m.requests.WithLabelValues(op, "200")
	}
	return m, nil
}
