package ingester

import (
	"errors"
	"flag"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/weft-io/weft/pkg/wire"
)

// Stable IDs of the refusals of an ingester at its instance limits
// (docs/errors.md). They are not the tenant's fault: the answer is 503,
// which remote-write clients retry (and a distributor may find a quorum
// on other replicas).
const (
	errIDInstanceMaxSeries   = "err-weft-ingester-max-series"
	errIDInstanceMaxTenants  = "err-weft-ingester-max-tenants"
	errIDInstanceMaxInflight = "err-weft-ingester-max-inflight-push-requests"
)

// Names of the instance limits, as the limit label of the metrics.
const (
	limitMaxSeries   = "max_series"
	limitMaxTenants  = "max_tenants"
	limitMaxInflight = "max_inflight_push_requests"
)

// InstanceLimits bound what one ingester holds and takes on at once, over
// all tenants, so that no mix of tenants exhausts its memory. 0 disables
// a limit.
type InstanceLimits struct {
	MaxSeries               int `yaml:"max_series"`
	MaxTenants              int `yaml:"max_tenants"`
	MaxInflightPushRequests int `yaml:"max_inflight_push_requests"`
}

// RegisterFlags registers the -ingester.instance-limits.* flags.
func (l *InstanceLimits) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&l.MaxSeries, "ingester.instance-limits.max-series", 0, "Most series in the heads of this ingester, over all tenants; a new series over it is refused with 503 (existing series keep taking samples). Size it to the memory: about 3-5 KiB per series. 0 disables the limit.")
	f.IntVar(&l.MaxTenants, "ingester.instance-limits.max-tenants", 0, "Most tenants with a TSDB on this ingester; a push of one more tenant is refused with 503. 0 disables the limit.")
	f.IntVar(&l.MaxInflightPushRequests, "ingester.instance-limits.max-inflight-push-requests", 30000, "Most pushes this ingester handles at once, over all tenants; more are refused with 503. 0 disables the limit.")
}

// Validate reports settings that cannot work.
func (l *InstanceLimits) Validate() error {
	if l.MaxSeries < 0 || l.MaxTenants < 0 || l.MaxInflightPushRequests < 0 {
		return errors.New("ingester.instance-limits.* must not be negative")
	}
	return nil
}

// instanceState is what the instance limits count: the series of every
// tenant's head (kept by each TSDB's series callbacks) and the pushes in
// flight.
type instanceState struct {
	series   atomic.Int64
	inflight atomic.Int64
	rejected *prometheus.CounterVec
}

func newInstanceState(lim InstanceLimits, reg prometheus.Registerer) *instanceState {
	s := &instanceState{}
	f := promauto.With(reg)
	s.rejected = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_ingester_instance_limit_rejections_total", Help: "Pushes (or, for max_series, series) refused with 503 because this ingester was at one of its instance limits, by limit."}, []string{"limit"})
	for _, l := range []string{limitMaxSeries, limitMaxTenants, limitMaxInflight} {
		s.rejected.WithLabelValues(l)
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_ingester_memory_series", Help: "Series in the heads of this ingester, over all tenants."}, func() float64 { return float64(s.series.Load()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "weft_ingester_inflight_push_requests", Help: "Pushes this ingester is handling."}, func() float64 { return float64(s.inflight.Load()) })
	limits := f.NewGaugeVec(prometheus.GaugeOpts{Name: "weft_ingester_instance_limits", Help: "This ingester's instance limits (0: none), by limit."}, []string{"limit"})
	limits.WithLabelValues(limitMaxSeries).Set(float64(lim.MaxSeries))
	limits.WithLabelValues(limitMaxTenants).Set(float64(lim.MaxTenants))
	limits.WithLabelValues(limitMaxInflight).Set(float64(lim.MaxInflightPushRequests))
	return s
}

// startPush counts one more push in flight, or refuses it at the limit;
// call the returned func when the push is done.
func (i *Ingester) startPush() (func(), error) {
	n := i.inst.inflight.Add(1)
	if max := i.cfg.InstanceLimits.MaxInflightPushRequests; max > 0 && n > int64(max) {
		i.inst.inflight.Add(-1)
		i.inst.rejected.WithLabelValues(limitMaxInflight).Inc()
		return nil, wire.Errorf(wire.KindUnavailable, errIDInstanceMaxInflight,
			"ingester %s is handling its limit of %d pushes at once; retry later (raise -ingester.instance-limits.max-inflight-push-requests or add ingesters)", i.cfg.InstanceID, max)
	}
	return func() { i.inst.inflight.Add(-1) }, nil
}

// admitTenantLocked refuses a new tenant at the limit of tenants; i.mu
// must be held.
func (i *Ingester) admitTenantLocked(id string) error {
	if max := i.cfg.InstanceLimits.MaxTenants; max > 0 && len(i.tenants) >= max {
		i.inst.rejected.WithLabelValues(limitMaxTenants).Inc()
		return wire.Errorf(wire.KindUnavailable, errIDInstanceMaxTenants,
			"ingester %s holds its limit of %d tenants; tenant %s was not opened (raise -ingester.instance-limits.max-tenants or add ingesters)", i.cfg.InstanceID, max, id)
	}
	return nil
}

// seriesCallback is the TSDB series callback of one tenant: it counts the
// tenant's series in the ingester's total and, once the tenant's WAL is
// replayed (open), refuses new series at the ingester's limit. The WAL
// replay is never refused: what was acknowledged stays.
type seriesCallback struct {
	t    *tenantDB
	open atomic.Bool
}

// PreCreation implements tsdb.SeriesLifecycleCallback.
func (c *seriesCallback) PreCreation(ls labels.Labels) error {
	i := c.t.ing
	max := i.cfg.InstanceLimits.MaxSeries
	if max <= 0 || !c.open.Load() || i.inst.series.Load() < int64(max) {
		return nil
	}
	i.inst.rejected.WithLabelValues(limitMaxSeries).Inc()
	return wire.Errorf(wire.KindUnavailable, errIDInstanceMaxSeries,
		"ingester %s holds its limit of %d series over all tenants; series %s of tenant %s was not created (raise -ingester.instance-limits.max-series or add ingesters)", i.cfg.InstanceID, max, ls, c.t.id)
}

// PostCreation implements tsdb.SeriesLifecycleCallback.
func (c *seriesCallback) PostCreation(labels.Labels) { c.t.ing.inst.series.Add(1) }

// PostDeletion implements tsdb.SeriesLifecycleCallback.
func (c *seriesCallback) PostDeletion(m map[chunks.HeadSeriesRef]labels.Labels) {
	c.t.ing.inst.series.Add(-int64(len(m)))
}
