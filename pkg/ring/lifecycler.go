package ring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	gokit "github.com/go-kit/log"
	"github.com/grafana/dskit/netutil"
	dsring "github.com/grafana/dskit/ring"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-io/weft/pkg/logutil"
)

// Names of the ingester ring: IngesterRingKey is its key in the KV store
// (under -ring.prefix), IngesterRingName labels its metrics.
const (
	IngesterRingKey  = "ingester-ring"
	IngesterRingName = "ingester"
	// StoreGatewayRingKey and StoreGatewayRingName name the ring that
	// shards blocks over store-gateways.
	StoreGatewayRingKey  = "store-gateway-ring"
	StoreGatewayRingName = "store-gateway"
	// CompactorRingKey and CompactorRingName name the ring that shards
	// tenants over compactors.
	CompactorRingKey  = "compactor-ring"
	CompactorRingName = "compactor"
	// RulerRingKey and RulerRingName name the ring that shards rule
	// groups over rulers.
	RulerRingKey  = "ruler-ring"
	RulerRingName = "ruler"
	// AlertmanagerRingKey and AlertmanagerRingName name the ring that
	// places each tenant's Alertmanager on its replicas.
	AlertmanagerRingKey  = "alertmanager-ring"
	AlertmanagerRingName = "alertmanager"
	// QuerySchedulerRingKey and QuerySchedulerRingName name the ring in
	// which query-schedulers register for frontends and queriers.
	QuerySchedulerRingKey  = "query-scheduler-ring"
	QuerySchedulerRingName = "query-scheduler"
	// DistributorRingKey and DistributorRingName name the ring in which
	// distributors count each other.
	DistributorRingKey  = "distributor-ring"
	DistributorRingName = "distributor"
)

// IngesterLifecycler registers this process as an ingester in the ring and
// keeps it there. It is dskit's BasicLifecycler (embedded: every method of
// it works) with these delegates, outermost first:
//
//   - AutoForgetDelegate (with -ingester.ring.auto-forget-unhealthy-period):
//     on each heartbeat, removes instances whose heartbeat is older than the period;
//   - LeaveOnStoppingDelegate: on stop, sets the state LEAVING;
//   - TokensPersistencyDelegate: loads the tokens from -ingester.ring.tokens-file-path
//     on start and stores them there once registered;
//   - InstanceRegisterDelegate: registers JOINING with -ingester.ring.num-tokens
//     tokens, keeping those already in the ring or in the file.
//
// The ingester moves JOINING → ACTIVE by calling Activate when it can take
// writes, and LEAVING on stop; stop then unregisters the instance unless
// SetUnregisterOnShutdown(false) kept it for a restart.
type IngesterLifecycler struct {
	*dsring.BasicLifecycler
}

// NewIngesterLifecycler returns the lifecycler of this ingester, writing to
// the ring in kv, which must be running. Start it when the ingester starts; stop it
// (before kv) after the ingester stopped taking writes and, if it leaves the
// ring, flushed its data. Metrics go to reg; reg and logger may be nil.
func NewIngesterLifecycler(cfg IngesterConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*IngesterLifecycler, error) {
	return newLifecycler(cfg, IngesterRingName, IngesterRingKey, kv, reg, logger)
}

// NewStoreGatewayLifecycler registers this store-gateway in the
// store-gateway ring, which shards blocks over store-gateways; see
// NewIngesterLifecycler for the lifecycle.
func NewStoreGatewayLifecycler(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*IngesterLifecycler, error) {
	return newLifecycler(cfg.ringConfig(), StoreGatewayRingName, StoreGatewayRingKey, kv, reg, logger)
}

// NewCompactorLifecycler registers this compactor in the compactor ring,
// which gives each tenant to one compactor.
func NewCompactorLifecycler(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*IngesterLifecycler, error) {
	return newLifecycler(cfg.ringConfig(), CompactorRingName, CompactorRingKey, kv, reg, logger)
}

// NewRulerLifecycler registers this ruler in the ruler ring, which gives
// each rule group to one ruler.
func NewRulerLifecycler(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*IngesterLifecycler, error) {
	return newLifecycler(cfg.ringConfig(), RulerRingName, RulerRingKey, kv, reg, logger)
}

// NewAlertmanagerLifecycler registers this alertmanager in the
// alertmanager ring.
func NewAlertmanagerLifecycler(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*IngesterLifecycler, error) {
	return newLifecycler(cfg.ringConfig(), AlertmanagerRingName, AlertmanagerRingKey, kv, reg, logger)
}

// NewQuerySchedulerLifecycler registers this query-scheduler in its ring.
func NewQuerySchedulerLifecycler(cfg ShardRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*IngesterLifecycler, error) {
	return newLifecycler(cfg.ringConfig(), QuerySchedulerRingName, QuerySchedulerRingKey, kv, reg, logger)
}

// NewDistributorLifecycler registers this distributor in the distributor
// ring, ACTIVE at once: a distributor has nothing to load before it
// counts.
func NewDistributorLifecycler(cfg DistributorRingConfig, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*IngesterLifecycler, error) {
	return newLifecyclerWithState(cfg.ringConfig(), DistributorRingName, DistributorRingKey, dsring.ACTIVE, kv, reg, logger)
}

func newLifecycler(cfg IngesterConfig, name, key string, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*IngesterLifecycler, error) {
	return newLifecyclerWithState(cfg, name, key, dsring.JOINING, kv, reg, logger)
}

// newLifecyclerWithState returns a lifecycler that registers the instance
// in state (JOINING for roles that Activate once they can work).
func newLifecyclerWithState(cfg IngesterConfig, name, key string, state dsring.InstanceState, kv *KV, reg prometheus.Registerer, logger *slog.Logger) (*IngesterLifecycler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = DefaultInstanceID(cfg.GRPCListenAddress)
	}
	if cfg.InstanceID == "" {
		return nil, fmt.Errorf("%s.ring.instance-id must be set (the host name could not be read)", name)
	}
	if cfg.ZoneAwarenessEnabled && cfg.AvailabilityZone == "" {
		return nil, errors.New("ingester.availability-zone must be set with -distributor.zone-awareness-enabled")
	}
	// dskit's lifecycler names the ring in its own messages; the delegates do not.
	llog := logutil.GoKit(logger)
	glog := gokit.With(llog, "ring", name)
	addr, err := instanceAddr(cfg.InstanceAddr, cfg.GRPCListenAddress, glog)
	if err != nil {
		return nil, err
	}
	if cfg.TokensFilePath != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.TokensFilePath), 0o755); err != nil {
			return nil, fmt.Errorf("cannot create the directory of the tokens file: %w", err)
		}
	}
	client, err := kv.NewClient(name+"-lifecycler", dsring.GetCodec())
	if err != nil {
		return nil, err
	}

	var delegate dsring.BasicLifecyclerDelegate
	delegate = dsring.NewInstanceRegisterDelegate(state, cfg.NumTokens)
	delegate = dsring.NewTokensPersistencyDelegate(cfg.TokensFilePath, state, delegate, glog)
	delegate = dsring.NewLeaveOnStoppingDelegate(delegate, glog)
	if cfg.AutoForgetUnhealthyPeriod > 0 {
		delegate = &freshViewForget{BasicLifecyclerDelegate: delegate, period: cfg.AutoForgetUnhealthyPeriod,
			forget: dsring.NewAutoForgetDelegate(cfg.AutoForgetUnhealthyPeriod, delegate, glog), logger: ringLogger(logger, name)}
	}

	lcfg := dsring.BasicLifecyclerConfig{
		ID:                              cfg.InstanceID,
		Addr:                            addr,
		Zone:                            cfg.AvailabilityZone,
		HeartbeatPeriod:                 cfg.HeartbeatPeriod,
		HeartbeatTimeout:                cfg.HeartbeatTimeout,
		NumTokens:                       cfg.NumTokens,
		KeepInstanceInTheRingOnShutdown: !cfg.UnregisterOnShutdown,
	}
	bl, err := dsring.NewBasicLifecycler(lcfg, name, key, client, delegate, llog, weftRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("cannot create the %s lifecycler: %w", name, err)
	}
	return &IngesterLifecycler{BasicLifecycler: bl}, nil
}

// Activate moves the instance to ACTIVE: distributors start writing to it.
// Call it once the ingester can take writes (its WAL replayed); the
// lifecycler must be running.
func (l *IngesterLifecycler) Activate(ctx context.Context) error {
	if err := l.ChangeState(ctx, dsring.ACTIVE); err != nil {
		return fmt.Errorf("cannot set the ingester ACTIVE in the ring: %w", err)
	}
	return nil
}

// Leave moves the instance to LEAVING: distributors and queriers stop
// choosing it for new work while it finishes what it has. Stopping the
// lifecycler then unregisters it, or keeps it for a restart.
func (l *IngesterLifecycler) Leave(ctx context.Context) error {
	if err := l.ChangeState(ctx, dsring.LEAVING); err != nil {
		return fmt.Errorf("cannot set the instance LEAVING in the ring: %w", err)
	}
	return nil
}

// SetUnregisterOnShutdown decides, up to the moment the lifecycler stops,
// whether stopping removes the instance from the ring (true: its series
// move to other ingesters) or keeps it, LEAVING, with its tokens (false: a
// restart with the same WAL and tokens file takes them back).
func (l *IngesterLifecycler) SetUnregisterOnShutdown(unregister bool) {
	l.SetKeepInstanceInTheRingOnShutdown(!unregister)
}

// instanceAddr returns the address to register: configured, else derived
// from the gRPC listen address, with an unspecified host replaced by the
// first private network address.
func instanceAddr(configured, listen string, logger gokit.Logger) (string, error) {
	if configured != "" {
		if _, _, err := net.SplitHostPort(configured); err != nil {
			return "", fmt.Errorf("ingester.ring.instance-addr %q is not host:port: %w", configured, err)
		}
		return configured, nil
	}
	if listen == "" {
		return "", errors.New("ingester.ring.instance-addr is empty and no gRPC listen address is known to derive it from")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("cannot derive the instance address from the gRPC listen address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		ifaces := netutil.PrivateNetworkInterfacesWithFallback([]string{"eth0", "en0"}, logger)
		host, err = dsring.GetInstanceAddr("", ifaces, logger, false)
		if err != nil {
			return "", fmt.Errorf("cannot find this host's address for the ring; set -ingester.ring.instance-addr: %w", err)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// freshViewForget forgets unhealthy instances (dskit's AutoForgetDelegate)
// only on a view of the ring that is fresh. A process that was paused (a
// SIGSTOP, a frozen VM, a long stall) for more than the forget period
// finds its own last heartbeat, and every other, that old in its copy of
// the ring until gossip refreshes it: forgetting on that view removes live
// instances, whose share moves while they register again. After such a
// pause it waits one forget period before it forgets anything.
type freshViewForget struct {
	dsring.BasicLifecyclerDelegate // the next delegate
	forget                         *dsring.AutoForgetDelegate
	period                         time.Duration
	logger                         *slog.Logger
	holdUntil                      atomic.Int64 // Unix nanoseconds
}

func (d *freshViewForget) OnRingInstanceHeartbeat(l *dsring.BasicLifecycler, r *dsring.Desc, self *dsring.InstanceDesc) {
	now := time.Now()
	// self is this instance as the ring holds it: its previous heartbeat.
	if last := time.Unix(self.GetTimestamp(), 0); self.GetTimestamp() > 0 && now.Sub(last) > d.period {
		if now.UnixNano() > d.holdUntil.Load() {
			d.logger.Warn("this instance's own heartbeat is older than the auto-forget period (the process was paused): no instance is forgotten until the ring is fresh again", "last_heartbeat", last, "forget_period", d.period)
		}
		d.holdUntil.Store(now.Add(d.period).UnixNano())
	}
	if now.UnixNano() <= d.holdUntil.Load() {
		d.BasicLifecyclerDelegate.OnRingInstanceHeartbeat(l, r, self)
		return
	}
	d.forget.OnRingInstanceHeartbeat(l, r, self)
}

func ringLogger(logger *slog.Logger, name string) *slog.Logger {
	if logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return logger.With("ring", name)
}
