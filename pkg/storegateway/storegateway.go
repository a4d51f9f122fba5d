package storegateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/serieshash"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// errClosed answers a query that arrives once the store-gateway is closed.
var errClosed = wire.Errorf(wire.KindUnavailable, "", "store-gateway is shutting down")

// StoreGateway serves the blocks of the bucket to queriers. It implements
// wire.Reader and wire.ChunkReader: a wire.StoreServer. It is safe for
// concurrent use.
type StoreGateway struct {
	services.Service

	cfg       Config
	bkt       objstore.Bucket
	shard     func(tenant string, id ulid.ULID) bool // nil: every block
	lc        Lifecycler
	logger    *slog.Logger
	m         *metrics
	hashes    *serieshash.Budget // of the series hashes of all loaded blocks
	finder    *Finder
	now       func() time.Time
	loads     chan struct{} // a slot per concurrent block load
	meta      metadataCache
	exemplars exemplarCache

	ctx    context.Context // cancelled by stopping: ends the loads
	cancel context.CancelFunc
	wg     sync.WaitGroup // the loop and the load goroutines

	mu     sync.Mutex
	blocks map[blockKey]*blockEntry // guarded by mu
	loaded int                      // entries with an open block, guarded by mu
	bytes  int64                    // their bytes, guarded by mu
	seq    uint64                   // names temporary directories, guarded by mu
	closed bool                     // guarded by mu
	// corrupt are the blocks whose last load found them corrupt, and
	// when: queries fail on them at once for corruptRetryInterval, rather
	// than read their index header from the bucket again. Guarded by mu.
	corrupt map[blockKey]corruptLoad
}

// corruptRetryInterval is how long a block found corrupt when loading is
// not loaded again: a dashboard over it costs one load (and one log line)
// a minute, and a repaired block is served a minute later at most.
const corruptRetryInterval = time.Minute

type corruptLoad struct {
	err error
	at  time.Time
}

// Lifecycler announces the store-gateway in its ring: Activate once it
// serves, Leave when it stops. The app passes the ring's lifecycler
// (pkg/ring); nil means there is no ring (all-in-one).
type Lifecycler interface {
	Activate(ctx context.Context) error
	Leave(ctx context.Context) error
}

type blockKey struct {
	tenant string
	id     ulid.ULID
}

// blockEntry is a block that is loaded or being loaded. Queries hold a
// reference (refs) for as long as their querier is open; only a block
// without references is unloaded.
type blockEntry struct {
	key   blockKey
	ready chan struct{} // closed when the load ended; block or err is set then
	block *remoteBlock
	err   error
	size  int64

	refs     int       // guarded by StoreGateway.mu
	lastUsed time.Time // guarded by StoreGateway.mu
	gone     bool      // gone from the index or no longer owned; guarded by StoreGateway.mu
	unloaded bool      // removed from StoreGateway.blocks; guarded by StoreGateway.mu
}

// New returns a store-gateway serving the blocks of bkt that owns accepts
// (see BlockToken and RingShardFilter; nil owns every block: a block not
// owned is never loaded nor queried here), with nothing loaded yet: blocks
// are loaded when a query first needs them. It has no side effects: the
// service's start cleans what a previous run left in cfg.Dir and
// activates lc (nil: no ring); running re-reads the block lists and
// unloads blocks that are gone, no longer owned or idle; stopping leaves
// the ring, aborts the loads and unloads every block.
func New(cfg Config, bkt objstore.Bucket, owns func(tenant string, id ulid.ULID) bool, lc Lifecycler, reg prometheus.Registerer, logger *slog.Logger) (*StoreGateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if bkt == nil {
		return nil, errors.New("store-gateway: no bucket")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &StoreGateway{
		cfg:       cfg,
		bkt:       bkt,
		shard:     owns,
		lc:        lc,
		logger:    logutil.OrNop(logger),
		m:         newMetrics(reg),
		hashes:    serieshash.NewBudget(cfg.SeriesHashCacheMaxBytes),
		finder:    NewFinder(bkt, cfg.SyncInterval, cfg.IgnoreDeletionMarksDelay),
		now:       time.Now,
		loads:     make(chan struct{}, cfg.MaxConcurrentLoads),
		ctx:       ctx,
		cancel:    cancel,
		blocks:    map[blockKey]*blockEntry{},
		corrupt:   map[blockKey]corruptLoad{},
		meta:      metadataCache{byBlock: map[blockKey][]bucketindex.MetricMetadata{}},
		exemplars: exemplarCache{max: maxCachedExemplars, byBlock: map[blockKey]*cachedExemplars{}},
	}
	s.Service = services.NewBasicService(s.starting, s.running, s.stopping)
	return s, nil
}

func (s *StoreGateway) starting(ctx context.Context) error {
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("cannot create store-gateway directory: %w", err)
	}
	if err := cleanDir(s.cfg.Dir); err != nil {
		return err
	}
	if s.lc != nil {
		return s.lc.Activate(ctx)
	}
	return nil
}

// cleanDir removes the block directories (and partial loads) of a
// previous run: entries of <dir>/<tenant>/ whose name starts with a ULID.
// Nothing else is touched, in case dir was set to a shared directory.
func cleanDir(dir string) error {
	tenants, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cannot list store-gateway directory: %w", err)
	}
	for _, t := range tenants {
		if !t.IsDir() || tenant.Validate(t.Name()) != nil {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(dir, t.Name()))
		if err != nil {
			return fmt.Errorf("cannot list store-gateway directory: %w", err)
		}
		for _, e := range entries {
			if len(e.Name()) < ulid.EncodedSize {
				continue
			}
			if _, err := ulid.ParseStrict(e.Name()[:ulid.EncodedSize]); err != nil {
				continue
			}
			if err := os.RemoveAll(filepath.Join(dir, t.Name(), e.Name())); err != nil {
				return fmt.Errorf("cannot remove a stale block directory: %w", err)
			}
		}
	}
	return nil
}

// Finder returns the finder the store-gateway discovers blocks with.
func (s *StoreGateway) Finder() *Finder { return s.finder }

// BlocksFor returns the blocks a query of [mint, maxt] of the tenant must
// cover, whichever store-gateway owns them: the blocks of the tenant's
// index overlapping the range, minus those marked for deletion longer ago
// than -store-gateway.ignore-deletion-marks-delay.
func (s *StoreGateway) BlocksFor(ctx context.Context, tenant string, mint, maxt int64) ([]bucketindex.Block, error) {
	return s.finder.BlocksFor(ctx, tenant, mint, maxt)
}

// running re-reads the block lists and unloads blocks that are gone, no
// longer owned or idle, until the service stops. Queries are served by
// the callers' goroutines, not here.
func (s *StoreGateway) running(ctx context.Context) error {
	syncT := time.NewTicker(s.cfg.SyncInterval)
	defer syncT.Stop()
	idleT := time.NewTicker(max(min(s.cfg.IdleTimeout/2, s.cfg.SyncInterval), 10*time.Millisecond))
	defer idleT.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-syncT.C:
			s.sync(ctx)
		case <-idleT.C:
			s.unloadIdle()
		}
	}
}

// sync re-reads the block list of every tenant that was queried lately
// or has blocks loaded, and unloads the loaded blocks that are gone from
// it or no longer owned. A tenant whose list cannot be read keeps its
// blocks.
func (s *StoreGateway) sync(ctx context.Context) {
	tenants := map[string]bool{}
	for _, t := range s.finder.known(max(s.cfg.IdleTimeout, s.cfg.SyncInterval)) {
		tenants[t] = true
	}
	s.mu.Lock()
	for k := range s.blocks {
		tenants[k.tenant] = true
	}
	s.mu.Unlock()
	for t := range tenants {
		s.m.tenantsRefresh.Inc()
		live, err := s.finder.live(ctx, t)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.m.syncFailures.Inc()
			s.logger.Warn("cannot re-read the blocks of a tenant", "tenant", t, "err", err)
			continue
		}
		var toClose []func() error
		s.mu.Lock()
		for k, e := range s.blocks {
			if k.tenant != t || (live[k.id] && s.owns(k.tenant, k.id)) {
				continue
			}
			e.gone = true
			if e.refs == 0 && e.block != nil {
				toClose = append(toClose, s.unloadLocked(e, reasonGone))
			}
		}
		s.mu.Unlock()
		_ = s.runAll(toClose)
	}
}

// unloadIdle unloads the blocks that no query used for the idle timeout.
func (s *StoreGateway) unloadIdle() {
	now := s.now()
	var toClose []func() error
	s.mu.Lock()
	for _, e := range s.blocks {
		if e.refs == 0 && e.block != nil && now.Sub(e.lastUsed) > s.cfg.IdleTimeout {
			toClose = append(toClose, s.unloadLocked(e, reasonIdle))
		}
	}
	s.mu.Unlock()
	_ = s.runAll(toClose)
}

// runAll runs the unload functions; errors are logged unless the caller
// keeps them (Close).
func (s *StoreGateway) runAll(fs []func() error) error {
	var errs []error
	for _, f := range fs {
		if err := f(); err != nil {
			s.logger.Warn("cannot unload block", "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *StoreGateway) owns(tenant string, id ulid.ULID) bool {
	return s.shard == nil || s.shard(tenant, id)
}

func (s *StoreGateway) blockDir(k blockKey) string {
	return filepath.Join(s.cfg.Dir, k.tenant, k.id.String())
}

// unloadLocked forgets a loaded block without references and returns the
// function that closes it and deletes its files, to be run without mu.
// The directory is renamed away first so that a new load of the same
// block never meets the old files.
func (s *StoreGateway) unloadLocked(e *blockEntry, reason string) func() error {
	delete(s.blocks, e.key)
	e.unloaded = true
	s.loaded--
	s.bytes -= e.size
	s.m.blocksLoaded.Set(float64(s.loaded))
	s.m.bytesLoaded.Set(float64(s.bytes))
	s.m.unloads.WithLabelValues(reason).Inc()
	dir := s.blockDir(e.key)
	s.seq++
	trash := fmt.Sprintf("%s.unloading-%d", dir, s.seq)
	if err := os.Rename(dir, trash); err != nil {
		s.logger.Warn("cannot move an unloaded block away", "dir", dir, "err", err)
		trash = dir
	}
	return func() error {
		var errs []error
		if err := e.block.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cannot close block %s of tenant %s: %w", e.key.id, e.key.tenant, err))
		}
		if err := os.RemoveAll(trash); err != nil {
			errs = append(errs, fmt.Errorf("cannot remove unloaded block %s of tenant %s: %w", e.key.id, e.key.tenant, err))
		}
		s.logger.Debug("unloaded block", "tenant", e.key.tenant, "block", e.key.id.String(), "reason", reason)
		return errors.Join(errs...)
	}
}

// evictLocked unloads the least recently used blocks without references
// while the cache is over its bounds.
func (s *StoreGateway) evictLocked() []func() error {
	var toClose []func() error
	for (s.cfg.MaxLoadedBlocks > 0 && s.loaded > s.cfg.MaxLoadedBlocks) || (s.cfg.MaxLoadedBytes > 0 && s.bytes > s.cfg.MaxLoadedBytes) {
		var victim *blockEntry
		for _, e := range s.blocks {
			if e.refs == 0 && e.block != nil && (victim == nil || e.lastUsed.Before(victim.lastUsed)) {
				victim = e
			}
		}
		if victim == nil {
			break
		}
		toClose = append(toClose, s.unloadLocked(victim, reasonEvicted))
	}
	return toClose
}

// acquire returns the entry of a block with a reference taken, starting
// its load when it is not loaded. The caller waits for it (wait) and
// releases it.
func (s *StoreGateway) acquire(k blockKey) (*blockEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if e, ok := s.blocks[k]; ok {
		e.refs++
		s.m.cacheHits.Inc()
		return e, nil
	}
	if c, ok := s.corrupt[k]; ok {
		if s.now().Sub(c.at) < corruptRetryInterval {
			return nil, c.err
		}
		delete(s.corrupt, k)
	}
	s.m.cacheMisses.Inc()
	e := &blockEntry{key: k, ready: make(chan struct{}), refs: 1}
	s.blocks[k] = e
	s.wg.Add(1)
	go s.load(e)
	return e, nil
}

// wait waits until e is loaded or ctx is done.
func (s *StoreGateway) wait(ctx context.Context, e *blockEntry) error {
	select {
	case <-e.ready:
		return e.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release drops a reference to e; a block that is gone from the index is
// unloaded with its last reference, and the cache is brought back within
// its bounds.
func (s *StoreGateway) release(e *blockEntry) {
	var toClose []func() error
	s.mu.Lock()
	e.refs--
	e.lastUsed = s.now()
	if e.refs == 0 && e.block != nil && !e.unloaded {
		if e.gone || s.closed {
			toClose = append(toClose, s.unloadLocked(e, reasonGone))
		} else {
			toClose = s.evictLocked()
		}
	}
	s.mu.Unlock()
	_ = s.runAll(toClose)
}

// load loads a block (openRemoteBlock), in its own goroutine so that a query
// that gives up does not abort a load that others wait for; Close aborts
// it.
func (s *StoreGateway) load(e *blockEntry) {
	defer s.wg.Done()
	var (
		block *remoteBlock
		err   error
	)
	select {
	case s.loads <- struct{}{}:
		start := time.Now()
		block, err = s.openBlock(e.key)
		<-s.loads
		s.m.loads.Inc()
		s.m.loadDuration.Observe(time.Since(start).Seconds())
		if err == nil {
			s.logger.Debug("loaded block", "tenant", e.key.tenant, "block", e.key.id.String(), "header_bytes", block.localBytes(), "duration", time.Since(start))
		}
	case <-s.ctx.Done():
		err = errClosed
	}
	var toClose []func() error
	s.mu.Lock()
	if err == nil && s.closed {
		_ = block.Close()
		_ = os.RemoveAll(s.blockDir(e.key))
		err = errClosed
	}
	if err != nil {
		_ = os.RemoveAll(s.blockDir(e.key))
		var corrupt *corruptError
		switch {
		case errors.Is(err, errClosed):
		case errors.As(err, &corrupt):
			// Logged and counted as a corruption; queries fail at once
			// for corruptRetryInterval, then the next one loads it again,
			// in case it was repaired in the meantime.
			s.m.loadFailures.Inc()
			err = reportCorrupt(s.m, s.logger, e.key.tenant, e.key.id, "load", fmt.Errorf("cannot load block %s of tenant %s: %w", e.key.id, e.key.tenant, err))
		default:
			s.m.loadFailures.Inc()
			s.logger.Warn("cannot load block", "tenant", e.key.tenant, "block", e.key.id.String(), "err", err)
			err = wire.Errorf(wire.KindUnavailable, "", "cannot load block %s of tenant %s: %v", e.key.id, e.key.tenant, err)
		}
		if corrupt != nil {
			s.corrupt[e.key] = corruptLoad{err: err, at: s.now()}
		}
		e.err = err
		e.unloaded = true
		if s.blocks[e.key] == e {
			delete(s.blocks, e.key)
		}
	} else {
		e.block, e.size = block, block.localBytes()
		e.lastUsed = s.now()
		s.loaded++
		s.bytes += e.size
		s.m.blocksLoaded.Set(float64(s.loaded))
		s.m.bytesLoaded.Set(float64(s.bytes))
		toClose = s.evictLocked()
	}
	s.mu.Unlock()
	close(e.ready)
	_ = s.runAll(toClose)
}

// openBlock loads a block; a panic on bytes of the block that no check
// caught fails this block, not the process (the load runs in its own
// goroutine, where nothing else would recover it).
func (s *StoreGateway) openBlock(k blockKey) (b *remoteBlock, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, corruptf(sectionHeader, "panic while loading the block: %v", r)
		}
	}()
	b, err = openRemoteBlock(s.ctx, s.bkt, s.m, s.hashes, k.tenant, k.id, s.blockDir(k))
	if err == nil {
		b.logger = s.logger
	}
	return b, err
}

// Loaded returns the blocks of the tenant that are loaded now.
func (s *StoreGateway) Loaded(tenant string) []ulid.ULID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ulid.ULID
	for k, e := range s.blocks {
		if k.tenant == tenant && e.block != nil {
			out = append(out, k.id)
		}
	}
	return out
}

// stopping leaves the ring, aborts loads in progress and unloads every
// block. Queriers still open must be closed first (closing a block waits
// for its readers): the app stops the querier before the store-gateway.
func (s *StoreGateway) stopping(_ error) error {
	var errs []error
	if s.lc != nil {
		errs = append(errs, s.lc.Leave(context.Background()))
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	var toClose []func() error
	s.mu.Lock()
	for _, e := range s.blocks {
		if e.block != nil {
			toClose = append(toClose, s.unloadLocked(e, reasonClosed))
		}
	}
	s.mu.Unlock()
	errs = append(errs, s.runAll(toClose))
	return errors.Join(errs...)
}
