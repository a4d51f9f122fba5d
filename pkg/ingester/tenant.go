package ingester

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/compression"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/wire"
)

// Stable IDs of the ingester's limit errors (docs/errors.md).
const (
	errMaxSeriesPerTenant = "err-weft-max-series-per-tenant"
	errMaxSeriesPerMetric = "err-weft-max-series-per-metric"
)

// maxMetadataFamilies bounds the metadata a tenant can make us keep.
const maxMetadataFamilies = 20000

// tenantDB is one tenant's TSDB plus what the ingester tracks about it.
type tenantDB struct {
	id  string
	ing *Ingester
	db  *tsdb.DB
	reg *prometheus.Registry // the TSDB's own metrics, re-exported with a tenant label

	hashes *blockHashes // of the series of its blocks, for sharded queries

	shipMu  sync.Mutex // serialises shipping of this tenant
	shipped *shippedFile

	// applied are the limits in force in db. After open only the
	// ingester's loop reads and changes it.
	applied tsdbLimits

	// meta is the tenant's metric metadata, kept in a log beside the
	// TSDB so that it survives a crash (metadata.go).
	meta *metadataStore

	// syncer syncs the WAL before pushes are acknowledged; nil unless
	// -ingester.wal-sync-before-ack.
	syncer *walSyncer

	// walWatch reads the TSDB's counts of failed WAL and WBL writes, and
	// wal keeps the first failure: pushes are refused from then on until
	// the ingester reopens the TSDB (diskfull.go).
	walWatch *walFailureWatch
	wal      walState
}

func openTenant(i *Ingester, id string) (*tenantDB, error) {
	lim := i.limits.For(id)
	dir := i.TenantDir(id)
	t := &tenantDB{id: id, ing: i, reg: prometheus.NewRegistry()}
	t.walWatch = &walFailureWatch{Registerer: t.reg}
	t.hashes = newBlockHashes(i.hashBudget, i.m.seriesHashHits, i.m.seriesHashMisses)
	shipped, err := loadShipped(dir)
	if err != nil {
		return nil, err
	}
	t.shipped = shipped
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the directory of tenant %s: %w", id, err)
	}
	if t.meta, err = openMetadataStore(dir); err != nil {
		return nil, fmt.Errorf("cannot open the metadata of tenant %s: %w", id, err)
	}

	opts := tsdb.DefaultOptions()
	rangeMs := i.cfg.BlockRange.Milliseconds()
	// Equal min and max block duration: the ingester only cuts head blocks
	// and never merges them locally; merging is the compactor's job over
	// the bucket, so a shipped block is never rewritten here.
	opts.MinBlockDuration = rangeMs
	opts.MaxBlockDuration = rangeMs
	opts.RetentionDuration = 0
	opts.MaxBlockChunkSegmentSize = i.cfg.BlockChunkSegmentSize
	opts.BlocksToDelete = t.blocksToDelete
	// The out-of-order window and the exemplar storage size follow the
	// tenant's limits at run time (applyLimits), which needs two things at
	// open. The TSDB opens its out-of-order log (WBL) only when it opens
	// with a window, and later installs it without a lock, racing with
	// appends: so it always opens with one, and the tenant's own window is
	// applied below, before any append. And it resizes the exemplar
	// storage only when that was enabled at open: so it always is, if of
	// size 0, which stores nothing and costs nothing.
	want := tsdbLimitsOf(lim)
	t.applied = tsdbLimits{oooWindow: max(want.oooWindow, 1), maxExemplars: want.maxExemplars}
	opts.OutOfOrderTimeWindow = t.applied.oooWindow
	opts.EnableExemplarStorage = true
	opts.MaxExemplars = t.applied.maxExemplars
	opts.EnableOverlappingCompaction = false
	// Counts the series in the ingester's total, and refuses new ones at
	// its limit once the WAL is replayed.
	cb := &seriesCallback{t: t}
	opts.SeriesLifecycleCallback = cb
	// A querier in this process (the all-in-one) counts the bytes of the
	// chunks each query reads against its tenant's limit.
	// Sharded queries of its blocks hash each series once (blockHashes).
	opts.BlockQuerierFunc = func(b tsdb.BlockReader, mint, maxt int64) (storage.Querier, error) {
		return wire.CountingBlockQuerier(t.hashes.wrap(b), mint, maxt)
	}
	opts.BlockChunkQuerierFunc = func(b tsdb.BlockReader, mint, maxt int64) (storage.ChunkQuerier, error) {
		return tsdb.NewBlockChunkQuerier(t.hashes.wrap(b), mint, maxt)
	}
	// Queries sharded by the query-frontend select one shard of the
	// series (SelectHints.ShardCount); the head refuses them without it.
	opts.EnableSharding = true
	// Reloading blocks is what deletes shipped ones past retention.
	opts.BlockReloadInterval = max(i.cfg.HeadCompactPeriod, tsdb.MinBlockReloadInterval)
	if i.cfg.WALCompression {
		opts.WALCompression = compression.Snappy
	}
	if i.cfg.StartTimestamps {
		// XOR chunks have no room for start timestamps (the TSDB refuses
		// the combination), and without the histogram encodings a
		// histogram's start timestamp would be dropped silently.
		opts.EnableSTStorage = true
		opts.FloatChunkEncoding = chunkenc.EncXOR2
		opts.EnableHistogramSTEncoding = true
	}
	if err := restoreInterruptedRepairs(dir, i.logger.With("tenant", id)); err != nil {
		_ = t.meta.close()
		return nil, fmt.Errorf("cannot open TSDB of tenant %s: %w", id, err)
	}
	db, err := tsdb.Open(dir, i.logger.With("tenant", id), t.walWatch, opts, nil)
	if err != nil {
		_ = t.meta.close()
		return nil, fmt.Errorf("cannot open TSDB of tenant %s: %w", id, err)
	}
	t.db = db
	cb.open.Store(true)
	if i.cfg.WALSyncBeforeAck {
		t.syncer = newWALSyncer(dir, i.m.walSync)
	}
	if _, err := t.applyLimits(want); err != nil {
		_ = t.close()
		return nil, err
	}
	return t, nil
}

// tsdbLimits are the per-tenant limits that the TSDB enforces itself, from
// its own configuration, rather than the ingester on each push.
type tsdbLimits struct {
	oooWindow    int64 // out-of-order time window in milliseconds
	maxExemplars int64 // size of the exemplar storage
}

func tsdbLimitsOf(l *limits.Limits) tsdbLimits {
	return tsdbLimits{
		oooWindow:    max(time.Duration(l.OutOfOrderTimeWindow).Milliseconds(), 0),
		maxExemplars: max(int64(l.MaxExemplarsPerTenant), 0),
	}
}

// applyLimits brings the TSDB's out-of-order window and exemplar storage
// size to want, the tenant's current limits, which the runtime file may
// have changed since the TSDB opened, and reports whether they changed. It
// is cheap when nothing changed. Only openTenant and then the ingester's
// loop call it, so calls never overlap.
func (t *tenantDB) applyLimits(want tsdbLimits) (bool, error) {
	if want == t.applied {
		return false, nil
	}
	// Only these two settings are given. The others ApplyConfig reads keep
	// the values the TSDB opened with: a nil retention and an empty chunk
	// encoding change nothing, and the stale-series compaction threshold
	// is 0 as in the options of openTenant.
	conf := &config.Config{StorageConfig: config.StorageConfig{
		TSDBConfig:      &config.TSDBConfig{OutOfOrderTimeWindow: want.oooWindow},
		ExemplarsConfig: &config.ExemplarsConfig{MaxExemplars: want.maxExemplars},
	}}
	if err := t.db.ApplyConfig(conf); err != nil {
		return false, fmt.Errorf("cannot apply the limits of tenant %s to its TSDB: %w", t.id, err)
	}
	t.applied = want
	return true, nil
}

// blocksToDelete keeps every block until it is shipped and older than the
// local retention.
func (t *tenantDB) blocksToDelete(blocks []*tsdb.Block) map[ulid.ULID]struct{} {
	out := map[ulid.ULID]struct{}{}
	if len(blocks) == 0 || t.db == nil {
		return out
	}
	cutoff := t.db.Head().MaxTime() - t.ing.cfg.Retention.Milliseconds()
	for _, b := range blocks {
		m := b.Meta()
		if m.MaxTime < cutoff && (t.ing.bucket == nil || t.shipped.has(m.ULID)) {
			out[m.ULID] = struct{}{}
		}
	}
	return out
}

// admitSeries checks the series limits before a new series is created;
// existing is the number of series the tenant has counting this push.
func (t *tenantDB) admitSeries(lim *limits.Limits, ls labels.Labels, existing int) error {
	if lim.MaxSeriesPerTenant > 0 && existing >= lim.MaxSeriesPerTenant {
		return wire.Errorf(wire.KindLimit, errMaxSeriesPerTenant,
			"tenant %s has reached its limit of %d series; series %s was not created (raise max_series_per_tenant / -ingester.max-series-per-tenant)", t.id, lim.MaxSeriesPerTenant, ls)
	}
	if lim.MaxSeriesPerMetric > 0 {
		name := ls.Get(labels.MetricName)
		n, err := t.countSeries(name)
		if err == nil && n >= lim.MaxSeriesPerMetric {
			return wire.Errorf(wire.KindLimit, errMaxSeriesPerMetric,
				"metric %s of tenant %s has reached its limit of %d series; series %s was not created (raise max_series_per_metric / -ingester.max-series-per-metric)", name, t.id, lim.MaxSeriesPerMetric, ls)
		}
	}
	return nil
}

// countSeries counts the head series of one metric name. It walks postings,
// which is fine because it only runs when a new series is about to be
// created.
func (t *tenantDB) countSeries(name string) (int, error) {
	ir, err := t.db.Head().Index()
	if err != nil {
		return 0, err
	}
	defer ir.Close()
	p, err := ir.Postings(context.Background(), labels.MetricName, name)
	if err != nil {
		return 0, err
	}
	n := 0
	for p.Next() {
		n++
	}
	return n, p.Err()
}

// close closes the tenant's TSDB and its metadata log.
func (t *tenantDB) close() error {
	if t.syncer != nil {
		t.syncer.close()
	}
	// Its series leave the ingester's count (-ingester.instance-limits.max-series):
	// a TSDB reopened after a WAL failure counts them again as it replays.
	t.ing.inst.series.Add(-int64(t.db.Head().NumSeries()))
	return errors.Join(t.db.Close(), t.meta.close())
}

// flushHead cuts the whole head into blocks, one per aligned block range
// as the TSDB would, and the out-of-order head too (used on shutdown when
// configured, and by Flush). The TSDB's own compactions are stopped first,
// so the head does not shrink between reading its range and cutting it,
// and stay stopped: the TSDB is closed next, and an automatic compaction
// between such a flush and the close was seen to panic in the TSDB's head
// chunk mapper ("expected newly cut file to have sequence", v0.316, CI).
func (t *tenantDB) flushHead() error {
	t.db.DisableCompactions()
	if err := t.db.CompactOOOHead(context.Background()); err != nil {
		return fmt.Errorf("cannot cut the out-of-order head: %w", err)
	}
	h := t.db.Head()
	if h.NumSeries() == 0 || h.MinTime() > h.MaxTime() {
		return nil
	}
	r := t.ing.cfg.BlockRange.Milliseconds()
	mint, maxt := h.MinTime(), h.MaxTime()
	for start := mint - mod(mint, r); start <= maxt; start += r {
		// A RangeHead's maxt is inclusive; blocks are [start, start+r).
		if err := t.db.CompactHead(tsdb.NewRangeHead(h, start, start+r-1)); err != nil {
			return err
		}
	}
	return nil
}

// mod is the non-negative remainder, so that ranges align before 1970 too.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
