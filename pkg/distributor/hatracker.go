package distributor

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grafana/dskit/kv"
	"github.com/grafana/dskit/kv/codec"
	"github.com/grafana/dskit/kv/consul"
	"github.com/grafana/dskit/kv/memberlist"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/wire"
)

// ErrDuplicateReplica is returned by Push for the samples of an HA
// replica that is not the elected one of its cluster: they were dropped on
// purpose, and the push endpoint answers 202 so that the replica does not
// retry them.
var ErrDuplicateReplica = errors.New("samples dropped: the replica is not the elected replica of its HA cluster")

const (
	errIDTooManyHAClusters = "err-weft-too-many-ha-clusters"
	errIDHATracker         = "err-weft-ha-tracker-unavailable"

	// haKeyPrefix is the prefix of the HA tracker's keys in the KV store,
	// one key per tenant and cluster.
	haKeyPrefix = "ha-tracker/"
	haCodecID   = "weft-ha-replica"
)

// HATrackerConfig configures how the elected replicas of HA pairs are kept
// in the KV store. Which tenants deduplicate, with which labels and
// failover timeout, are per-tenant limits.
type HATrackerConfig struct {
	// UpdateTimeout bounds how often the last-seen time of an elected
	// replica is written to the KV store: a distributor writes it only
	// when the stored one is older than this (and at least three times per
	// failover timeout), not at every push.
	UpdateTimeout time.Duration `yaml:"update_timeout"`
	// CleanupAfter is how long a cluster that sent nothing stays in the
	// store (and counts towards ha_max_clusters).
	CleanupAfter time.Duration `yaml:"cleanup_after"`
}

// RegisterFlags registers the -distributor.ha-tracker.* flags.
func (c *HATrackerConfig) RegisterFlags(f *flag.FlagSet) {
	f.DurationVar(&c.UpdateTimeout, "distributor.ha-tracker.update-timeout", 15*time.Second, "How stale the last-seen time of an elected HA replica in the KV store may get before a distributor that receives its pushes writes it again; it is written at least three times per ha_tracker_failover_timeout whatever this says.")
	f.DurationVar(&c.CleanupAfter, "distributor.ha-tracker.cleanup-after", 30*time.Minute, "How long an HA cluster that sent nothing stays in the KV store, on the status page and in the count of ha_max_clusters.")
}

// Validate reports settings that cannot work.
func (c *HATrackerConfig) Validate() error {
	if c.UpdateTimeout <= 0 || c.CleanupAfter <= 0 {
		return errors.New("distributor.ha-tracker.update-timeout and distributor.ha-tracker.cleanup-after must be positive")
	}
	return nil
}

// ReplicaDesc is the value of one key of the HA tracker: the elected
// replica of one cluster of one tenant. Times are Unix milliseconds.
//
// Of two descriptions of one key, the one elected later wins, then the one
// seen later, then the greater replica name: a total order, so that merging
// gossiped copies in any order gives the same result on every member.
type ReplicaDesc struct {
	Tenant     string `json:"tenant"`
	Cluster    string `json:"cluster"`
	Replica    string `json:"replica"`
	ElectedAt  int64  `json:"elected_at"`
	ReceivedAt int64  `json:"received_at"`
}

// newer reports whether d wins over o.
func (d *ReplicaDesc) newer(o *ReplicaDesc) bool {
	if d.ElectedAt != o.ElectedAt {
		return d.ElectedAt > o.ElectedAt
	}
	if d.ReceivedAt != o.ReceivedAt {
		return d.ReceivedAt > o.ReceivedAt
	}
	return d.Replica > o.Replica
}

// Merge implements memberlist.Mergeable: d becomes the winner of d and
// other; the change is other when it won.
func (d *ReplicaDesc) Merge(other memberlist.Mergeable, _ bool) (memberlist.Mergeable, error) {
	o, ok := other.(*ReplicaDesc)
	if !ok {
		return nil, fmt.Errorf("cannot merge %T into a ReplicaDesc", other)
	}
	if o == nil || !o.newer(d) {
		return nil, nil
	}
	*d = *o
	c := *o
	return &c, nil
}

// MergeContent implements memberlist.Mergeable.
func (d *ReplicaDesc) MergeContent() []string { return []string{d.Replica} }

// RemoveTombstones implements memberlist.Mergeable: a description has no
// tombstones (a cluster is removed by deleting its key).
func (d *ReplicaDesc) RemoveTombstones(time.Time) (total, removed int) { return 0, 0 }

// Clone implements memberlist.Mergeable.
func (d *ReplicaDesc) Clone() memberlist.Mergeable {
	c := *d
	return &c
}

// haCodec encodes a *ReplicaDesc as JSON: small, and readable on the
// /memberlist page.
type haCodec struct{}

func (haCodec) CodecID() string { return haCodecID }

func (haCodec) Decode(b []byte) (any, error) {
	var d ReplicaDesc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("cannot decode HA replica description: %w", err)
	}
	return &d, nil
}

func (haCodec) Encode(v any) ([]byte, error) {
	d, ok := v.(*ReplicaDesc)
	if !ok {
		return nil, fmt.Errorf("cannot encode %T as an HA replica description", v)
	}
	return json.Marshal(d)
}

// HACodec returns the codec of the HA tracker's values; with memberlist it
// must be given to the process's KV (ring.NewKV) before the node joins.
func HACodec() codec.Codec { return haCodec{} }

// HATracker elects one replica per (tenant, cluster) of HA pairs and keeps
// the elections in a KV store, so that every distributor sharing the store
// agrees. It keeps every election of the store in memory, watched, and
// answers pushes from that copy; it writes to the store only when a
// replica is elected and when the elected one's last-seen time there is
// older than the update timeout.
//
// HATracker is a service: it watches the store and forgets clusters that
// sent nothing for the cleanup period while it runs.
type HATracker struct {
	services.Service

	cfg    HATrackerConfig
	client kv.Client
	// shared: other distributors use the store, and may take the elected
	// replica's pushes without this one knowing.
	shared bool
	closer func() // closes an in-process store
	logger *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	replicas map[string]*ReplicaDesc // by key, guarded by mu
	// seen is when this distributor last took a push of the elected
	// replica of a key, in Unix ms: newer than the store's ReceivedAt,
	// which is written only every update timeout. Guarded by mu.
	seen map[string]int64

	electedChanges *prometheus.CounterVec
	clusters       *prometheus.GaugeVec
	kvFailures     prometheus.Counter
}

// NewHATracker returns a tracker over client. With a nil client the
// elections are kept in this process only (the all-in-one, where this
// distributor is the only one). reg and logger may be nil. Check may be
// called once the tracker runs.
func NewHATracker(cfg HATrackerConfig, client kv.Client, reg prometheus.Registerer, logger *slog.Logger) (*HATracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &HATracker{cfg: cfg, client: client, shared: client != nil, logger: logutil.OrNop(logger), now: time.Now, replicas: map[string]*ReplicaDesc{}, seen: map[string]int64{}, closer: func() {}}
	f := promauto.With(reg)
	t.electedChanges = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_distributor_ha_elected_replica_changes_total", Help: "Changes of the elected replica of an HA cluster, as this distributor saw them (the first election of a cluster is not counted)."}, []string{"tenant", "cluster"})
	t.clusters = f.NewGaugeVec(prometheus.GaugeOpts{Name: "weft_distributor_ha_clusters", Help: "HA clusters of the tenant known to this distributor (limited by ha_max_clusters)."}, []string{"tenant"})
	t.kvFailures = f.NewCounter(prometheus.CounterOpts{Name: "weft_distributor_ha_kv_failures_total", Help: "Writes of the HA tracker to the KV store that failed; the push that needed them was answered 503."})
	t.Service = services.NewBasicService(t.starting, t.running, t.stopping).WithName("HA tracker")
	return t, nil
}

func haKey(tenantID, cluster string) string { return haKeyPrefix + tenantID + "/" + cluster }

func (t *HATracker) starting(ctx context.Context) (err error) {
	if !t.shared {
		// dskit's in-memory store: the same code path as a shared store,
		// with no port and nothing outside the process. Made here, so
		// that a tracker never started leaves no goroutine behind.
		c, closer := consul.NewInMemoryClient(haCodec{}, logutil.GoKit(t.logger), nil)
		t.client = c
		t.closer = func() { _ = closer.Close() }
		defer func() {
			if err != nil {
				t.closer() // a service that fails to start is not stopped
			}
		}()
	}
	// Load what the store holds before the first push is answered; the
	// watch then keeps it current.
	keys, err := t.client.List(ctx, haKeyPrefix)
	if err != nil {
		return fmt.Errorf("cannot list the HA tracker's keys: %w", err)
	}
	for _, k := range keys {
		v, err := t.client.Get(ctx, k)
		if err != nil {
			return fmt.Errorf("cannot read the HA tracker's key %s: %w", k, err)
		}
		if d, ok := v.(*ReplicaDesc); ok && d.ReceivedAt < t.now().Add(-t.cfg.CleanupAfter).UnixMilli() {
			// Left by distributors that stopped before cleaning it up.
			if err := t.client.Delete(ctx, k); err != nil {
				t.logger.Warn("cannot delete a stale HA cluster", "key", k, "err", err)
			}
			continue
		}
		t.observe(k, v)
	}
	return nil
}

func (t *HATracker) running(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() {
		// The watch ends only with ctx; a store that fails is watched
		// again, as the rings do.
		for ctx.Err() == nil {
			t.client.WatchPrefix(ctx, haKeyPrefix, func(k string, v any) bool {
				t.observe(k, v)
				return true
			})
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	})
	tick := time.NewTicker(min(time.Minute, t.cfg.CleanupAfter/2))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
			t.cleanup(ctx)
		}
	}
}

func (t *HATracker) stopping(error) error {
	t.closer()
	return nil
}

// observe takes a value of the store into the local copy when it is newer.
func (t *HATracker) observe(key string, v any) {
	d, ok := v.(*ReplicaDesc)
	if !ok || d == nil || !strings.HasPrefix(key, haKeyPrefix) {
		return
	}
	if d.ReceivedAt < t.now().Add(-t.cfg.CleanupAfter).UnixMilli() {
		// Due for deletion, or being deleted: a late notice of it must not
		// bring back a cluster that cleanup forgot.
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.storeLocked(key, d)
}

// storeLocked keeps d as the election of key unless the local copy is
// newer, and counts a change of replica.
func (t *HATracker) storeLocked(key string, d *ReplicaDesc) {
	cur, ok := t.replicas[key]
	if ok && !d.newer(cur) {
		return
	}
	c := *d
	t.replicas[key] = &c
	if !ok || cur.Replica != d.Replica || cur.ElectedAt != d.ElectedAt {
		// A new election: what was seen of the previous one is void.
		t.seen[key] = d.ReceivedAt
	}
	switch {
	case !ok:
		t.clusters.WithLabelValues(d.Tenant).Inc()
	case cur.Replica != d.Replica:
		t.electedChanges.WithLabelValues(d.Tenant, d.Cluster).Inc()
	}
}

// cleanup deletes the clusters whose elected replica sent nothing for the
// cleanup period, from the store and the local copy. Every distributor
// does it; deleting a deleted key does nothing.
func (t *HATracker) cleanup(ctx context.Context) {
	deadline := t.now().Add(-t.cfg.CleanupAfter).UnixMilli()
	t.mu.Lock()
	var stale []string
	for k, d := range t.replicas {
		if d.ReceivedAt < deadline {
			stale = append(stale, k)
		}
	}
	t.mu.Unlock()
	for _, k := range stale {
		var keep bool
		// Delete only what is still stale in the store: a push may have
		// just brought the cluster back.
		err := t.client.CAS(ctx, k, func(in any) (any, bool, error) {
			if d, ok := in.(*ReplicaDesc); ok && d.ReceivedAt >= deadline {
				keep = true
				t.observe(k, d)
			}
			return nil, false, nil
		})
		if err == nil && !keep {
			err = t.client.Delete(ctx, k)
		}
		if err != nil {
			t.logger.Warn("cannot delete a stale HA cluster", "key", k, "err", err)
			continue
		}
		if keep {
			continue
		}
		t.mu.Lock()
		if d, ok := t.replicas[k]; ok && d.ReceivedAt < deadline {
			delete(t.replicas, k)
			delete(t.seen, k)
			t.clusters.WithLabelValues(d.Tenant).Dec()
		}
		t.mu.Unlock()
	}
}

// Check reports whether the samples of replica, of cluster of tenantID,
// are to be kept: nil for the elected replica (electing it when the
// cluster has none, or when the elected one sent nothing for the tenant's
// failover timeout), ErrDuplicateReplica for another replica, a limit
// error when the cluster would be one more than ha_max_clusters, and an
// unavailable error when the store cannot be written.
func (t *HATracker) Check(ctx context.Context, tenantID, cluster, replica string, lim *limits.Limits) error {
	now := t.now()
	nowMs := now.UnixMilli()
	failover := time.Duration(lim.HATrackerFailoverTimeout)
	// Written often enough that no other distributor sees a live replica
	// as silent for the failover timeout.
	update := min(t.cfg.UpdateTimeout, failover/3).Milliseconds()
	// The failover comes only after the elected replica was silent for
	// the failover timeout. With a shared store it may have pushed to
	// other distributors up to an update interval after the last-seen time
	// the store holds: that is when it was surely last seen. In process,
	// every push comes here, and this distributor knows.
	var slack int64
	if t.shared {
		slack = update
	}
	key := haKey(tenantID, cluster)

	t.mu.Lock()
	cur, ok := t.replicas[key]
	// The elected replica was last seen when the store says, or when this
	// distributor took its last push, whichever is later.
	var seen int64
	if ok {
		if t.seen[key] < cur.ReceivedAt+slack {
			t.seen[key] = cur.ReceivedAt + slack
		}
		seen = t.seen[key]
		switch {
		case cur.Replica == replica:
			t.seen[key] = max(seen, nowMs)
			if nowMs-cur.ReceivedAt < update {
				t.mu.Unlock()
				return nil
			}
		case nowMs-seen < failover.Milliseconds():
			t.mu.Unlock()
			return ErrDuplicateReplica
		}
	} else if lim.HAMaxClusters > 0 && t.clustersLocked(tenantID) >= lim.HAMaxClusters {
		t.mu.Unlock()
		return wire.Errorf(wire.KindLimit, errIDTooManyHAClusters,
			"tenant %s already sends from %d HA clusters, its limit; samples of cluster %q refused (raise ha_max_clusters / -distributor.ha-max-clusters)", tenantID, lim.HAMaxClusters, cluster)
	}
	t.mu.Unlock()

	// The local copy says the store needs a write: decide again on what
	// the store holds, which another distributor may have changed.
	var result *ReplicaDesc
	// What this distributor saw counts only for the replica it saw.
	seenOf := func(d *ReplicaDesc) int64 {
		if ok && d.Replica == cur.Replica && d.ElectedAt == cur.ElectedAt {
			return seen
		}
		return 0
	}
	err := t.client.CAS(ctx, key, func(in any) (any, bool, error) {
		d, _ := in.(*ReplicaDesc)
		switch {
		case d == nil:
			result = &ReplicaDesc{Tenant: tenantID, Cluster: cluster, Replica: replica, ElectedAt: nowMs, ReceivedAt: nowMs}
		case d.Replica == replica:
			if nowMs-d.ReceivedAt < update || nowMs <= d.ReceivedAt {
				result = d
				return nil, false, nil
			}
			result = d.Clone().(*ReplicaDesc)
			result.ReceivedAt = nowMs
		case nowMs-max(d.ReceivedAt+slack, seenOf(d)) < failover.Milliseconds():
			result = d
			return nil, false, nil
		default: // failover
			result = &ReplicaDesc{Tenant: tenantID, Cluster: cluster, Replica: replica, ElectedAt: max(nowMs, d.ElectedAt+1), ReceivedAt: max(nowMs, d.ReceivedAt)}
		}
		return result.Clone(), true, nil
	})
	if err != nil {
		t.kvFailures.Inc()
		return wire.Errorf(wire.KindUnavailable, errIDHATracker, "cannot record the elected replica of HA cluster %q: %v", cluster, err)
	}
	t.mu.Lock()
	t.storeLocked(key, result)
	elected := t.replicas[key].Replica
	t.mu.Unlock()
	if elected != replica {
		return ErrDuplicateReplica
	}
	return nil
}

func (t *HATracker) clustersLocked(tenantID string) int {
	n := 0
	for _, d := range t.replicas {
		if d.Tenant == tenantID {
			n++
		}
	}
	return n
}

// Elections returns the elected replica of every cluster known to this
// distributor, by tenant and cluster.
func (t *HATracker) Elections() []ReplicaDesc {
	t.mu.Lock()
	out := make([]ReplicaDesc, 0, len(t.replicas))
	for _, d := range t.replicas {
		out = append(out, *d)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b ReplicaDesc) int {
		if c := strings.Compare(a.Tenant, b.Tenant); c != 0 {
			return c
		}
		return strings.Compare(a.Cluster, b.Cluster)
	})
	return out
}

// haStatus is one row of the status page.
type haStatus struct {
	Tenant    string    `json:"tenant"`
	Cluster   string    `json:"cluster"`
	Replica   string    `json:"replica"`
	ElectedAt time.Time `json:"elected_at"`
	LastSeen  time.Time `json:"last_seen"`
}

var haPage = template.Must(template.New("ha").Parse(`<!DOCTYPE html>
<html><head><title>HA tracker</title></head>
<body>
<h1>HA tracker</h1>
<p>The elected replica of each HA cluster, as this distributor knows it at {{.Now}}. Last seen is the time kept in the KV store, written at most every update timeout.</p>
<table border="1" cellpadding="4">
<tr><th>tenant</th><th>cluster</th><th>elected replica</th><th>elected at</th><th>last seen</th></tr>
{{range .Rows}}<tr><td>{{.Tenant}}</td><td>{{.Cluster}}</td><td>{{.Replica}}</td><td>{{.ElectedAt.Format "2006-01-02T15:04:05.000Z07:00"}}</td><td>{{.LastSeen.Format "2006-01-02T15:04:05.000Z07:00"}}</td></tr>
{{else}}<tr><td colspan="5">No HA cluster has pushed.</td></tr>
{{end}}</table>
</body></html>
`))

// ServeHTTP serves /distributor/ha_tracker: the elected replicas, as HTML,
// or JSON with ?format=json.
func (t *HATracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	elections := t.Elections()
	rows := make([]haStatus, len(elections))
	for i, d := range elections {
		rows[i] = haStatus{Tenant: d.Tenant, Cluster: d.Cluster, Replica: d.Replica, ElectedAt: time.UnixMilli(d.ElectedAt).UTC(), LastSeen: time.UnixMilli(d.ReceivedAt).UTC()}
	}
	if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Clusters []haStatus `json:"clusters"`
		}{rows})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = haPage.Execute(w, struct {
		Now  string
		Rows []haStatus
	}{t.now().UTC().Format(time.RFC3339), rows})
}
