package ingester

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/serieshash"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// Config of the ingester. Dir is set by the app from -data.dir, and
// InstanceID, which names the ingester in the meta.json of every block it
// ships, from its ring ID (-ingester.ring.instance-id): an ingester has one
// identity.
type Config struct {
	Dir               string        `yaml:"-"`
	InstanceID        string        `yaml:"-"`
	BlockRange        time.Duration `yaml:"block_range_period"`
	Retention         time.Duration `yaml:"retention_period"`
	ShipInterval      time.Duration `yaml:"ship_interval"`
	ShipConcurrency   int           `yaml:"ship_concurrency"`
	WALCompression    bool          `yaml:"wal_compression"`
	FlushOnShutdown   bool          `yaml:"flush_on_shutdown"`
	HeadCompactPeriod time.Duration `yaml:"head_compaction_interval"`
	StartTimestamps   bool          `yaml:"start_timestamps_enabled"`
	// WALSyncBeforeAck makes each push wait for an fsync of the WAL that
	// covers it (walsync.go, docs/durability.md).
	WALSyncBeforeAck bool `yaml:"wal_sync_before_ack"`
	// SeriesHashCacheMaxBytes bounds the memory of the series hashes that
	// query sharding caches for the local blocks of all tenants.
	SeriesHashCacheMaxBytes int64 `yaml:"series_hash_cache_max_bytes"`
	// InstanceLimits protect this ingester whatever the tenants do.
	InstanceLimits InstanceLimits `yaml:"instance_limits"`
	// BlockChunkSegmentSize is the largest chunk file of a block the TSDB
	// cuts from its head, which it preallocates while it writes the block.
	BlockChunkSegmentSize int64 `yaml:"block_chunk_segment_size_bytes"`
	// MinFreeDiskBytes is the free space of -data.dir's file system below
	// which pushes are refused before anything is written (diskfull.go).
	MinFreeDiskBytes int64 `yaml:"min_free_disk_bytes"`
}

// RegisterFlags registers the ingester flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.DurationVar(&c.BlockRange, "ingester.tsdb.block-ranges-period", 2*time.Hour, "Time range of the blocks the TSDB cuts from its head and ships to the bucket.")
	f.DurationVar(&c.Retention, "ingester.tsdb.retention-period", 24*time.Hour, "How long shipped blocks stay on local disk (queriers ask ingesters only for -querier.query-ingesters-within). A block is never deleted before its upload is confirmed.")
	f.DurationVar(&c.ShipInterval, "ingester.tsdb.ship-interval", time.Minute, "How often new blocks are uploaded to the bucket.")
	f.IntVar(&c.ShipConcurrency, "ingester.tsdb.ship-concurrency", 4, "How many tenants ship blocks at once.")
	f.BoolVar(&c.WALCompression, "ingester.tsdb.wal-compression-enabled", true, "Compress the WAL (snappy).")
	f.BoolVar(&c.FlushOnShutdown, "ingester.flush-on-shutdown", false, "On shutdown, cut the head into blocks and ship them rather than keeping the WAL for a restart.")
	f.DurationVar(&c.HeadCompactPeriod, "ingester.tsdb.head-compaction-interval", time.Minute, "How often the ingester checks whether a head is ready to be cut into a block.")
	f.Int64Var(&c.SeriesHashCacheMaxBytes, "ingester.tsdb.series-hash-cache-max-bytes", 256<<20, "Most memory of the series label hashes that query sharding caches for the local blocks of all tenants (about 32 bytes per series of a block), so that the shards of a query do not each decode every matching series' labels. A block's hashes are dropped when the TSDB deletes it. 0 disables the cache.")
	f.BoolVar(&c.WALSyncBeforeAck, "ingester.wal-sync-before-ack", false, "Acknowledge a push only once the WAL that holds it is fsynced, so that an acknowledged sample survives a power loss of the host, not only a crash of the process (docs/durability.md). Concurrent pushes of a tenant share one fsync (group commit). A failed fsync refuses the pushes that waited for it, and every later push of that tenant until the ingester has reopened the tenant's TSDB, which it does by itself.")
	c.InstanceLimits.RegisterFlags(f)
	f.Int64Var(&c.BlockChunkSegmentSize, "ingester.tsdb.block-chunk-segment-size-bytes", 32<<20, "Largest chunk file of a block cut from the head. The TSDB preallocates a whole file while it writes a block, so cutting a block needs this much free space beside the block itself (Prometheus' default, 512 MiB, would make every block cut fail on a disk with less free space).")
	f.Int64Var(&c.MinFreeDiskBytes, "ingester.min-free-disk-bytes", 64<<20, "Refuse pushes (503, err-weft-disk-full) while the file system of -data.dir has less free space than this, so that the TSDB never meets a full disk half-way through a write (docs/durability.md, \"Full disk\"). Pushes are taken again as soon as space is freed. 0 turns the check off.")
	f.BoolVar(&c.StartTimestamps, "ingester.tsdb.start-timestamps-enabled", true, "Store each sample's start timestamp (remote write 2.0), which rate(), increase(), resets() and start_timestamp() use when -querier.promql-experimental-features is set. New float chunks are then written as XOR2 and histogram chunks in their start-timestamp encodings, which every weft role reads. Turning this off later keeps every sample readable, but start timestamps not yet in a block are then not replayed from the WAL.")
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if c.BlockRange < time.Minute || c.BlockRange%time.Minute != 0 {
		return errors.New("ingester.tsdb.block-ranges-period must be a whole number of minutes, at least 1m")
	}
	if c.ShipInterval <= 0 || c.HeadCompactPeriod <= 0 {
		return errors.New("ingester.tsdb.ship-interval and head-compaction-interval must be positive")
	}
	if c.ShipConcurrency <= 0 {
		return errors.New("ingester.tsdb.ship-concurrency must be positive")
	}
	if c.SeriesHashCacheMaxBytes < 0 {
		return errors.New("ingester.tsdb.series-hash-cache-max-bytes must not be negative")
	}
	if c.BlockChunkSegmentSize < 64<<10 {
		return errors.New("ingester.tsdb.block-chunk-segment-size-bytes must be at least 64KiB")
	}
	if c.MinFreeDiskBytes < 0 {
		return errors.New("ingester.min-free-disk-bytes must not be negative")
	}
	return c.InstanceLimits.Validate()
}

// Lifecycler announces the ingester in a ring: Activate once it can take
// writes (its WAL replayed), Leave when it stops taking them. The app passes
// the ring's lifecycler (pkg/ring); nil means there is no ring (all-in-one).
type Lifecycler interface {
	Activate(ctx context.Context) error
	Leave(ctx context.Context) error
}

// Ingester stores pushed series per tenant. It implements wire.Pusher and
// wire.Reader, and is a dskit service: starting reopens every tenant's
// TSDB (replaying its WAL) and activates it in the ring, running ships
// blocks, stopping drains the requests in flight, flushes if configured
// and closes every TSDB.
type Ingester struct {
	services.Service

	cfg    Config
	limits *limits.Overrides
	bucket objstore.Bucket
	lc     Lifecycler
	logger *slog.Logger
	m      *metrics
	// inst counts what the instance limits bound.
	inst *instanceState
	// hashBudget bounds the series hash caches of all tenants' blocks.
	hashBudget *serieshash.Budget

	mu        sync.RWMutex
	tenants   map[string]*tenantDB // guarded by mu
	accepting bool                 // guarded by mu: between the WAL replay and stopping
	// reopening is set while reopenBroken has stopped the requests.
	reopening bool // guarded by mu
	// unopened are the tenants whose TSDB reopenBroken closed and could
	// not open again yet, with the error: their requests fail until it
	// can. Guarded by mu.
	unopened map[string]error
	// diskFull is whether the last push found too little free space.
	diskFull atomic.Bool
	// inflight counts pushes and open queriers; stopping waits for them
	// before it closes the TSDBs. Add only under mu.RLock with accepting.
	inflight sync.WaitGroup
}

// New returns an ingester that keeps its tenants' TSDBs under cfg.Dir. It
// has no side effects: the service's start opens the TSDBs. bucket may be
// nil to keep blocks local only (tests); lc may be nil (no ring); reg and
// logger may be nil.
func New(cfg Config, lim *limits.Overrides, bucket objstore.Bucket, lc Lifecycler, reg prometheus.Registerer, logger *slog.Logger) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, errors.New("the ingester needs a directory")
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID, _ = os.Hostname()
		if cfg.InstanceID == "" {
			cfg.InstanceID = "ingester"
		}
	}
	i := &Ingester{
		cfg:        cfg,
		limits:     lim,
		bucket:     bucket,
		lc:         lc,
		logger:     logutil.OrNop(logger),
		tenants:    map[string]*tenantDB{},
		unopened:   map[string]error{},
		hashBudget: serieshash.NewBudget(cfg.SeriesHashCacheMaxBytes),
	}
	i.m = newMetrics(reg, i)
	i.inst = newInstanceState(cfg.InstanceLimits, reg)
	i.Service = services.NewBasicService(i.starting, i.running, i.stopping)
	return i, nil
}

// starting reopens (and replays the WAL of) every tenant found under
// cfg.Dir, then takes writes and turns ACTIVE in the ring.
func (i *Ingester) starting(ctx context.Context) error {
	if err := os.MkdirAll(i.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("cannot create ingester directory: %w", err)
	}
	entries, err := os.ReadDir(i.cfg.Dir)
	if err != nil {
		return fmt.Errorf("cannot list ingester directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || tenant.Validate(e.Name()) != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			i.closeAll()
			return err
		}
		start := time.Now()
		t, err := openTenant(i, e.Name())
		if err != nil && isDiskFull(err) {
			// Replaying a WAL that a full disk left torn writes its repair:
			// the tenant waits for room (reopenBroken), the others serve.
			i.logger.Error("cannot open the TSDB of a tenant for lack of disk space: its requests fail until space is freed, then it opens by itself", "tenant", e.Name(), "err", err)
			i.mu.Lock()
			i.unopened[e.Name()] = err
			i.mu.Unlock()
			continue
		}
		if err != nil {
			i.closeAll()
			return err
		}
		i.mu.Lock()
		i.tenants[t.id] = t
		i.mu.Unlock()
		i.logger.Info("reopened tenant TSDB", "tenant", e.Name(), "duration", time.Since(start))
	}
	i.mu.Lock()
	i.accepting = true
	i.mu.Unlock()
	if i.lc != nil {
		if err := i.lc.Activate(ctx); err != nil {
			i.stopAccepting()
			i.closeAll()
			return err
		}
	}
	return nil
}

// running ships the blocks the TSDBs cut, and applies changed limits to
// the open TSDBs, until the service stops. Each
// TSDB cuts its head itself, every head-compaction-interval (its block
// reload interval) and when an append makes the head long enough; a second
// caller of Compact would only race with it.
func (i *Ingester) running(ctx context.Context) error {
	ship := time.NewTicker(i.cfg.ShipInterval)
	defer ship.Stop()
	lim := time.NewTicker(limitsCheckInterval(i.cfg))
	defer lim.Stop()
	prune := time.NewTicker(metadataPruneInterval)
	defer prune.Stop()
	reopen := time.NewTicker(reopenInterval)
	defer reopen.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ship.C:
			i.pruneHashes()
			i.shipAll(ctx)
		case <-lim.C:
			i.applyLimits()
		case <-prune.C:
			i.pruneMetadata()
		case <-reopen.C:
			i.reopenBroken()
		}
	}
}

// metadataPruneInterval is how often the ingester forgets the metadata of
// families that were not pushed for its retention (metadataStore.prune).
const metadataPruneInterval = 10 * time.Minute

// pruneMetadata forgets, for every tenant, the metadata of the families
// not pushed for the ingester's retention (at least an hour): by then the
// TSDB no longer holds their series, and the blocks in the bucket carry
// their metadata.
func (i *Ingester) pruneMetadata() {
	ttl := max(i.cfg.Retention, time.Hour)
	for _, t := range i.snapshot() {
		n, err := t.meta.prune(time.Now().Add(-ttl))
		if err != nil {
			i.logger.Warn("cannot rewrite the metadata log", "tenant", t.id, "err", err)
		} else if n > 0 {
			i.logger.Info("forgot the metadata of families not pushed for a while", "tenant", t.id, "families", n, "after", ttl)
		}
	}
}

// stopping turns LEAVING in the ring so that distributors stop choosing
// this ingester, refuses new requests and waits for those in flight, then
// flushes (if configured) and closes every TSDB.
func (i *Ingester) stopping(_ error) error {
	var errs []error
	if i.lc != nil {
		if err := i.lc.Leave(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	i.stopAccepting()
	if i.cfg.FlushOnShutdown {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := i.Flush(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	errs = append(errs, i.closeAll())
	return errors.Join(errs...)
}

// stopAccepting refuses new requests and waits for those in flight.
func (i *Ingester) stopAccepting() {
	i.mu.Lock()
	i.accepting = false
	i.mu.Unlock()
	i.inflight.Wait()
}

// closeAll closes every TSDB; nothing may be in flight.
func (i *Ingester) closeAll() error {
	i.mu.Lock()
	tenants := i.tenants
	i.tenants = map[string]*tenantDB{}
	i.mu.Unlock()
	var errs []error
	for _, t := range tenants {
		t.hashes.prune(nil)
		if err := t.close(); err != nil {
			errs = append(errs, fmt.Errorf("cannot close TSDB of tenant %s: %w", t.id, err))
		}
	}
	return errors.Join(errs...)
}

var (
	errNotAccepting = wire.Errorf(wire.KindUnavailable, "", "ingester is not running (starting or shutting down)")
	errReopening    = wire.Errorf(wire.KindUnavailable, "", "ingester is reopening the TSDB of tenants whose WAL failed to write; retry")
)

// acquire counts a request in flight, or fails when the ingester is not
// taking requests; release with i.inflight.Done.
func (i *Ingester) acquire() error {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.reopening {
		return errReopening
	}
	if !i.accepting {
		return errNotAccepting
	}
	i.inflight.Add(1)
	return nil
}

// getOrOpen returns the TSDB of tenant, opening it on first use.
func (i *Ingester) getOrOpen(id string) (*tenantDB, error) {
	i.mu.RLock()
	t, ok := i.tenants[id]
	i.mu.RUnlock()
	if ok {
		return t, nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if t, ok := i.tenants[id]; ok {
		return t, nil
	}
	if !i.accepting {
		return nil, errNotAccepting
	}
	if err, ok := i.unopened[id]; ok {
		return nil, i.brokenError(id, err)
	}
	if err := i.admitTenantLocked(id); err != nil {
		return nil, err
	}
	t, err := openTenant(i, id)
	if err != nil {
		if isDiskFull(err) {
			return nil, i.diskFullError(id, err)
		}
		return nil, err
	}
	i.tenants[id] = t
	return t, nil
}

// get returns the TSDB of tenant, or nil when it has none.
func (i *Ingester) get(id string) *tenantDB {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.tenants[id]
}

// Push appends req to the tenant's TSDB in one transaction. Samples that the
// TSDB refuses (out of order, out of bounds, a different value for an
// existing timestamp) are skipped and reported as one bad-data error after
// the rest is committed, as Prometheus' own receiver does; equal duplicates
// are accepted silently, so a retried request stores nothing twice.
func (i *Ingester) Push(ctx context.Context, id string, req *wire.PushRequest) (wire.PushResult, error) {
	var res wire.PushResult
	done, err := i.startPush()
	if err != nil {
		return res, err
	}
	defer done()
	if err := i.acquire(); err != nil {
		return res, err
	}
	defer i.inflight.Done()
	refuse := func(reason string, err error) (wire.PushResult, error) {
		i.m.refusedPushes.WithLabelValues(reason).Inc()
		n, h, _ := req.Counts()
		i.m.discarded.WithLabelValues(id, reason).Add(float64(n + h))
		return wire.PushResult{}, err
	}
	if err := i.checkFreeSpace(id); err != nil {
		return refuse(reasonDiskFull, err)
	}
	if i.diskFull.Load() {
		i.setDiskFull(false)
	}
	t, err := i.getOrOpen(id)
	if err != nil {
		if we := (*wire.Error)(nil); errors.As(err, &we) && we.ID == errDiskFull {
			return refuse(reasonDiskFull, err)
		}
		return res, err
	}
	if err := t.brokenErr(); err != nil {
		return refuse(reasonOfWAL(err), i.brokenError(id, err))
	}
	lim := i.limits.For(id)
	app := t.db.AppenderV2(ctx)
	getRef := app.(storage.GetRef)

	var (
		firstErr    error
		errCount    int
		newSeries   int
		numSeries   = int(t.db.Head().NumSeries())
		exemplarBuf []exemplar.Exemplar
	)
	fail := func(reason string, n int, err error) {
		i.m.discarded.WithLabelValues(id, reason).Add(float64(n))
		errCount += n
		if firstErr == nil {
			firstErr = err
		}
	}
	for si := range req.Series {
		s := &req.Series[si]
		var ref storage.SeriesRef
		if lim.MaxSeriesPerTenant > 0 || lim.MaxSeriesPerMetric > 0 {
			ref, _ = getRef.GetRef(s.Labels, s.Labels.Hash())
			if ref == 0 {
				if err := t.admitSeries(lim, s.Labels, numSeries+newSeries); err != nil {
					fail(reasonOf(err), len(s.Samples)+len(s.Histograms), err)
					continue
				}
				newSeries++
			}
		}
		exemplarBuf = exemplarBuf[:0]
		for _, e := range s.Exemplars {
			exemplarBuf = append(exemplarBuf, exemplar.Exemplar{Labels: e.Labels, Value: e.V, Ts: e.T, HasTs: true})
		}
		opts := storage.AOptions{}
		for _, smp := range s.Samples {
			if len(exemplarBuf) > 0 && smp.T >= exemplarBuf[0].Ts {
				opts.Exemplars = exemplarBuf
			}
			r, err := app.Append(ref, s.Labels, smp.ST, smp.T, smp.V, nil, nil, opts)
			if err != nil && !isPartial(err) {
				fail(reasonOf(err), 1, sampleError(err, s.Labels, smp.T))
				continue
			}
			if opts.Exemplars != nil {
				res.Exemplars += len(opts.Exemplars)
				exemplarBuf, opts.Exemplars = exemplarBuf[:0], nil
			}
			ref = r
			res.Samples++
		}
		for _, h := range s.Histograms {
			r, err := app.Append(ref, s.Labels, h.ST, h.T, 0, h.H, h.FH, opts)
			if err != nil && !isPartial(err) {
				fail(reasonOf(err), 1, sampleError(err, s.Labels, h.T))
				continue
			}
			ref = r
			res.Histograms++
		}
		if ref != 0 && len(exemplarBuf) > 0 {
			// Exemplars older than every sample of this push still belong
			// to the series; the TSDB drops the ones it already has.
			if ea, ok := app.(storage.ExemplarAppenderV2); ok {
				if _, err := ea.AppendExemplars(ref, s.Labels, exemplarBuf); err == nil || isPartial(err) {
					res.Exemplars += len(exemplarBuf)
				}
			}
		}
	}
	if err := app.Commit(); err != nil {
		// The TSDB rolled the samples back; its WAL may hold a torn
		// record now (diskfull.go).
		t.markBroken(err)
		return refuse(reasonOfWAL(err), i.brokenError(id, fmt.Errorf("cannot commit the samples: %w", err)))
	}
	if err := t.broken(); err != nil {
		// The commit wrote its records after another push's failed
		// write: they may sit behind a torn record.
		return refuse(reasonOfWAL(err), i.brokenError(id, err))
	}
	if len(req.Metadata) > 0 {
		if err := t.meta.set(req.Metadata); err != nil {
			i.logger.Warn("cannot persist metric metadata: it is served but would not survive a restart", "tenant", id, "err", err)
		}
	}
	if t.syncer != nil {
		// The commit wrote the records; acknowledge once they are on disk.
		// A failure leaves the samples in the head, and a retry of the
		// push stores nothing twice.
		if err := t.syncer.wait(ctx); err != nil {
			if ctx.Err() != nil {
				return wire.PushResult{}, wire.Errorf(wire.KindInternal, "", "cannot make the samples of tenant %s durable: %v", id, err)
			}
			i.logger.Error("cannot sync the WAL before acknowledging a push", "tenant", id, "err", err)
			t.markBroken(err)
			return refuse(reasonOfWAL(err), i.brokenError(id, fmt.Errorf("cannot make the samples durable: %w", err)))
		}
	}
	i.m.appended.WithLabelValues(id, "float").Add(float64(res.Samples))
	i.m.appended.WithLabelValues(id, "histogram").Add(float64(res.Histograms))
	i.m.exemplars.WithLabelValues(id).Add(float64(res.Exemplars))
	if firstErr != nil {
		if errCount > 1 {
			return res, fmt.Errorf("%w (and %d more samples were rejected)", firstErr, errCount-1)
		}
		return res, firstErr
	}
	return res, nil
}

// Reasons of refused pushes that are the disk's fault, not the data's.
const (
	reasonDiskFull  = "disk_full"
	reasonWALFailed = "wal_write_failed"
)

func reasonOfWAL(err error) string {
	if isDiskFull(err) {
		return reasonDiskFull
	}
	return reasonWALFailed
}

func isPartial(err error) bool {
	var pe *storage.AppendPartialError
	return errors.As(err, &pe)
}

// sampleError classifies a TSDB append error: every refusal of the TSDB is
// a property of the data, so the client must not retry it.
func sampleError(err error, ls labels.Labels, t int64) error {
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return wire.Errorf(wire.KindBadData, "err-weft-sample-out-of-order", "out-of-order sample at %s for series %s: the series has a newer sample (raise out_of_order_time_window to accept it)", formatTS(t), ls)
	case errors.Is(err, storage.ErrOutOfBounds), errors.Is(err, storage.ErrTooOldSample):
		return wire.Errorf(wire.KindBadData, "err-weft-sample-too-old", "sample at %s for series %s is older than the head accepts (raise out_of_order_time_window to accept it)", formatTS(t), ls)
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return wire.Errorf(wire.KindBadData, "err-weft-sample-duplicate-timestamp", "sample at %s for series %s has a different value than the sample already stored for that timestamp", formatTS(t), ls)
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return err
	}
	return wire.Errorf(wire.KindBadData, "err-weft-invalid-sample", "cannot append sample at %s for series %s: %v", formatTS(t), ls, err)
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return "sample_out_of_order"
	case errors.Is(err, storage.ErrOutOfBounds), errors.Is(err, storage.ErrTooOldSample):
		return "sample_too_old"
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return "sample_duplicate_timestamp"
	}
	var we *wire.Error
	if errors.As(err, &we) {
		switch we.ID {
		case errMaxSeriesPerTenant:
			return "per_tenant_series_limit"
		case errMaxSeriesPerMetric:
			return "per_metric_series_limit"
		case errIDInstanceMaxSeries:
			return "instance_series_limit"
		}
	}
	return "invalid_sample"
}

func formatTS(t int64) string {
	return time.UnixMilli(t).UTC().Format(time.RFC3339Nano)
}

// limitsCheckInterval is how often the loop compares each tenant's limits
// with those in force in its TSDB: as often as the runtime file is reloaded
// by default, or each head compaction when that is more frequent.
func limitsCheckInterval(cfg Config) time.Duration {
	return min(cfg.HeadCompactPeriod, 10*time.Second)
}

// applyLimits applies each open tenant's current out-of-order window and
// exemplar storage size to its TSDB: the TSDB enforces these itself, from
// the options it was opened with, so a runtime-file change would otherwise
// wait for a restart.
func (i *Ingester) applyLimits() {
	for _, t := range i.snapshot() {
		want := tsdbLimitsOf(i.limits.For(t.id))
		changed, err := t.applyLimits(want)
		if err != nil {
			i.logger.Warn("cannot apply changed limits, will retry", "tenant", t.id, "err", err)
		} else if changed {
			i.logger.Info("applied changed limits to tenant TSDB", "tenant", t.id,
				"out_of_order_time_window", time.Duration(want.oooWindow)*time.Millisecond, "max_exemplars_per_tenant", want.maxExemplars)
		}
	}
}

func (i *Ingester) snapshot() []*tenantDB {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]*tenantDB, 0, len(i.tenants))
	for _, t := range i.tenants {
		out = append(out, t)
	}
	return out
}

// pruneHashes releases the series hash caches of the blocks the tenants'
// TSDBs deleted (past retention).
func (i *Ingester) pruneHashes() {
	for _, t := range i.snapshot() {
		t.hashes.prune(t.db.Blocks())
	}
}

// shipAll uploads every unshipped block of every tenant.
func (i *Ingester) shipAll(ctx context.Context) {
	if i.bucket == nil {
		return
	}
	sem := make(chan struct{}, i.cfg.ShipConcurrency)
	var wg sync.WaitGroup
	for _, t := range i.snapshot() {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := t.ship(ctx); err != nil {
				i.logger.Warn("cannot ship blocks, will retry", "tenant", t.id, "err", err)
			}
		}()
	}
	wg.Wait()
}

// Flush cuts every tenant's whole head into blocks and ships them. It is
// for shutdown: the TSDBs' automatic compactions stay stopped after it.
func (i *Ingester) Flush(ctx context.Context) error {
	var errs []error
	for _, t := range i.snapshot() {
		if err := t.flushHead(); err != nil {
			errs = append(errs, fmt.Errorf("cannot flush head of tenant %s: %w", t.id, err))
		}
	}
	if i.bucket != nil {
		for _, t := range i.snapshot() {
			if err := t.ship(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// TenantDir returns the directory of a tenant's TSDB.
func (i *Ingester) TenantDir(id string) string { return filepath.Join(i.cfg.Dir, id) }

// newCounterVec is promauto with a nil-safe registerer.
func newCounterVec(reg prometheus.Registerer, name, help string, lbls ...string) *prometheus.CounterVec {
	return promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, lbls)
}
