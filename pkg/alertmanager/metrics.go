package alertmanager

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are weft's own metrics of the alertmanager role; the library's
// metrics of each tenant stay in the tenant's registry.
type metrics struct {
	tenants                  prometheus.Gauge
	notifications            *prometheus.CounterVec
	notificationsFailed      *prometheus.CounterVec
	notificationsRateLimited *prometheus.CounterVec
	alertsDropped            *prometheus.CounterVec
	replicationSent          prometheus.Counter
	replicationFailed        prometheus.Counter
	replicationDropped       prometheus.Counter
	statePersisted           prometheus.Counter
	statePersistFailed       prometheus.Counter
	syncFailed               prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		tenants: f.NewGauge(prometheus.GaugeOpts{Name: "weft_alertmanager_tenants", Help: "Tenants whose Alertmanager runs on this replica."}),
		notifications: f.NewCounterVec(prometheus.CounterOpts{Name: "weft_alertmanager_notifications_total",
			Help: "Notifications attempted, by tenant and integration."}, []string{"tenant", "integration"}),
		notificationsFailed: f.NewCounterVec(prometheus.CounterOpts{Name: "weft_alertmanager_notifications_failed_total",
			Help: "Notifications that failed, by tenant and integration."}, []string{"tenant", "integration"}),
		notificationsRateLimited: f.NewCounterVec(prometheus.CounterOpts{Name: "weft_alertmanager_notifications_rate_limited_total",
			Help: "Notifications refused by the tenant's notification rate limit, by tenant and integration."}, []string{"tenant", "integration"}),
		alertsDropped: f.NewCounterVec(prometheus.CounterOpts{Name: "weft_alertmanager_alerts_dropped_total",
			Help: "New alerts refused because the tenant held alertmanager_max_alerts_count alerts."}, []string{"tenant"}),
		replicationSent: f.NewCounter(prometheus.CounterOpts{Name: "weft_alertmanager_state_replication_sent_total",
			Help: "Updates of notification logs and silences sent to other replicas."}),
		replicationFailed: f.NewCounter(prometheus.CounterOpts{Name: "weft_alertmanager_state_replication_failed_total",
			Help: "Updates of notification logs and silences that could not be sent to a replica."}),
		replicationDropped: f.NewCounter(prometheus.CounterOpts{Name: "weft_alertmanager_state_replication_dropped_total",
			Help: "Updates of notification logs and silences dropped because the send queue was full."}),
		statePersisted: f.NewCounter(prometheus.CounterOpts{Name: "weft_alertmanager_state_persisted_total",
			Help: "Saves of a tenant's notification log and silences to the bucket."}),
		statePersistFailed: f.NewCounter(prometheus.CounterOpts{Name: "weft_alertmanager_state_persist_failed_total",
			Help: "Saves of a tenant's notification log and silences to the bucket that failed."}),
		syncFailed: f.NewCounter(prometheus.CounterOpts{Name: "weft_alertmanager_sync_failed_total",
			Help: "Reads of the configurations in the bucket that failed."}),
	}
}
