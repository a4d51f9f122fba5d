package compactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/tenant"
)

// Option changes a Compactor built by New.
type Option func(*Compactor)

// WithClock replaces time.Now (tests move time forward with it). The clock
// decides retention, deletion delays and the consistency delay.
func WithClock(now func() time.Time) Option { return func(c *Compactor) { c.now = now } }

// WithTenantFilter makes the compactor handle only the tenants owns
// accepts (the app passes a ring lookup when several compactors share a
// bucket). An error skips the tenant for this run.
func WithTenantFilter(owns func(tenant string) (bool, error)) Option {
	return func(c *Compactor) { c.owns = owns }
}

// Compactor compacts, expires and deletes the blocks of every tenant of a
// bucket, and maintains their bucket indexes. Only one Compactor may work
// on a tenant at a time (one compactor process, or a tenant filter that
// shards tenants over several).
type Compactor struct {
	services.Service

	cfg    Config
	lc     Lifecycler
	bkt    objstore.Bucket
	limits *limits.Overrides
	logger *slog.Logger
	m      *metrics
	now    func() time.Time
	owns   func(string) (bool, error)
	pool   chunkenc.Pool

	runMu sync.Mutex // one run at a time

	tenantMu    sync.Mutex
	tenantLocks map[string]*sync.Mutex // guarded by tenantMu

	metaMu    sync.Mutex
	metaCache map[string]*blockMeta // "<tenant>/<ULID>" → meta; guarded by metaMu

	// abandoned are, by tenant, the blocks this compactor made whose
	// upload failed (a bucket outage): objects without meta.json that no
	// reader uses and no one else would delete. processTenant deletes
	// them once the bucket answers again. A restart forgets them.
	abandonMu sync.Mutex
	abandoned map[string]map[ulid.ULID]struct{} // guarded by abandonMu
}

// Lifecycler announces the compactor in the compactor ring: Activate once
// it works, Leave when it stops. The app passes the ring's lifecycler
// (pkg/ring); nil means there is no ring (one compactor owns every tenant).
type Lifecycler interface {
	Activate(ctx context.Context) error
	Leave(ctx context.Context) error
}

// New returns a compactor over bkt. It has no side effects: as a service,
// its start cleans the work directory and activates lc (nil: no ring), and
// it then runs (Run) until stopped; tests call RunOnce instead. lim may be
// nil (no retention); reg and logger may be nil.
func New(cfg Config, bkt objstore.Bucket, lim *limits.Overrides, lc Lifecycler, reg prometheus.Registerer, logger *slog.Logger, opts ...Option) (*Compactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DataDir == "" {
		return nil, errors.New("compactor.data-dir must be set")
	}
	if bkt == nil {
		return nil, errors.New("the compactor needs a bucket")
	}
	c := &Compactor{
		cfg:         cfg,
		lc:          lc,
		bkt:         bkt,
		limits:      lim,
		logger:      logutil.OrNop(logger),
		m:           newMetrics(reg),
		now:         time.Now,
		pool:        chunkenc.NewPool(),
		tenantLocks: map[string]*sync.Mutex{},
		metaCache:   map[string]*blockMeta{},
		abandoned:   map[string]map[ulid.ULID]struct{}{},
	}
	for _, o := range opts {
		o(c)
	}
	c.Service = services.NewBasicService(c.starting, c.running, c.stopping)
	return c, nil
}

// prepare cleans the work directory: everything there is scratch.
func (c *Compactor) prepare() error {
	if err := os.RemoveAll(c.cfg.DataDir); err != nil {
		return fmt.Errorf("cannot clean the compactor directory: %w", err)
	}
	if err := os.MkdirAll(c.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("cannot create the compactor directory: %w", err)
	}
	return nil
}

func (c *Compactor) starting(ctx context.Context) error {
	if err := c.prepare(); err != nil {
		return err
	}
	if c.lc != nil {
		return c.lc.Activate(ctx)
	}
	return nil
}

func (c *Compactor) running(ctx context.Context) error {
	c.Run(ctx)
	return nil
}

// stopping runs once Run returned (a run in progress is interrupted):
// only then does the compactor leave the ring, so that no other compactor
// takes its tenants while it still works on them.
func (c *Compactor) stopping(_ error) error {
	if c.lc != nil {
		return c.lc.Leave(context.Background())
	}
	return nil
}

// Run compacts every tenant now and every CompactionInterval, and runs a
// cleanup (retention, deletions, bucket index) every CleanupInterval, until
// ctx is done. Failures are logged and retried at the next tick.
func (c *Compactor) Run(ctx context.Context) {
	compact := time.NewTicker(c.cfg.CompactionInterval)
	defer compact.Stop()
	cleanup := time.NewTicker(c.cfg.CleanupInterval)
	defer cleanup.Stop()
	run := func(doCompact bool) {
		if err := c.run(ctx, doCompact); err != nil && ctx.Err() == nil {
			c.logger.Error("compactor run failed, will retry", "compaction", doCompact, "err", err)
		}
	}
	run(true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-compact.C:
			run(true)
		case <-cleanup.C:
			run(false)
		}
	}
}

// RunOnce compacts every tenant, then applies retention and deletions and
// writes the bucket indexes; it returns the joined failures of all tenants
// (one failing tenant does not stop the others).
func (c *Compactor) RunOnce(ctx context.Context) error { return c.run(ctx, true) }

// Cleanup is RunOnce without compaction: retention, deletion of blocks and
// tenants whose delay is over, and the bucket indexes.
func (c *Compactor) Cleanup(ctx context.Context) error { return c.run(ctx, false) }

func (c *Compactor) run(ctx context.Context, doCompact bool) error {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	c.m.runs.Inc()
	start := time.Now()
	tenants, err := bucketindex.Tenants(ctx, c.bkt)
	if err != nil {
		c.m.runsFailed.Inc()
		return fmt.Errorf("cannot list tenants: %w", err)
	}
	var errs []error
	for _, t := range tenants {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if tenant.Validate(t) != nil {
			continue
		}
		if c.owns != nil {
			ok, err := c.owns(t)
			if err != nil {
				errs = append(errs, fmt.Errorf("cannot tell whether tenant %s is ours: %w", t, err))
				continue
			}
			if !ok {
				continue
			}
		}
		if err := c.processTenant(ctx, t, doCompact); err != nil {
			c.logger.Error("cannot process tenant", "tenant", t, "err", err)
			errs = append(errs, fmt.Errorf("tenant %s: %w", t, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.m.runsFailed.Inc()
		return err
	}
	c.m.lastSuccess.Set(float64(c.now().Unix()))
	c.logger.Debug("compactor run done", "compaction", doCompact, "tenants", len(tenants), "duration", time.Since(start))
	return nil
}

func (c *Compactor) lockTenant(t string) func() {
	c.tenantMu.Lock()
	mu, ok := c.tenantLocks[t]
	if !ok {
		mu = &sync.Mutex{}
		c.tenantLocks[t] = mu
	}
	c.tenantMu.Unlock()
	mu.Lock()
	return mu.Unlock
}

// processTenant runs, for one tenant: tenant deletion (if marked and due),
// retention, compaction, deletion of marked blocks, and the bucket index.
func (c *Compactor) processTenant(ctx context.Context, t string, doCompact bool) error {
	unlock := c.lockTenant(t)
	defer unlock()
	now := c.now()
	st, err := c.discover(ctx, t)
	if err != nil {
		return err
	}
	if len(st.blocks) == 0 && len(st.deleting) == 0 && len(st.corrupt) == 0 && len(st.partial) == 0 && !st.hasIndex && st.tenantMark == nil {
		return nil // not a tenant's prefix, or nothing of blocks yet
	}
	if st.tenantMark != nil {
		marked := time.Unix(st.tenantMark.DeletionTime, 0)
		if now.Sub(marked) < c.cfg.TenantDeletionDelay {
			c.logger.Debug("tenant is marked for deletion, not compacting it", "tenant", t, "marked_at", marked)
			return nil
		}
		return c.deleteTenantLocked(ctx, t)
	}

	var errs []error
	if err := c.deleteAbandoned(ctx, t, st); err != nil {
		errs = append(errs, err)
	}
	if err := c.deletePartial(ctx, t, st, now); err != nil {
		errs = append(errs, err)
	}
	for i, cm := range st.corrupt {
		if cm.mark != nil {
			continue
		}
		m, err := c.markNoCompact(ctx, t, cm.err, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st.corrupt[i].mark = m
	}
	reqs, reqErr := c.deleteRequests(ctx, t, now)
	if reqErr != nil {
		errs = append(errs, reqErr) // and no compaction: it could not apply them
	}
	if err := c.applyRetention(ctx, t, st, now); err != nil {
		errs = append(errs, err)
	}
	if doCompact && reqErr == nil && ctx.Err() == nil {
		if err := c.compactTenant(ctx, t, st, reqs, now); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.deleteMarkedBlocks(ctx, t, now); err != nil {
		errs = append(errs, err)
	}
	if err := c.writeIndex(ctx, t); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// abandon records that the upload of block id of tenant t failed.
func (c *Compactor) abandon(t string, id ulid.ULID) {
	c.abandonMu.Lock()
	defer c.abandonMu.Unlock()
	if c.abandoned[t] == nil {
		c.abandoned[t] = map[ulid.ULID]struct{}{}
	}
	c.abandoned[t][id] = struct{}{}
}

// deleteAbandoned deletes the objects of the tenant's blocks whose upload
// failed, unless the listing st found their meta.json (the upload went
// through and only its answer was lost): then the block is whole.
func (c *Compactor) deleteAbandoned(ctx context.Context, t string, st *tenantState) error {
	c.abandonMu.Lock()
	var ids []ulid.ULID
	for id := range c.abandoned[t] {
		ids = append(ids, id)
	}
	c.abandonMu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	whole := map[ulid.ULID]bool{}
	for _, b := range st.blocks {
		whole[b.id()] = true
	}
	var errs []error
	for _, id := range ids {
		if !whole[id] {
			var names []string
			err := c.bkt.Iter(ctx, bucketindex.BlockPath(t, id)+"/", func(name string) error {
				names = append(names, name)
				return nil
			}, objstore.WithRecursiveIter())
			for _, name := range names {
				if err == nil {
					err = c.deleteObject(ctx, name)
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("cannot delete the objects of block %s of tenant %s, whose upload failed: %w", id, t, err))
				continue
			}
			if len(names) > 0 {
				st.partial = slices.DeleteFunc(st.partial, func(p ulid.ULID) bool { return p == id })
				c.logger.Info("deleted the objects of a compacted block whose upload failed", "tenant", t, "block", id.String(), "objects", len(names))
			}
		}
		c.abandonMu.Lock()
		delete(c.abandoned[t], id)
		c.abandonMu.Unlock()
	}
	return errors.Join(errs...)
}

// deletePartial deletes the blocks without meta.json whose every object is
// older than PartialBlockDeletionDelay: uploads abandoned by an ingester or
// a compactor that died or gave up (a compactor that lives deletes its own,
// deleteAbandoned). A retried upload writes all its objects again, so an
// upload in progress always has a young object.
func (c *Compactor) deletePartial(ctx context.Context, t string, st *tenantState, now time.Time) error {
	delay := c.cfg.PartialBlockDeletionDelay
	if delay <= 0 {
		return nil
	}
	var errs []error
	kept := st.partial[:0]
	for _, id := range st.partial {
		deleted, err := c.deleteIfAbandoned(ctx, t, id, now, delay)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot delete the partial block %s of tenant %s: %w", id, t, err))
		}
		if !deleted {
			kept = append(kept, id)
		}
	}
	st.partial = kept
	return errors.Join(errs...)
}

func (c *Compactor) deleteIfAbandoned(ctx context.Context, t string, id ulid.ULID, now time.Time, delay time.Duration) (bool, error) {
	if now.Sub(ulid.Time(id.Time())) < delay {
		return false, nil // its objects cannot be older than the block
	}
	dir := bucketindex.BlockPath(t, id) + "/"
	var names []string
	if err := c.bkt.Iter(ctx, dir, func(name string) error {
		names = append(names, name)
		return nil
	}, objstore.WithRecursiveIter()); err != nil {
		return false, err
	}
	var newest time.Time
	for _, name := range names {
		attrs, err := c.bkt.Attributes(ctx, name)
		if c.bkt.IsObjNotFoundErr(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if attrs.LastModified.After(newest) {
			newest = attrs.LastModified
		}
	}
	if newest.IsZero() || now.Sub(newest) < delay {
		return false, nil
	}
	// The listing is a moment old: an upload that finished since keeps its
	// block.
	if ok, err := c.bkt.Exists(ctx, dir+bucketindex.MetaName); err != nil || ok {
		return false, err
	}
	for _, name := range names {
		if err := c.deleteObject(ctx, name); err != nil {
			return false, err
		}
	}
	c.m.partialDeleted.Inc()
	c.logger.Info("deleted a partial block: an upload abandoned without meta.json", "tenant", t, "block", id.String(), "objects", len(names), "last_modified", newest.UTC().Format(time.RFC3339))
	return true, nil
}

// deleteRequests returns the tenant's delete requests, after removing those
// whose whole range is past the tenant's retention (no block can hold their
// data any more).
func (c *Compactor) deleteRequests(ctx context.Context, t string, now time.Time) ([]DeleteRequest, error) {
	reqs, err := ListDeleteRequests(ctx, c.bkt, t)
	if err != nil {
		return nil, err
	}
	ret := c.retention(t)
	if ret <= 0 {
		return reqs, nil
	}
	cutoff := now.Add(-ret).UnixMilli()
	out := reqs[:0]
	for _, r := range reqs {
		if r.MaxTime < cutoff {
			if err := c.bkt.Delete(ctx, DeleteRequestPath(t, r.ID)); err != nil && !c.bkt.IsObjNotFoundErr(err) {
				return nil, fmt.Errorf("cannot remove expired delete request %s: %w", r.ID, err)
			}
			c.logger.Info("removed delete request past retention", "tenant", t, "request", r.ID)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func (c *Compactor) retention(t string) time.Duration {
	if c.limits == nil {
		return 0
	}
	return time.Duration(c.limits.For(t).CompactorBlocksRetention)
}

// applyRetention marks every block whose MaxTime is before now − retention.
func (c *Compactor) applyRetention(ctx context.Context, t string, st *tenantState, now time.Time) error {
	ret := c.retention(t)
	if ret <= 0 {
		return nil
	}
	cutoff := now.Add(-ret).UnixMilli()
	var errs []error
	for _, b := range st.blocks {
		if b.mark != nil || b.meta.MaxTime > cutoff {
			continue
		}
		if err := c.markForDeletion(ctx, t, b, ReasonRetention, now); err != nil {
			errs = append(errs, err)
			continue
		}
		c.logger.Info("marked block past retention for deletion", "tenant", t, "block", b.id().String(),
			"maxt", formatTS(b.meta.MaxTime), "retention", ret)
	}
	return errors.Join(errs...)
}

func (c *Compactor) markForDeletion(ctx context.Context, t string, b *block, reason string, now time.Time) error {
	if err := bucketindex.WriteDeletionMark(ctx, c.bkt, t, b.id(), now); err != nil {
		return fmt.Errorf("cannot mark block %s of tenant %s for deletion: %w", b.id(), t, err)
	}
	b.mark = &bucketindex.DeletionMark{ID: b.id(), DeletionTime: now.Unix(), Version: 1}
	c.m.marked.WithLabelValues(reason).Inc()
	return nil
}

// markNoCompact writes the no-compact mark of a block that does not read
// back, so that no later run tries it again, and says so once in the log
// and in weft_compactor_blocks_marked_for_no_compaction_total.
func (c *Compactor) markNoCompact(ctx context.Context, t string, ce *corruptBlockError, now time.Time) (*bucketindex.NoCompactMark, error) {
	m, err := bucketindex.WriteNoCompactMark(ctx, c.bkt, t, ce.id, ce.reason, ce.err.Error(), now)
	if err != nil {
		return nil, err
	}
	c.m.noCompact.WithLabelValues(ce.reason).Inc()
	c.logger.Error("block does not read back: marked it as not to compact, skipping it; repair or delete it, then remove the mark (docs/compactor.md)",
		"tenant", t, "block", ce.id.String(), "reason", ce.reason, "err", ce.err, "mark", bucketindex.NoCompactMarkPath(t, ce.id))
	return m, nil
}

// writeIndex lists the tenant again and writes its bucket index: every
// complete block (meta.json present), the deletion and no-compact marks
// of those blocks, and the no-compact marks of blocks whose meta.json does
// not parse, which keep the entry the previous index gave them (so that
// queries over their range fail clearly rather than miss them).
// UploadedAt is kept from the previous index. A prefix with no block and
// no previous index gets none.
func (c *Compactor) writeIndex(ctx context.Context, t string) error {
	st, err := c.discover(ctx, t)
	if err != nil {
		return err
	}
	if len(st.blocks) == 0 && len(st.corrupt) == 0 && !st.hasIndex {
		return nil
	}
	uploaded := map[ulid.ULID]int64{}
	previous := map[ulid.ULID]bucketindex.Block{}
	if old, err := bucketindex.Read(ctx, c.bkt, t); err == nil {
		for _, b := range old.Blocks {
			uploaded[b.ID] = b.UploadedAt
			previous[b.ID] = b
		}
	}
	now := c.now()
	idx := &bucketindex.Index{Blocks: []bucketindex.Block{}, BlockDeletionMarks: []bucketindex.DeletionMark{}, UpdatedAt: now.Unix()}
	for _, b := range st.blocks {
		at, ok := uploaded[b.id()]
		if !ok {
			at = now.Unix()
		}
		idx.Blocks = append(idx.Blocks, bucketindex.Block{
			ID:         b.id(),
			MinTime:    b.meta.MinTime,
			MaxTime:    b.meta.MaxTime,
			Level:      b.meta.Compaction.Level,
			Sources:    b.meta.Compaction.Sources,
			UploadedAt: at,
		})
		if b.mark != nil {
			idx.BlockDeletionMarks = append(idx.BlockDeletionMarks, *b.mark)
		}
		if b.noCompact != nil {
			idx.BlockNoCompactMarks = append(idx.BlockNoCompactMarks, *b.noCompact)
		}
	}
	for _, cm := range st.corrupt {
		if cm.mark == nil {
			continue // marked at the next run
		}
		if b, ok := previous[cm.id]; ok {
			idx.Blocks = append(idx.Blocks, b)
		}
		idx.BlockNoCompactMarks = append(idx.BlockNoCompactMarks, *cm.mark)
	}
	return bucketindex.Write(ctx, c.bkt, t, idx)
}

// deleteMarkedBlocks deletes the blocks (complete, or already half deleted)
// whose deletion mark is older than the deletion delay.
func (c *Compactor) deleteMarkedBlocks(ctx context.Context, t string, now time.Time) error {
	st, err := c.discover(ctx, t)
	if err != nil {
		return err
	}
	due := func(m *bucketindex.DeletionMark) bool {
		return now.Sub(time.Unix(m.DeletionTime, 0)) >= c.cfg.DeletionDelay
	}
	var errs []error
	for _, b := range st.blocks {
		if b.mark != nil && due(b.mark) {
			if err := c.deleteBlock(ctx, t, b.id()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for id, m := range st.deleting {
		if due(m) {
			if err := c.deleteBlock(ctx, t, id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// deleteBlock deletes every object of a block, in this order:
//
//  1. meta.json, so that from now on no reader takes the block for a
//     complete one (a reader that sees meta.json sees every file);
//  2. index, chunks and the rest;
//  3. deletion-mark.json last, so that a deletion interrupted at any point
//     leaves a prefix that still carries its mark, and the next run
//     finishes it (a prefix without meta.json nor mark is an upload in
//     progress, which is never touched).
func (c *Compactor) deleteBlock(ctx context.Context, t string, id ulid.ULID) error {
	prefix := bucketindex.BlockPath(t, id)
	c.forgetMeta(t, id)
	if err := c.deleteObject(ctx, path.Join(prefix, bucketindex.MetaName)); err != nil {
		return fmt.Errorf("cannot delete block %s of tenant %s: %w", id, t, err)
	}
	var rest []string
	err := c.bkt.Iter(ctx, prefix+"/", func(name string) error {
		if path.Base(name) != bucketindex.DeletionMarkName {
			rest = append(rest, name)
		}
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		return fmt.Errorf("cannot list block %s of tenant %s: %w", id, t, err)
	}
	for _, name := range rest {
		if err := c.deleteObject(ctx, name); err != nil {
			return fmt.Errorf("cannot delete block %s of tenant %s: %w", id, t, err)
		}
	}
	if err := c.deleteObject(ctx, bucketindex.DeletionMarkPath(t, id)); err != nil {
		return fmt.Errorf("cannot delete block %s of tenant %s: %w", id, t, err)
	}
	c.m.deleted.Inc()
	c.logger.Info("deleted block", "tenant", t, "block", id.String())
	return nil
}

func (c *Compactor) deleteObject(ctx context.Context, name string) error {
	if err := c.bkt.Delete(ctx, name); err != nil && !c.bkt.IsObjNotFoundErr(err) {
		return err
	}
	return nil
}

// MarkTenantForDeletion writes the tenant's deletion mark: the compactor
// stops compacting the tenant and deletes all its objects
// TenantDeletionDelay later. The app calls it when a tenant is removed.
func MarkTenantForDeletion(ctx context.Context, bkt objstore.Bucket, tenantID string, now time.Time) error {
	if err := tenant.Validate(tenantID); err != nil {
		return err
	}
	if err := bkt.Upload(ctx, path.Join(tenantID, TenantDeletionMarkName), marshalTenantDeletionMark(now)); err != nil {
		return fmt.Errorf("cannot mark tenant %s for deletion: %w", tenantID, err)
	}
	return nil
}

// DeleteTenant deletes every object under <tenant>/ now, waiting for a
// compaction of that tenant in progress to finish. Order: the bucket index
// first (readers stop seeing the blocks), then every block's meta.json (no
// half-deleted block looks complete), then everything else, and the tenant
// deletion mark, if any, last (an interrupted deletion is resumed by the
// next run).
func (c *Compactor) DeleteTenant(ctx context.Context, tenantID string) error {
	if err := tenant.Validate(tenantID); err != nil {
		return err
	}
	unlock := c.lockTenant(tenantID)
	defer unlock()
	return c.deleteTenantLocked(ctx, tenantID)
}

func (c *Compactor) deleteTenantLocked(ctx context.Context, t string) error {
	start := time.Now()
	c.forgetTenant(t)
	if err := c.deleteObject(ctx, path.Join(t, bucketindex.IndexName)); err != nil {
		return fmt.Errorf("cannot delete tenant %s: %w", t, err)
	}
	var metas, rest []string
	err := c.bkt.Iter(ctx, t+"/", func(name string) error {
		switch {
		case name == path.Join(t, TenantDeletionMarkName):
		case path.Base(name) == bucketindex.MetaName:
			metas = append(metas, name)
		default:
			rest = append(rest, name)
		}
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		return fmt.Errorf("cannot list objects of tenant %s: %w", t, err)
	}
	for i, name := range append(metas, rest...) {
		if err := c.deleteObject(ctx, name); err != nil {
			return fmt.Errorf("cannot delete tenant %s: %w", t, err)
		}
		if (i+1)%1000 == 0 {
			c.logger.Info("deleting tenant", "tenant", t, "deleted_objects", i+1, "objects", len(metas)+len(rest))
		}
	}
	if err := c.deleteObject(ctx, path.Join(t, TenantDeletionMarkName)); err != nil {
		return fmt.Errorf("cannot delete tenant %s: %w", t, err)
	}
	c.forgetTenant(t)
	c.m.tenantsDeleted.Inc()
	c.logger.Info("deleted tenant", "tenant", t, "objects", len(metas)+len(rest), "duration", time.Since(start))
	return nil
}

func formatTS(t int64) string { return time.UnixMilli(t).UTC().Format(time.RFC3339Nano) }

// workDir returns a fresh scratch directory for one job of tenant t.
func (c *Compactor) workDir(t string) string {
	return filepath.Join(c.cfg.DataDir, t, ulid.Make().String())
}
