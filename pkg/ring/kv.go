package ring

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	gokit "github.com/go-kit/log"
	"github.com/grafana/dskit/dns"
	"github.com/grafana/dskit/kv"
	"github.com/grafana/dskit/kv/codec"
	"github.com/grafana/dskit/kv/consul"
	"github.com/grafana/dskit/kv/memberlist"
	dsring "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-io/weft/pkg/logutil"
)

// KV is the process's KV store for rings: one per process, shared by every
// ring and lifecycler of the process. With -ring.store=memberlist it owns
// the process's memberlist node (dskit's memberlist.KVInitService).
//
// KV is a service: start it before creating any ring or lifecycler that
// uses it and stop it after all of them, so that a stopping lifecycler can still write
// its LEAVING state and unregister, and the node leaves the gossip cluster
// last.
type KV struct {
	services.Service

	cfg    Config
	reg    prometheus.Registerer // already prefixed with weft_
	logger gokit.Logger          // for dskit
	slog   *slog.Logger

	ml      *memberlist.KVInitService // set with -ring.store=memberlist
	dns     *dns.Provider             // resolves -memberlist.join, with ml
	watcher *services.FailureWatcher

	inmem       *consul.Client // set with -ring.store=inmemory
	inmemCloser io.Closer
}

// NewKV returns the process's KV store for cfg.Ring.Store. The ring codec is
// always registered with memberlist; codecs adds others (they must be known
// before the node joins the cluster). Metrics go to reg with the prefix
// weft_; reg and logger may be nil.
func NewKV(cfg Config, reg prometheus.Registerer, logger *slog.Logger, codecs ...codec.Codec) (*KV, error) {
	k := &KV{
		cfg:     cfg,
		reg:     weftRegisterer(reg),
		logger:  logutil.GoKit(logger),
		slog:    logutil.OrNop(logger),
		watcher: services.NewFailureWatcher(),
	}
	switch cfg.Ring.Store {
	case StoreMemberlist:
		mlCfg := cfg.Memberlist.dskit()
		mlCfg.Codecs = append([]codec.Codec{dsring.GetCodec()}, codecs...)
		if err := mlCfg.Validate(); err != nil {
			return nil, fmt.Errorf("cannot configure memberlist: %w", err)
		}
		var dnsReg prometheus.Registerer
		if k.reg != nil {
			dnsReg = prometheus.WrapRegistererWithPrefix("memberlist_", k.reg)
		}
		k.dns = dns.NewProvider(dns.GolangResolverType, 0, k.logger, dnsReg)
		k.ml = memberlist.NewKVInitService(&mlCfg, k.logger, k.dns, k.reg)
	case StoreInMemory:
		// Not dskit's process-wide in-memory singleton: two KVs in one test
		// process must not see each other's rings.
		k.inmem, k.inmemCloser = consul.NewInMemoryClient(dsring.GetCodec(), k.logger, nil)
	case StoreEtcd, StoreConsul:
	default:
		return nil, fmt.Errorf("unknown ring.store %q", cfg.Ring.Store)
	}
	k.Service = services.NewBasicService(k.starting, k.running, k.stopping).WithName("ring KV store")
	return k, nil
}

func weftRegisterer(reg prometheus.Registerer) prometheus.Registerer {
	if reg == nil {
		return nil
	}
	return prometheus.WrapRegistererWithPrefix("weft_", reg)
}

func (k *KV) starting(ctx context.Context) error {
	if k.ml == nil {
		return nil
	}
	k.watcher.WatchService(k.ml)
	// Not ctx: a service's context ends when it is asked to stop, and
	// memberlist must outlive that until stopping has synced (it stops
	// memberlist itself).
	if err := k.ml.StartAsync(context.Background()); err != nil {
		return fmt.Errorf("cannot start memberlist: %w", err)
	}
	if err := k.ml.AwaitRunning(ctx); err != nil {
		return fmt.Errorf("cannot start memberlist: %w", err)
	}
	// Create the node now rather than on first use, so that the gossip port
	// is bound and the cluster joined before any ring reads the KV.
	mkv, err := k.ml.GetMemberlistKV()
	if err != nil {
		return fmt.Errorf("cannot start memberlist: %w", err)
	}
	if err := mkv.AwaitRunning(ctx); err != nil {
		return fmt.Errorf("cannot start memberlist: %w", err)
	}
	return nil
}

func (k *KV) running(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-k.watcher.Chan():
		return fmt.Errorf("memberlist failed: %w", err)
	}
}

func (k *KV) stopping(_ error) error {
	if k.ml != nil {
		k.syncBeforeLeaving()
		// Leaves the gossip cluster, after the remaining local updates
		// (a lifecycler's unregistration) have been broadcast.
		if err := services.StopAndAwaitTerminated(context.Background(), k.ml); err != nil {
			return fmt.Errorf("cannot stop memberlist: %w", err)
		}
	}
	if k.inmemCloser != nil {
		return k.inmemCloser.Close()
	}
	return nil
}

// syncBeforeLeaving exchanges the whole KV state with the -memberlist.join
// members, so that they hold the last state of this process's lifecycler
// (LEAVING, or unregistered) before it leaves. A local update is
// broadcast only a few times (retransmit factor × log(members)), to
// random members, which include for 30s the previous incarnations of
// restarted processes: during a rolling restart all of them can go to dead
// members, and the others would see the instance ACTIVE until its
// heartbeat times out. A member that learns something new gossips it on.
func (k *KV) syncBeforeLeaving() {
	if len(k.cfg.Memberlist.Join) == 0 {
		return
	}
	mkv, err := k.ml.GetMemberlistKV()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := k.dns.Resolve(ctx, k.cfg.Memberlist.Join); err != nil {
		k.slog.Warn("cannot resolve the memberlist members to sync with before leaving", "err", err)
	}
	addrs := k.dns.Addresses()
	if len(addrs) == 0 {
		return
	}
	// One push/pull per member, in parallel and bounded: a dead member's
	// address may take a TCP timeout to fail.
	var reached atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range addrs {
		wg.Go(func() {
			if n, err := mkv.JoinMembers([]string{a}); err == nil {
				reached.Add(int64(n))
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	k.slog.Info("synced the ring state with members before leaving", "reached", reached.Load(), "members", len(addrs))
}

// Memberlist returns the process's memberlist service, or nil when the
// store is not memberlist.
func (k *KV) Memberlist() *memberlist.KVInitService { return k.ml }

// GossipPort returns the port the memberlist node listens on (useful with
// -memberlist.bind-port=0), or 0 when memberlist is not used or not started.
func (k *KV) GossipPort() int {
	if k.ml == nil || k.State() != services.Running {
		return 0
	}
	mkv, err := k.ml.GetMemberlistKV()
	if err != nil {
		return 0
	}
	return mkv.GetListeningPort()
}

// NewClient returns a client of the store for values encoded with c, under
// -ring.prefix. name labels the client's metrics (kv_name) and must be
// unique per process and registerer. With memberlist, c must have been
// registered by NewKV. A client made before the KV runs connects on first
// use, so that rings and lifecyclers can be built before the KV starts
// (they use their client only once started, after the KV): connecting
// earlier would start a memberlist node that only the KV's stop can end.
func (k *KV) NewClient(name string, c codec.Codec) (kv.Client, error) {
	if k.ml != nil && k.State() != services.Running {
		return &lazyClient{connect: func() (kv.Client, error) {
			if st := k.State(); st != services.Running {
				return nil, fmt.Errorf("cannot use the %s KV client: the memberlist KV is %s", name, st)
			}
			return k.newClient(name, c)
		}}, nil
	}
	return k.newClient(name, c)
}

func (k *KV) newClient(name string, c codec.Codec) (kv.Client, error) {
	if k.inmem != nil {
		var client kv.Client = k.inmem.WithCodec(c)
		if k.cfg.Ring.Prefix != "" {
			client = kv.PrefixClient(client, k.cfg.Ring.Prefix)
		}
		return client, nil
	}
	cfg := kv.Config{
		Store:  k.cfg.Ring.Store,
		Prefix: k.cfg.Ring.Prefix,
		StoreConfig: kv.StoreConfig{
			Etcd:   k.cfg.Ring.Etcd.dskit(),
			Consul: k.cfg.Ring.Consul.dskit(),
		},
	}
	if k.ml != nil {
		cfg.MemberlistKV = k.ml.GetMemberlistKV
	}
	client, err := kv.NewClient(cfg, c, kv.RegistererWithKVName(k.reg, name), k.logger)
	if err != nil {
		return nil, fmt.Errorf("cannot create %s KV client: %w", name, err)
	}
	return client, nil
}

// MemberlistHandler serves /memberlist: dskit's status page of the gossip
// cluster (members, keys, messages) for people; with ?format=json or
// Accept: application/json, the same data as JSON. Without memberlist it
// says so.
func (k *KV) MemberlistHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if k.ml == nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "This process does not use memberlist (-ring.store="+k.cfg.Ring.Store+").\n")
			return
		}
		q := req.URL.Query()
		// format=json also selects the encoding of viewKey/viewMsg; only the
		// overview needs the Accept header that dskit looks at.
		if q.Get("format") == "json" && !q.Has("viewKey") && !q.Has("viewMsg") && !q.Has("downloadKey") {
			req = req.Clone(req.Context())
			req.Header.Set("Accept", "application/json")
		}
		k.ml.ServeHTTP(w, req)
	})
}

// lazyClient is a kv.Client that connects on first use; a failed connect
// is retried on the next use.
type lazyClient struct {
	connect func() (kv.Client, error)
	mu      sync.Mutex
	c       kv.Client // guarded by mu
}

func (l *lazyClient) get() (kv.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		c, err := l.connect()
		if err != nil {
			return nil, err
		}
		l.c = c
	}
	return l.c, nil
}

func (l *lazyClient) List(ctx context.Context, prefix string) ([]string, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.List(ctx, prefix)
}

func (l *lazyClient) Get(ctx context.Context, key string) (any, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.Get(ctx, key)
}

func (l *lazyClient) Delete(ctx context.Context, key string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.Delete(ctx, key)
}

func (l *lazyClient) CAS(ctx context.Context, key string, f func(in any) (out any, retry bool, err error)) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.CAS(ctx, key, f)
}

// WatchKey and WatchPrefix have no error to return: without a store they
// return at once, as dskit's clients do when their context ends, and
// their caller (the ring) watches again.
func (l *lazyClient) WatchKey(ctx context.Context, key string, f func(any) bool) {
	if c, err := l.get(); err == nil {
		c.WatchKey(ctx, key, f)
	}
}

func (l *lazyClient) WatchPrefix(ctx context.Context, prefix string, f func(string, any) bool) {
	if c, err := l.get(); err == nil {
		c.WatchPrefix(ctx, prefix, f)
	}
}
