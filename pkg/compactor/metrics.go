package compactor

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// Reasons of weft_compactor_blocks_marked_for_deletion_total.
const (
	ReasonCompaction = "compaction" // replaced by a compacted block
	ReasonRetention  = "retention"  // past the tenant's retention period
	ReasonDuplicate  = "duplicate"  // its sources are all in another block
)

type metrics struct {
	runs           prometheus.Counter
	runsFailed     prometheus.Counter
	compacted      prometheus.Counter
	created        prometheus.Counter
	marked         *prometheus.CounterVec
	noCompact      *prometheus.CounterVec
	deleted        prometheus.Counter
	partialDeleted prometheus.Counter
	tenantsDeleted prometheus.Counter
	lastSuccess    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		runs:           f.NewCounter(prometheus.CounterOpts{Name: "weft_compactor_runs_total", Help: "Compactor runs (compaction or cleanup) started."}),
		runsFailed:     f.NewCounter(prometheus.CounterOpts{Name: "weft_compactor_runs_failed_total", Help: "Compactor runs that failed for at least one tenant."}),
		compacted:      f.NewCounter(prometheus.CounterOpts{Name: "weft_compactor_blocks_compacted_total", Help: "Source blocks compacted into a new block (or found empty)."}),
		created:        f.NewCounter(prometheus.CounterOpts{Name: "weft_compactor_blocks_created_total", Help: "Blocks the compactor uploaded."}),
		marked:         f.NewCounterVec(prometheus.CounterOpts{Name: "weft_compactor_blocks_marked_for_deletion_total", Help: "Blocks marked for deletion, by reason."}, []string{"reason"}),
		noCompact:      f.NewCounterVec(prometheus.CounterOpts{Name: "weft_compactor_blocks_marked_for_no_compaction_total", Help: "Blocks marked as not to compact because they do not read back, by reason (corrupt-meta, corrupt-index, corrupt-chunks)."}, []string{"reason"}),
		deleted:        f.NewCounter(prometheus.CounterOpts{Name: "weft_compactor_blocks_deleted_total", Help: "Blocks deleted from the bucket after their deletion delay."}),
		partialDeleted: f.NewCounter(prometheus.CounterOpts{Name: "weft_compactor_partial_blocks_deleted_total", Help: "Blocks without meta.json deleted after -compactor.partial-block-deletion-delay: uploads abandoned by a process that died or gave up."}),
		tenantsDeleted: f.NewCounter(prometheus.CounterOpts{Name: "weft_compactor_tenants_deleted_total", Help: "Tenants whose objects were all deleted."}),
		lastSuccess:    f.NewGauge(prometheus.GaugeOpts{Name: "weft_compactor_last_successful_run_timestamp_seconds", Help: "Unix time of the last run that succeeded for every tenant."}),
	}
	for _, r := range []string{ReasonCompaction, ReasonRetention, ReasonDuplicate} {
		m.marked.WithLabelValues(r)
	}
	for _, r := range []string{bucketindex.NoCompactCorruptMeta, bucketindex.NoCompactCorruptIndex, bucketindex.NoCompactCorruptChunks} {
		m.noCompact.WithLabelValues(r)
	}
	return m
}
