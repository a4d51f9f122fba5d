package ingester

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	dto "github.com/prometheus/client_model/go"
)

type metrics struct {
	appended     *prometheus.CounterVec
	exemplars    *prometheus.CounterVec
	discarded    *prometheus.CounterVec
	shipped      *prometheus.CounterVec
	shipFailures *prometheus.CounterVec

	refusedPushes *prometheus.CounterVec
	reopens       prometheus.Counter

	seriesHashHits   prometheus.Counter
	seriesHashMisses prometheus.Counter

	walSync *walSyncMetrics
}

func newMetrics(reg prometheus.Registerer, i *Ingester) *metrics {
	m := &metrics{
		appended:     newCounterVec(reg, "weft_ingester_samples_appended_total", "Samples appended to the TSDB, by tenant and type.", "tenant", "type"),
		exemplars:    newCounterVec(reg, "weft_ingester_exemplars_appended_total", "Exemplars appended, by tenant.", "tenant"),
		discarded:    newCounterVec(reg, "weft_ingester_discarded_samples_total", "Samples the ingester refused, by tenant and reason.", "tenant", "reason"),
		shipped:      newCounterVec(reg, "weft_ingester_blocks_shipped_total", "Blocks uploaded to the bucket, by tenant.", "tenant"),
		shipFailures: newCounterVec(reg, "weft_ingester_block_ship_failures_total", "Failed block uploads (retried later), by tenant.", "tenant"),

		refusedPushes: newCounterVec(reg, "weft_ingester_refused_pushes_total", "Pushes the ingester refused with a 5xx because it could not write them to disk, by reason: disk_full (too little free space, or a write that found the disk full), wal_write_failed (another failure to write or sync the WAL).", "reason"),
		reopens:       promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "weft_ingester_tsdb_reopens_total", Help: "Tenant TSDBs the ingester closed and reopened by itself after a failed write of their WAL, once the disk had room."}),

		seriesHashHits:   promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "weft_ingester_series_hash_cache_hits_total", Help: "Series of local blocks whose shard hash a sharded query found in its block's cache."}),
		seriesHashMisses: promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "weft_ingester_series_hash_cache_misses_total", Help: "Series of local blocks whose labels a sharded query decoded to hash them (then cached within -ingester.tsdb.series-hash-cache-max-bytes)."}),
	}
	if i.cfg.WALSyncBeforeAck {
		m.walSync = newWALSyncMetrics(reg)
	}
	promauto.With(reg).NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_ingester_disk_full", Help: "1 while the ingester refuses pushes because the disk of -data.dir is full: less free space than -ingester.min-free-disk-bytes, or a tenant's WAL failed to write and waits for room to be reopened."}, func() float64 {
		if i.diskFull.Load() {
			return 1
		}
		for _, t := range i.snapshot() {
			if err := t.brokenErr(); err != nil && isDiskFull(err) {
				return 1
			}
		}
		i.mu.RLock()
		defer i.mu.RUnlock()
		for _, err := range i.unopened {
			if isDiskFull(err) {
				return 1
			}
		}
		return 0
	})
	promauto.With(reg).NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_ingester_disk_free_bytes", Help: "Free space of the file system of -data.dir that the ingester may use."}, func() float64 {
		free, err := freeDiskBytes(i.cfg.Dir)
		if err != nil {
			return -1
		}
		return float64(free)
	})
	promauto.With(reg).NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_ingester_tenants", Help: "Tenants with an open TSDB."}, func() float64 {
		return float64(len(i.snapshot()))
	})
	if reg != nil {
		reg.MustRegister(tenantCollector{i})
	}
	return m
}

// tenantCollector re-exports each tenant's TSDB metrics (head series, WAL,
// compactions, ...) under their Prometheus names with a "tenant" label, plus
// weft_ingester_series per tenant.
type tenantCollector struct{ i *Ingester }

var (
	seriesDesc          = prometheus.NewDesc("weft_ingester_series", "Series in the head, by tenant.", []string{"tenant"}, nil)
	unshippedBlocksDesc = prometheus.NewDesc("weft_ingester_unshipped_blocks", "Local blocks whose upload to the bucket is not confirmed yet, by tenant: the ingester keeps them, whatever their age, until it is.", []string{"tenant"}, nil)
	unshippedBytesDesc  = prometheus.NewDesc("weft_ingester_unshipped_block_bytes", "Disk space of the blocks of weft_ingester_unshipped_blocks, by tenant.", []string{"tenant"}, nil)
)

// Describe sends nothing: the re-exported set depends on the tenants, so
// the collector is unchecked.
func (c tenantCollector) Describe(chan<- *prometheus.Desc) {}

func (c tenantCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.i.snapshot() {
		ch <- prometheus.MustNewConstMetric(seriesDesc, prometheus.GaugeValue, float64(t.db.Head().NumSeries()), t.id)
		if c.i.bucket != nil {
			n, size := t.unshipped()
			ch <- prometheus.MustNewConstMetric(unshippedBlocksDesc, prometheus.GaugeValue, float64(n), t.id)
			ch <- prometheus.MustNewConstMetric(unshippedBytesDesc, prometheus.GaugeValue, float64(size), t.id)
		}
		mfs, err := t.reg.Gather()
		if err != nil {
			continue
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if cm := constMetric(mf, m, t.id); cm != nil {
					ch <- cm
				}
			}
		}
	}
}

// constMetric turns one gathered sample into a const metric with a tenant
// label added.
func constMetric(mf *dto.MetricFamily, m *dto.Metric, tenant string) prometheus.Metric {
	names := []string{"tenant"}
	values := []string{tenant}
	for _, lp := range m.GetLabel() {
		names = append(names, lp.GetName())
		values = append(values, lp.GetValue())
	}
	desc := prometheus.NewDesc(mf.GetName(), mf.GetHelp(), names, nil)
	var (
		cm  prometheus.Metric
		err error
	)
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		cm, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		cm, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_UNTYPED:
		cm, err = prometheus.NewConstMetric(desc, prometheus.UntypedValue, m.GetUntyped().GetValue(), values...)
	case dto.MetricType_SUMMARY:
		q := map[float64]float64{}
		for _, x := range m.GetSummary().GetQuantile() {
			q[x.GetQuantile()] = x.GetValue()
		}
		cm, err = prometheus.NewConstSummary(desc, m.GetSummary().GetSampleCount(), m.GetSummary().GetSampleSum(), q, values...)
	case dto.MetricType_HISTOGRAM:
		b := map[float64]uint64{}
		for _, x := range m.GetHistogram().GetBucket() {
			b[x.GetUpperBound()] = x.GetCumulativeCount()
		}
		cm, err = prometheus.NewConstHistogram(desc, m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum(), b, values...)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return cm
}
