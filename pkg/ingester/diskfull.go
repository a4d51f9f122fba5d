package ingester

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/tsdb/wlog"

	"github.com/weft-io/weft/pkg/wire"
)

// errDiskFull is the stable ID of the error a push gets when the
// ingester's disk is full (docs/errors.md).
const errDiskFull = "err-weft-disk-full"

// reopenInterval is how often the ingester looks for tenants whose WAL
// failed to write, and reopens them once the disk has room.
const reopenInterval = time.Second

// reopenMinFree is the least free space a reopen waits for when
// -ingester.min-free-disk-bytes is 0: replaying the WAL starts a segment,
// and the TSDB repairs the WAL's torn end by rewriting its last segment.
const reopenMinFree = 1 << 20

// isDiskFull reports whether err is the file system running out of space
// (or of the user's quota).
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// diskFullError is the 503 of a push that the ingester cannot store for
// lack of space: a retry succeeds once space is freed.
func (i *Ingester) diskFullError(tenantID string, cause error) error {
	return wire.Errorf(wire.KindUnavailable, errDiskFull,
		"the disk of ingester %s is full, so the samples of tenant %s were not stored (%v); retry: the ingester takes pushes again by itself once space is freed in its -data.dir",
		i.cfg.InstanceID, tenantID, cause)
}

// checkFreeSpace refuses a push, before anything is written, when the
// file system of -data.dir has less than -ingester.min-free-disk-bytes
// free: the TSDB has no clean answer to a full disk (a WAL write that
// fails half-way leaves a torn record, and a head chunk it cannot write
// panics the process), so the ingester stops writing before it is full.
func (i *Ingester) checkFreeSpace(tenantID string) error {
	if i.cfg.MinFreeDiskBytes <= 0 {
		return nil
	}
	free, err := freeDiskBytes(i.cfg.Dir)
	if err != nil || free >= i.cfg.MinFreeDiskBytes {
		return nil // a file system that cannot say lets the writes find out
	}
	i.setDiskFull(true)
	return i.diskFullError(tenantID, fmt.Errorf("%d bytes free, less than -ingester.min-free-disk-bytes=%d", free, i.cfg.MinFreeDiskBytes))
}

// setDiskFull records whether the ingester is refusing pushes for lack of
// space, for weft_ingester_disk_full, and logs the changes.
func (i *Ingester) setDiskFull(full bool) {
	if i.diskFull.Swap(full) == full {
		return
	}
	if full {
		i.logger.Error("the disk of -data.dir is full: refusing pushes until space is freed", "dir", i.cfg.Dir, "min_free_bytes", i.cfg.MinFreeDiskBytes)
	} else {
		i.logger.Info("the disk of -data.dir has room again: taking pushes", "dir", i.cfg.Dir)
	}
}

// walFailureWatch is the registerer a tenant's TSDB registers its metrics
// with: it passes them on to the tenant's registry, and keeps the
// counters of failed writes of the WAL and the WBL, which the TSDB counts
// under the log's lock before it returns the error. A push whose commit
// returned after a failed write of another push reads that failure
// there, whatever the goroutines' timing.
type walFailureWatch struct {
	prometheus.Registerer

	mu       sync.Mutex
	counters []prometheus.Collector // guarded by mu
}

// isWALWriteFailures reports whether a metric's description is that of
// a counter walFailureWatch keeps (prometheus.Desc shows its name only in
// its String).
func isWALWriteFailures(desc string) bool {
	return strings.Contains(desc, `fqName: "prometheus_tsdb_wal_writes_failed_total"`) ||
		strings.Contains(desc, `fqName: "prometheus_tsdb_out_of_order_wbl_writes_failed_total"`)
}

// Register implements prometheus.Registerer.
func (w *walFailureWatch) Register(c prometheus.Collector) error {
	if err := w.Registerer.Register(c); err != nil {
		return err
	}
	descs := make(chan *prometheus.Desc, 16)
	go func() {
		c.Describe(descs)
		close(descs)
	}()
	keep := false
	for d := range descs {
		keep = keep || isWALWriteFailures(d.String())
	}
	if keep {
		w.mu.Lock()
		w.counters = append(w.counters, c)
		w.mu.Unlock()
	}
	return nil
}

// MustRegister implements prometheus.Registerer.
func (w *walFailureWatch) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := w.Register(c); err != nil {
			panic(err) // as prometheus.Registry does: a programming error in the TSDB
		}
	}
}

// failures returns the failed writes of the WAL and the WBL since the
// TSDB opened.
func (w *walFailureWatch) failures() float64 {
	w.mu.Lock()
	cs := w.counters
	w.mu.Unlock()
	var sum float64
	for _, c := range cs {
		ch := make(chan prometheus.Metric, 4)
		c.Collect(ch)
		close(ch)
		for m := range ch {
			var pb dto.Metric
			if m.Write(&pb) == nil {
				sum += pb.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// walState is what a tenant knows of its WAL's health. After a failed
// write of the WAL or the WBL, the log may hold a torn record, cut
// half-way by the failure, which the TSDB writes out with the next
// records once space returns; its replay would stop at it and drop every
// record after it. So from the first failure on, no push is
// acknowledged, and the ingester reopens the tenant's TSDB (reopenBroken)
// as soon as the disk has room: its close writes the torn record last,
// and the replay repairs it, dropping only records of pushes that were
// not acknowledged.
type walState struct {
	mu  sync.Mutex
	err error // guarded by mu: the first failure, nil while healthy
}

// markBroken records the first failure of the tenant's WAL.
func (t *tenantDB) markBroken(err error) {
	t.wal.mu.Lock()
	defer t.wal.mu.Unlock()
	if t.wal.err == nil || (isDiskFull(err) && !isDiskFull(t.wal.err)) {
		// The disk's own word is the clearest cause to report; the
		// TSDB's failure count may be seen first by another push.
		first := t.wal.err == nil
		t.wal.err = err
		if !first {
			return
		}
		t.ing.logger.Error("the WAL of a tenant failed to write: refusing its pushes until its TSDB is reopened, as soon as the disk has room", "tenant", t.id, "err", err)
	}
}

// brokenErr returns the failure recorded so far, without reading the
// TSDB's counters.
func (t *tenantDB) brokenErr() error {
	t.wal.mu.Lock()
	defer t.wal.mu.Unlock()
	return t.wal.err
}

// broken returns the failure that awaits a reopen, checking the TSDB's
// counters too (a failed write of the WBL is only logged by the TSDB).
func (t *tenantDB) broken() error {
	if err := t.brokenErr(); err != nil {
		return err
	}
	if n := t.walWatch.failures(); n > 0 {
		err := fmt.Errorf("%v writes of the WAL or the out-of-order WBL failed", n)
		t.markBroken(err)
		return t.brokenErr()
	}
	return nil
}

// brokenError is the error of a push refused while its tenant waits for
// a reopen.
func (i *Ingester) brokenError(tenantID string, cause error) error {
	if isDiskFull(cause) {
		return i.diskFullError(tenantID, cause)
	}
	return wire.Errorf(wire.KindInternal, "", "cannot write the WAL of tenant %s (%v): its pushes are refused until the ingester has reopened its TSDB, which it does by itself; retry", tenantID, cause)
}

// reopenBroken closes and reopens the TSDB of every tenant whose WAL
// failed to write, once the disk has room. It stops the ingester's
// requests for the time (they answer 503): a TSDB closes only when no
// push or query is using it.
func (i *Ingester) reopenBroken() {
	if i.diskFull.Load() {
		// Pushes clear it too, but senders may have given up for now.
		if free, err := freeDiskBytes(i.cfg.Dir); err == nil && free >= i.cfg.MinFreeDiskBytes {
			i.setDiskFull(false)
		}
	}
	var broken []*tenantDB
	for _, t := range i.snapshot() {
		if t.broken() != nil {
			broken = append(broken, t)
		}
	}
	i.mu.RLock()
	pending := len(i.unopened)
	i.mu.RUnlock()
	if len(broken) == 0 && pending == 0 {
		return
	}
	free, err := freeDiskBytes(i.cfg.Dir)
	if err == nil && free < max(i.cfg.MinFreeDiskBytes, reopenMinFree) {
		return
	}
	i.mu.Lock()
	i.reopening = true
	i.mu.Unlock()
	i.stopAccepting()
	for _, t := range broken {
		start := time.Now()
		cause := t.brokenErr()
		i.mu.Lock()
		delete(i.tenants, t.id)
		i.unopened[t.id] = cause
		i.mu.Unlock()
		t.hashes.prune(nil)
		if err := t.close(); err != nil {
			i.logger.Warn("cannot close the TSDB of a tenant whose WAL failed; reopening it anyway", "tenant", t.id, "err", err)
		}
		i.logger.Info("closed the TSDB of a tenant whose WAL failed, to reopen it", "tenant", t.id, "duration", time.Since(start))
	}
	i.mu.RLock()
	var ids []string
	for id := range i.unopened {
		ids = append(ids, id)
	}
	i.mu.RUnlock()
	for _, id := range ids {
		start := time.Now()
		t, err := openTenant(i, id)
		i.mu.Lock()
		if err != nil {
			i.unopened[id] = err
		} else {
			delete(i.unopened, id)
			i.tenants[id] = t
		}
		i.mu.Unlock()
		if err != nil {
			i.logger.Error("cannot reopen the TSDB of a tenant whose WAL failed; will retry", "tenant", id, "err", err)
			continue
		}
		i.m.reopens.Inc()
		i.logger.Info("reopened the TSDB of a tenant whose WAL failed: taking its pushes again", "tenant", id, "duration", time.Since(start))
	}
	i.mu.Lock()
	i.reopening = false
	i.accepting = true
	i.mu.Unlock()
}

// restoreInterruptedRepairs undoes what a repair of the WAL or the WBL
// left when it did not finish. The TSDB repairs a log by renaming its
// corrupt segment to "<segment>.repair" and copying the records before
// the corruption into a new segment; a full disk (or a crash) half-way
// through leaves the copy, shorter than the original, under the
// segment's name, and the next repair would rename that copy over the
// original, losing the records it lacks: acknowledged ones. So the
// original goes back in place first, and the TSDB repairs it again.
func restoreInterruptedRepairs(dir string, logger *slog.Logger) error {
	for _, sub := range []string{"wal", wlog.WblDirName} {
		logDir := filepath.Join(dir, sub)
		originals, err := filepath.Glob(filepath.Join(logDir, "*.repair"))
		if err != nil {
			return fmt.Errorf("cannot list %s: %w", logDir, err)
		}
		for _, orig := range originals {
			seg := strings.TrimSuffix(orig, ".repair")
			if err := os.Rename(orig, seg); err != nil {
				return fmt.Errorf("cannot restore the segment whose repair did not finish: %w", err)
			}
			if err := syncFile(logDir); err != nil {
				return err
			}
			logger.Warn("restored a log segment whose repair did not finish (a full disk or a crash during the repair): the TSDB repairs it again", "segment", seg)
		}
	}
	return nil
}
