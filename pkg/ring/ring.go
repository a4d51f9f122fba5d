package ring

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	gokit "github.com/go-kit/log"
	dsring "github.com/grafana/dskit/ring"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/weft-io/weft/pkg/logutil"
)

// Ring is the read side of a ring, for distributors and queriers: dskit's
// *ring.Ring (embedded, so *Ring is a dsring.ReadRing and a service) with
// the lookups weft needs and a status page with JSON. It keeps an
// in-memory copy of the ring, updated by watching the KV store, so lookups
// do not touch the network.
type Ring struct {
	*dsring.Ring

	key              string
	heartbeatTimeout time.Duration
	healthy          atomic.Pointer[healthyCount]
}

// NewIngesterRing returns the ingester ring client, with dskit's default
// (quorum) replication strategy: a write or read succeeds when RF/2+1 of the
// RF replicas answer; with zone awareness the replicas are in RF distinct
// zones. It registers the ring's metrics on reg, so create one per process
// and share it between the roles of the process. kv must be running; stop
// the ring before kv. reg and logger may be nil.
func NewIngesterRing(cfg IngesterConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newRing(cfg, IngesterRingName, IngesterRingKey, dsring.NewDefaultReplicationStrategy(), kv, reg, logger)
}

// NewStoreGatewayRing returns the store-gateway ring client: each block is
// owned by the replication factor's store-gateways (see storegateway's
// BlockToken), so one store-gateway can die without failing queries.
func NewStoreGatewayRing(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*Ring, error) {
	// A block needs one live owner, not a quorum: with fewer store-gateways
	// than the replication factor, the live ones own it.
	return newRing(cfg.ringConfig(), StoreGatewayRingName, StoreGatewayRingKey, dsring.NewIgnoreUnhealthyInstancesReplicationStrategy(), kv, reg, logger)
}

// NewCompactorRing returns the compactor ring client.
func NewCompactorRing(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*Ring, error) {
	return newRing(cfg.ringConfig(), CompactorRingName, CompactorRingKey, dsring.NewIgnoreUnhealthyInstancesReplicationStrategy(), kv, reg, logger)
}

// NewRulerRing returns the ruler ring client: each rule group has one
// owner, and a dead ruler's groups move to the next owner once its
// heartbeat times out.
func NewRulerRing(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*Ring, error) {
	return newRing(cfg.ringConfig(), RulerRingName, RulerRingKey, dsring.NewIgnoreUnhealthyInstancesReplicationStrategy(), kv, reg, logger)
}

// NewAlertmanagerRing returns the alertmanager ring client: each tenant's
// Alertmanager runs on the replication factor's alertmanagers (see
// TenantReplicas); a dead one is skipped, so the live ones keep it.
func NewAlertmanagerRing(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*Ring, error) {
	return newRing(cfg.ringConfig(), AlertmanagerRingName, AlertmanagerRingKey, dsring.NewIgnoreUnhealthyInstancesReplicationStrategy(), kv, reg, logger)
}

// NewQuerySchedulerRing returns the query-scheduler ring client, from
// which frontends and queriers take the addresses of the healthy
// schedulers.
func NewQuerySchedulerRing(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*Ring, error) {
	return newRing(cfg.ringConfig(), QuerySchedulerRingName, QuerySchedulerRingKey, dsring.NewIgnoreUnhealthyInstancesReplicationStrategy(), kv, reg, logger)
}

// NewDistributorRing returns the distributor ring client, with which a
// distributor counts the healthy distributors (HealthyInstances).
func NewDistributorRing(cfg DistributorRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*Ring, error) {
	return newRing(cfg.ringConfig(), DistributorRingName, DistributorRingKey, dsring.NewIgnoreUnhealthyInstancesReplicationStrategy(), kv, reg, logger)
}

// HealthyInstances returns the number of ACTIVE instances of r whose
// heartbeat is recent, at least 1 (the caller counts itself, even before
// its own registration is seen). It is cheap enough for every request: the
// count is kept for a second.
func (r *Ring) HealthyInstances() int {
	now := time.Now().UnixNano()
	if c := r.healthy.Load(); c != nil && now-c.at < int64(time.Second) {
		return c.n
	}
	n := 1
	if rs, err := r.GetAllHealthy(dsring.Write); err == nil && len(rs.Instances) > 1 {
		n = len(rs.Instances)
	}
	r.healthy.Store(&healthyCount{n: n, at: now})
	return n
}

// healthyCount is a cached HealthyInstances.
type healthyCount struct {
	n  int
	at int64 // unix ns
}

// TenantReplicas returns the addresses of the instances of r that own
// tenant (its token, TokenFor with no labels), in ring order, and the
// index of instanceID among them (-1 when it is not one).
func TenantReplicas(r dsring.ReadRing, tenant, instanceID string) ([]string, int, error) {
	rs, err := r.Get(TokenFor(tenant, labels.EmptyLabels()), dsring.Write, nil, nil, nil)
	if err != nil {
		return nil, -1, err
	}
	addrs, self := make([]string, 0, len(rs.Instances)), -1
	for i, inst := range rs.Instances {
		addrs = append(addrs, inst.Addr)
		if inst.Id == instanceID {
			self = i
		}
	}
	return addrs, self, nil
}

// Owns reports whether instanceID is the first owner of token in r, for
// work done by exactly one instance (a tenant's compaction). An error of
// the ring, or an empty ring, means not owned: the work waits.
func Owns(r dsring.ReadRing, token uint32, instanceID string) bool {
	// Write skips instances that are not ACTIVE and healthy, so a dead
	// owner's share moves to the next one.
	rs, err := r.Get(token, dsring.Write, nil, nil, nil)
	if err != nil || len(rs.Instances) == 0 {
		return false
	}
	return rs.Instances[0].Id == instanceID
}

func newRing(cfg IngesterConfig, name, key string, strategy dsring.ReplicationStrategy, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*Ring, error) {
	client, err := kv.NewClient(name+"-ring", dsring.GetCodec())
	if err != nil {
		return nil, err
	}
	rcfg := dsring.Config{
		HeartbeatTimeout:     cfg.HeartbeatTimeout,
		ReplicationFactor:    cfg.ReplicationFactor,
		ZoneAwarenessEnabled: cfg.ZoneAwarenessEnabled,
	}
	glog := gokit.With(logutil.GoKit(logger), "ring", name)
	r, err := dsring.NewWithStoreClientAndStrategy(rcfg, name, key, client,
		strategy, weftRegisterer(reg), glog)
	if err != nil {
		return nil, fmt.Errorf("cannot create the %s ring client: %w", name, err)
	}
	return &Ring{Ring: r, key: key, heartbeatTimeout: cfg.HeartbeatTimeout}, nil
}

// Buffers are scratch space for ReplicasForToken, so that a distributor
// looking up many series allocates nothing per series. Not safe for
// concurrent use: one per goroutine (or pool them).
type Buffers struct {
	descs        []dsring.InstanceDesc
	hosts, zones []string
}

// NewBuffers returns buffers sized for the usual replica set (RF 3 plus a
// JOINING and a LEAVING instance); they grow when needed.
func NewBuffers() *Buffers {
	descs, hosts, zones := dsring.MakeBuffersForGet()
	return &Buffers{descs: descs, hosts: hosts, zones: zones}
}

// ReplicasForToken returns the instances that hold the series with token
// (see TokenFor) in r, which is the ring or a tenant's shard of it
// (TenantShard). op is dsring.Write for writes — an instance that is not
// ACTIVE is skipped and the set extended by the next one, so writes keep
// their quorum while an ingester joins or leaves — or dsring.WriteNoExtend
// to never extend. The result's MaxErrors says how many instances may fail.
//
// The returned set's Instances alias b (nil b allocates): they are valid
// until the next call with the same b.
func ReplicasForToken(r dsring.ReadRing, token uint32, op dsring.Operation, b *Buffers) (dsring.ReplicationSet, error) {
	if b == nil {
		return r.Get(token, op, nil, nil, nil)
	}
	return r.Get(token, op, b.descs[:0], b.hosts[:0], b.zones[:0])
}

// TenantShard returns the subring of r holding tenant's series: a stable,
// tenant-specific subset of size instances (rounded up to a multiple of
// the number of zones with zone awareness), chosen by dskit's shuffle
// sharding so that two tenants share few instances. size <= 0, or a size
// at least the ring's, means the whole ring. Results are cached by dskit
// until the ring's topology changes.
func TenantShard(r dsring.ReadRing, tenant string, size int) dsring.ReadRing {
	return r.ShuffleShard(tenant, size)
}

// ReadReplicationSet returns the instances a querier asks for tenant's
// recent series, and how many of them may fail (MaxErrors or, with zone
// awareness, MaxUnavailableZones): all healthy instances of the tenant's
// shard (size shardSize; <= 0 for the whole ring). With lookback > 0 the
// shard also includes instances that were in it within lookback before
// now — they may still hold series written before the shard changed; use
// the ingesters' retention of the head (e.g. the block range plus the ship
// delay).
func ReadReplicationSet(r dsring.ReadRing, tenant string, shardSize int, lookback time.Duration, now time.Time) (dsring.ReplicationSet, error) {
	sub := r
	if shardSize > 0 {
		if lookback > 0 {
			sub = r.ShuffleShardWithLookback(tenant, shardSize, lookback, now)
		} else {
			sub = r.ShuffleShard(tenant, shardSize)
		}
	}
	return sub.GetReplicationSetForOperation(dsring.Read)
}
