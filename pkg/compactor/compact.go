package compactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// maxPasses bounds the planning passes of one tenant in one run; each pass
// strictly reduces the work left, so this only guards against a bug.
const maxPasses = 64

// compactTenant plans and runs compaction jobs until none is left: first
// dropping blocks whose data another block already holds, then vertical,
// horizontal and rewrite jobs (see plan). Blocks younger than the
// consistency delay are left for a later run; a job that fails leaves its
// sources alone for the rest of this run.
func (c *Compactor) compactTenant(ctx context.Context, t string, st *tenantState, reqs []DeleteRequest, now time.Time) error {
	var eligible []*block
	for _, b := range st.blocks {
		if b.mark == nil && b.noCompact == nil && now.Sub(ulid.Time(b.id().Time())) >= c.cfg.ConsistencyDelay {
			eligible = append(eligible, b)
		}
	}
	var errs []error
	for _, b := range planRedundant(eligible) {
		if err := c.markForDeletion(ctx, t, b, ReasonDuplicate, now); err != nil {
			errs = append(errs, err)
			continue
		}
		c.logger.Info("marked block for deletion: its data is in another block", "tenant", t, "block", b.id().String())
	}
	eligible = slices.DeleteFunc(eligible, func(b *block) bool { return b.mark != nil })

	pending := func(b *block) bool {
		for i := range reqs {
			if reqs[i].overlaps(b.meta.MinTime, b.meta.MaxTime) && !b.meta.applied(reqs[i].ID) {
				return true
			}
		}
		return false
	}
	ranges := c.cfg.rangesFor(c.retention(t))
	for pass := 0; pass < maxPasses && ctx.Err() == nil; pass++ {
		jobs := plan(eligible, ranges, pending)
		if len(jobs) == 0 {
			break
		}
		c.logger.Info("running compaction jobs", "tenant", t, "kind", string(jobs[0].kind), "jobs", len(jobs), "pass", pass+1)
		outs := make([]*block, len(jobs))
		jobErrs := make([]error, len(jobs))
		sem := make(chan struct{}, c.cfg.CompactionConcurrency)
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				defer func() {
					// Bytes of a block that the checks let through must not
					// take the process down (and into a crash loop): the
					// job fails, and is retried at the next run.
					if r := recover(); r != nil {
						c.logger.Error("compaction job panicked", "tenant", t, "kind", string(j.kind), "panic", r, "stack", string(debug.Stack()))
						outs[i], jobErrs[i] = nil, fmt.Errorf("compaction job of tenant %s panicked: %v", t, r)
					}
				}()
				outs[i], jobErrs[i] = c.runJob(ctx, t, j, reqs, now, i+1, len(jobs))
			}()
		}
		wg.Wait()
		for i, j := range jobs {
			var corrupt *corruptBlockError
			if errors.As(jobErrs[i], &corrupt) {
				// A source does not read back: it is marked and leaves the
				// plan for good; the other sources stay, and the next pass
				// plans them without it. Not a failure of the tenant: the
				// next run would find the same bytes.
				for _, b := range j.blocks {
					if b.id() != corrupt.id {
						continue
					}
					m, err := c.markNoCompact(ctx, t, corrupt, now)
					if err != nil {
						errs = append(errs, err)
					}
					b.noCompact = m
				}
				eligible = slices.DeleteFunc(eligible, func(b *block) bool { return b.id() == corrupt.id })
				continue
			}
			// Sources leave the plan whether the job worked (they are
			// marked) or not (retried next run, not again and again now).
			eligible = slices.DeleteFunc(eligible, func(b *block) bool { return slices.Contains(j.blocks, b) })
			if jobErrs[i] != nil {
				errs = append(errs, jobErrs[i])
				continue
			}
			if outs[i] != nil {
				eligible = append(eligible, outs[i])
			}
		}
		slices.SortFunc(eligible, func(a, b *block) int {
			if a.meta.MinTime != b.meta.MinTime {
				return cmpInt(a.meta.MinTime, b.meta.MinTime)
			}
			return a.id().Compare(b.id())
		})
	}
	return errors.Join(errs...)
}

// runJob compacts the sources of j into one new block, in a scratch
// directory removed afterwards: download every source, write the pending
// delete requests into each source as TSDB tombstones, compact with the
// TSDB's leveled compactor (which merges overlapping series and drops
// identical samples, and drops what the tombstones cover), upload the
// result (meta.json last) and only then mark the sources for deletion. It
// returns the new block, or nil when nothing was left in it.
func (c *Compactor) runJob(ctx context.Context, t string, j job, reqs []DeleteRequest, now time.Time, n, of int) (*block, error) {
	dir := c.workDir(t)
	defer os.RemoveAll(dir)
	start := time.Now()
	ids := make([]string, len(j.blocks))
	for i, b := range j.blocks {
		ids[i] = b.id().String()
	}
	log := c.logger.With("tenant", t, "kind", string(j.kind), "job", fmt.Sprintf("%d/%d", n, of))
	log.Info("compaction job started", "sources", ids,
		"mint", formatTS(j.blocks[0].meta.MinTime), "maxt", formatTS(j.blocks[len(j.blocks)-1].meta.MaxTime))

	var dirs []string
	for i, b := range j.blocks {
		d := filepath.Join(dir, "src", b.id().String())
		size, err := c.downloadBlock(ctx, t, b.id(), d)
		if err != nil {
			return nil, fmt.Errorf("cannot download block %s of tenant %s: %w", b.id(), t, err)
		}
		if err := verifyBlock(ctx, b.id(), d); err != nil {
			return nil, fmt.Errorf("cannot compact block %s of tenant %s: %w", b.id(), t, err)
		}
		var todo []DeleteRequest
		for _, r := range reqs {
			if r.overlaps(b.meta.MinTime, b.meta.MaxTime) && !b.meta.applied(r.ID) {
				todo = append(todo, r)
			}
		}
		if len(todo) > 0 {
			if err := c.writeTombstones(ctx, d, todo); err != nil {
				return nil, fmt.Errorf("cannot apply delete requests to block %s of tenant %s: %w", b.id(), t, err)
			}
		}
		log.Info("downloaded source block", "block", b.id().String(), "n", fmt.Sprintf("%d/%d", i+1, len(j.blocks)),
			"bytes", size, "delete_requests", len(todo))
		dirs = append(dirs, d)
	}

	comp, err := tsdb.NewLeveledCompactorWithOptions(ctx, nil, c.logger, c.cfg.rangesMillis(), c.pool,
		tsdb.LeveledCompactorOptions{EnableOverlappingCompaction: true})
	if err != nil {
		return nil, fmt.Errorf("cannot create the TSDB compactor: %w", err)
	}
	outDir := filepath.Join(dir, "out")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	newIDs, err := comp.Compact(outDir, dirs, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot compact blocks %v of tenant %s: %w", ids, t, err)
	}

	var out *block
	if len(newIDs) > 0 {
		od := filepath.Join(outDir, newIDs[0].String())
		m, err := readLocalMeta(od)
		if err != nil {
			return nil, err
		}
		ext := &MetaExtension{Tenant: t, Source: SourceCompactor}
		for _, r := range reqs {
			// Every request overlapping the new block was applied to each
			// source: before (recorded in it) or just now.
			if r.overlaps(m.MinTime, m.MaxTime) {
				ext.DeletesApplied = append(ext.DeletesApplied, r.ID)
			}
		}
		m.Weft = ext
		if j.kind == jobRewrite {
			m.Compaction.Level = j.blocks[0].meta.Compaction.Level // the same block, less some series
		}
		if err := writeLocalMeta(od, m); err != nil {
			return nil, err
		}
		if err := c.mergeSidecars(t, od, dirs, reqs, m.MinTime, m.MaxTime); err != nil {
			return nil, fmt.Errorf("cannot merge the metadata and exemplars of blocks %v of tenant %s: %w", ids, t, err)
		}
		log.Info("compacted, uploading", "block", m.ULID.String(), "series", m.Stats.NumSeries, "samples", m.Stats.NumSamples,
			"level", m.Compaction.Level, "duration", time.Since(start))
		if err := bucketindex.UploadBlock(ctx, c.bkt, t, od, m.ULID, nil); err != nil {
			// UploadBlock deletes what it uploaded, unless the bucket
			// fails that too: the next runs finish it.
			c.abandon(t, m.ULID)
			return nil, fmt.Errorf("cannot upload block %s of tenant %s: %w", m.ULID, t, err)
		}
		c.m.created.Inc()
		out = &block{meta: *m}
	} else {
		log.Info("compaction left no samples: the sources are only deleted")
	}

	// The new block is complete in the bucket: the sources may go.
	var errs []error
	for _, b := range j.blocks {
		if err := c.markForDeletion(ctx, t, b, ReasonCompaction, now); err != nil {
			errs = append(errs, err)
		}
	}
	c.m.compacted.Add(float64(len(j.blocks)))
	if out != nil {
		log.Info("compaction job done", "block", out.id().String(), "duration", time.Since(start))
	}
	return out, errors.Join(errs...)
}

// writeTombstones records the delete requests in the local copy of a block
// (its tombstones file), so the compaction that follows drops those samples.
func (c *Compactor) writeTombstones(ctx context.Context, dir string, reqs []DeleteRequest) (err error) {
	b, err := tsdb.OpenBlock(c.logger, dir, c.pool, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.Close()) }()
	for _, r := range reqs {
		sets, err := r.matchers()
		if err != nil {
			return err
		}
		for _, ms := range sets {
			if err := b.Delete(ctx, r.MinTime, r.MaxTime, ms...); err != nil {
				return err
			}
		}
	}
	return nil
}

// downloadBlock copies every object of a block but its deletion mark into
// dir and returns the bytes copied.
func (c *Compactor) downloadBlock(ctx context.Context, t string, id ulid.ULID, dir string) (int64, error) {
	prefix := bucketindex.BlockPath(t, id) + "/"
	var names []string
	err := c.bkt.Iter(ctx, prefix, func(name string) error {
		if path.Base(name) != bucketindex.DeletionMarkName {
			names = append(names, name)
		}
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		return 0, err
	}
	var total int64
	for _, name := range names {
		dst := filepath.Join(dir, filepath.FromSlash(name[len(prefix):]))
		n, err := c.downloadFile(ctx, name, dst)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (c *Compactor) downloadFile(ctx context.Context, name, dst string) (n int64, err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	r, err := c.bkt.Get(ctx, name)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	return io.Copy(f, r)
}

// mergeSidecars writes into the new block in dir the metadata and
// exemplars of its sources (in srcs, oldest first): the union of the
// metadata, the newest description of a family winning, and the
// exemplars of [mint, maxt) each once, less those that the delete
// requests reqs cover, at most as many as the tenant's
// exemplar storage holds (the newest), so that a compacted block's file
// stays as small as one 2h block's.
func (c *Compactor) mergeSidecars(t, dir string, srcs []string, reqs []DeleteRequest, mint, maxt int64) error {
	var (
		mds [][]bucketindex.MetricMetadata
		exs [][]exemplar.QueryResult
	)
	for _, src := range srcs {
		md, err := bucketindex.ReadLocalMetadata(src)
		if err != nil {
			return err
		}
		ex, err := bucketindex.ReadLocalExemplars(src)
		if err != nil {
			return err
		}
		mds, exs = append(mds, md), append(exs, bucketindex.FilterExemplars(ex, mint, maxt-1))
	}
	if err := bucketindex.WriteLocalMetadata(dir, bucketindex.MergeMetadata(mds...)); err != nil {
		return err
	}
	// The delete requests take the exemplars they cover along.
	var dels []deletedRange
	for _, r := range reqs {
		if !r.overlaps(mint, maxt) {
			continue
		}
		sets, err := r.matchers()
		if err != nil {
			return err
		}
		dels = append(dels, deletedRange{sets: sets, mint: r.MinTime, maxt: r.MaxTime})
	}
	if len(dels) > 0 {
		for i, ex := range exs {
			exs[i] = dropDeleted(ex, dels)
		}
	}
	limit := 0
	if c.limits != nil {
		limit = max(c.limits.For(t).MaxExemplarsPerTenant, 0)
	}
	if limit == 0 {
		// The exemplar storage is off now, but the sources were written
		// when it was not: keep theirs, within a fixed bound.
		limit = maxExemplarsPerBlock
	}
	return bucketindex.WriteLocalExemplars(dir, bucketindex.MergeExemplars(limit, exs...))
}

// maxExemplarsPerBlock bounds a compacted block's exemplars when the
// tenant's exemplar storage is off.
const maxExemplarsPerBlock = 100000

// deletedRange is what one delete request covers: the series matching any
// of sets, in [mint, maxt] (inclusive, as the request's range).
type deletedRange struct {
	sets       [][]*labels.Matcher
	mint, maxt int64
}

// dropDeleted returns res without the exemplars that dels cover.
func dropDeleted(res []exemplar.QueryResult, dels []deletedRange) []exemplar.QueryResult {
	out := res[:0]
	for _, r := range res {
		for _, d := range dels {
			if !bucketindex.MatchesAny(r.SeriesLabels, d.sets) {
				continue
			}
			r.Exemplars = slices.DeleteFunc(slices.Clone(r.Exemplars), func(e exemplar.Exemplar) bool { return e.Ts >= d.mint && e.Ts <= d.maxt })
		}
		if len(r.Exemplars) > 0 {
			out = append(out, r)
		}
	}
	return out
}
