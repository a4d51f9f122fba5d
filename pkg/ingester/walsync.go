package ingester

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb/fileutil"
	"github.com/prometheus/prometheus/tsdb/wlog"

	"github.com/weft-io/weft/pkg/wire"
)

// walSyncer makes the writes of a tenant's WAL and WBL durable before a
// push is acknowledged (-ingester.wal-sync-before-ack), with group
// commit: a push commits (which writes its records to the segment files),
// then waits on the current batch; one goroutine takes the batch, so that
// later pushes join the next one, and syncs. Every push in a batch
// committed before the sync started, so the sync covers it, and all of
// them share one fsync.
//
// The TSDB gives no handle on its WAL (and wlog.WL.Sync reads the current
// segment without its lock, and leaves a segment it just cut to an
// asynchronous fsync), so the syncer opens the segment files itself:
// fsync flushes a file's data whichever descriptor wrote it. The metadata
// log (metadata.go) is not synced: it is not samples, and senders resend
// metadata.
type walSyncer struct {
	dirs []string // the WAL and WBL directories
	m    *walSyncMetrics
	mu   sync.Mutex
	// sync is what a batch runs; tests replace it. Guarded by mu.
	sync    func() error
	pending *syncBatch // guarded by mu: the batch new waiters join
	// failed is the error of a failed sync, kept until the ingester
	// reopens the tenant's TSDB (with a new syncer): after a failed fsync
	// the kernel may have dropped the dirty pages, so later writes could
	// sit after a hole in the WAL that replay would cut off.
	failed error // guarded by mu

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	segs map[string]*syncedSegment // by directory; only the goroutine uses it
}

// syncBatch is one group of pushes that share a sync.
type syncBatch struct {
	n    int // waiters, guarded by walSyncer.mu until the batch is taken
	err  error
	done chan struct{}
}

// syncedSegment is the last segment of a directory that a sync saw, kept
// open: later writes go to it until the TSDB cuts a new one, and a
// descriptor open since before them is told of any write-back error of
// theirs (two descriptors per tenant, beside the TSDB's own).
type syncedSegment struct {
	index int
	f     *os.File
}

// walSyncMetrics are shared by the syncers of all tenants.
type walSyncMetrics struct {
	syncs         prometheus.Counter
	failures      prometheus.Counter
	duration      prometheus.Histogram
	pushesPerSync prometheus.Histogram
}

func newWALSyncMetrics(reg prometheus.Registerer) *walSyncMetrics {
	m := &walSyncMetrics{
		syncs:    prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_ingester_wal_syncs_total", Help: "Syncs of the WAL and WBL that pushes waited for (-ingester.wal-sync-before-ack)."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_ingester_wal_sync_failures_total", Help: "Syncs of the WAL and WBL that failed; the pushes that waited for them were refused."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_ingester_wal_sync_duration_seconds", Help: "Time to sync a tenant's WAL and WBL.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
		pushesPerSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_ingester_wal_pushes_per_sync", Help: "Pushes acknowledged by one sync of the WAL (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.syncs, m.failures, m.duration, m.pushesPerSync)
	}
	return m
}

// newWALSyncer starts the syncer of the TSDB in dir; stop it with close.
func newWALSyncer(dir string, m *walSyncMetrics) *walSyncer {
	s := &walSyncer{
		dirs: []string{filepath.Join(dir, "wal"), filepath.Join(dir, wlog.WblDirName)},
		m:    m,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		segs: map[string]*syncedSegment{},
	}
	s.sync = s.syncFiles
	go s.run()
	return s
}

// wait returns once a sync that started after the call has finished, with
// its error. Call it after the records to make durable are written.
func (s *walSyncer) wait(ctx context.Context) error {
	s.mu.Lock()
	if s.failed != nil {
		s.mu.Unlock()
		return s.failed
	}
	if s.pending == nil {
		s.pending = &syncBatch{done: make(chan struct{})}
	}
	b := s.pending
	b.n++
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // the syncer is already woken
	}
	select {
	case <-b.done:
		return b.err
	case <-s.done:
		// Closed after its last batch: the TSDB is closing, so this push
		// cannot be in flight in a running ingester.
		select {
		case <-b.done:
			return b.err
		default:
			return wire.Errorf(wire.KindUnavailable, "", "the WAL syncer is closed")
		}
	case <-ctx.Done():
		return fmt.Errorf("cannot wait for the WAL sync: %w", ctx.Err())
	}
}

func (s *walSyncer) run() {
	defer close(s.done)
	for {
		select {
		case <-s.wake:
			s.syncBatch()
		case <-s.stop:
			s.syncBatch() // nobody should wait by now, but never strand one
			for _, seg := range s.segs {
				_ = seg.f.Close()
			}
			return
		}
	}
}

// syncBatch takes the pending batch, so that pushes arriving from now on
// join the next one, syncs and releases its waiters.
func (s *walSyncer) syncBatch() {
	s.mu.Lock()
	b := s.pending
	s.pending = nil
	failed, syncFn := s.failed, s.sync
	s.mu.Unlock()
	if b == nil {
		return
	}
	err := failed
	if err == nil {
		start := time.Now()
		err = syncFn()
		s.m.syncs.Inc()
		s.m.duration.Observe(time.Since(start).Seconds())
		s.m.pushesPerSync.Observe(float64(b.n))
		if err != nil {
			s.m.failures.Inc()
			err = wire.Errorf(wire.KindInternal, "", "cannot sync the WAL, refusing pushes until the ingester has reopened the tenant's TSDB: %w", err)
			s.mu.Lock()
			s.failed = err
			s.mu.Unlock()
		}
	}
	b.err = err
	close(b.done)
}

// syncFiles fsyncs, in the WAL and the WBL, every segment from the last
// one the previous sync saw to the last one now, and the directory when
// it holds a new segment (the TSDB does not sync it when it creates one).
// Earlier segments were synced whole: the TSDB writes to its last segment
// only.
func (s *walSyncer) syncFiles() error {
	for _, dir := range s.dirs {
		first, last, err := wlog.Segments(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("cannot list the segments of %s: %w", dir, err)
		}
		if last < 0 {
			continue // no segment yet
		}
		prev := s.segs[dir]
		from := first
		if prev != nil {
			from = max(prev.index, first)
		}
		for i := from; i < last; i++ {
			if prev != nil && prev.index == i {
				if err := fileutil.Fdatasync(prev.f); err != nil {
					return fmt.Errorf("cannot sync WAL segment %d of %s: %w", i, dir, err)
				}
				continue
			}
			if err := syncFile(wlog.SegmentName(dir, i)); err != nil {
				return err
			}
		}
		if prev == nil || prev.index != last {
			f, err := os.Open(wlog.SegmentName(dir, last))
			if err != nil {
				return fmt.Errorf("cannot open WAL segment %d of %s: %w", last, dir, err)
			}
			if prev != nil {
				_ = prev.f.Close()
			}
			fresh := prev == nil
			prev = &syncedSegment{index: last, f: f}
			s.segs[dir] = prev
			if err := syncFile(dir); err != nil {
				return err
			}
			if fresh {
				// The TSDB does not sync the entries of the directories
				// it creates either: the WAL's, in the tenant's, in the
				// ingester's.
				for d := filepath.Dir(dir); d != filepath.Dir(filepath.Dir(filepath.Dir(dir))); d = filepath.Dir(d) {
					if err := syncFile(d); err != nil {
						return err
					}
				}
			}
		}
		if err := fileutil.Fdatasync(prev.f); err != nil {
			return fmt.Errorf("cannot sync WAL segment %d of %s: %w", last, dir, err)
		}
	}
	return nil
}

// syncFile fsyncs a file or directory by name; one that is gone is fine:
// the TSDB deletes only segments that a checkpoint or block, both synced,
// replaced.
func syncFile(name string) error {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot open %s to sync it: %w", name, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", name, err)
	}
	return nil
}

// close syncs what is pending and stops the goroutine.
func (s *walSyncer) close() {
	close(s.stop)
	<-s.done
}
