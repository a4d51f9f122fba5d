package compactor

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
	"go.uber.org/goleak"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

const (
	hour = int64(time.Hour / time.Millisecond)
	day  = 24 * hour
)

// env is a compactor over a filesystem bucket in a temp dir, with a clock
// the test moves.
type env struct {
	t      *testing.T
	root   string // the bucket's directory
	bkt    objstore.Bucket
	c      *Compactor
	reg    *prometheus.Registry
	base   time.Time
	offset atomic.Int64
}

func (e *env) now() time.Time { return e.base.Add(time.Duration(e.offset.Load())) }

// advance moves the clock forward.
func (e *env) advance(d time.Duration) { e.offset.Add(int64(d)) }

func testConfig(t *testing.T, args ...string) Config {
	var cfg Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	cfg.DataDir = filepath.Join(t.TempDir(), "compactor")
	return cfg
}

func newEnv(t *testing.T, lim *limits.Overrides, args ...string) *env {
	t.Helper()
	root := t.TempDir()
	bkt, err := filesystem.NewBucket(root)
	require.NoError(t, err)
	e := &env{t: t, root: root, bkt: bkt, reg: prometheus.NewRegistry(), base: time.Now().Add(time.Minute)} // blocks made during the test are older than "now"
	// The tests place blocks relative to today: without the 7-day level,
	// whose windows start on Thursdays, their outcome does not depend on
	// the day of the week. TestWeekLevel tests that level.
	cfg := testConfig(t, append([]string{"-compactor.consistency-delay=0s", "-compactor.block-ranges=2h,12h,24h"}, args...)...)
	e.c, err = New(cfg, bkt, lim, nil, e.reg, nil, WithClock(e.now))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), e.c)) })
	return e
}

// retentionOf returns limits where tenant keeps its blocks for d and every
// other tenant forever.
func retentionOf(tenant string, d time.Duration) *limits.Overrides {
	var defaults limits.Limits
	return limits.NewOverrides(defaults, func() *limits.RuntimeConfig {
		l := defaults
		l.CompactorBlocksRetention = model.Duration(d)
		return &limits.RuntimeConfig{Overrides: map[string]*limits.Limits{tenant: &l}}
	})
}

func (e *env) runOnce() {
	e.t.Helper()
	require.NoError(e.t, e.c.RunOnce(context.Background()))
}

// series is one series and its samples (timestamps in ms; value = ts/1000).
type series struct {
	lset labels.Labels
	ts   []int64
}

func span(name string, from, to, step int64, extra ...string) series {
	s := series{lset: labels.FromStrings(append([]string{"__name__", name}, extra...)...)}
	for t := from; t < to; t += step {
		s.ts = append(s.ts, t)
	}
	return s
}

// without returns s without the samples for which drop is true.
func (s series) without(drop func(int64) bool) series {
	out := series{lset: s.lset}
	for _, t := range s.ts {
		if !drop(t) {
			out.ts = append(out.ts, t)
		}
	}
	return out
}

// uploadBlock builds a block with the TSDB, gives it the range [mint, maxt)
// as an ingester does (aligned to its block range), and uploads it to
// tenant's prefix like the ingester's shipper: every file, then meta.json
// with the "weft" section. It returns the block's ULID.
func (e *env) uploadBlock(tenantID, ingester string, mint, maxt int64, ss ...series) ulid.ULID {
	t := e.t
	t.Helper()
	dir := t.TempDir()
	w, err := tsdb.NewBlockWriter(logutil.Nop(), dir, maxt-mint)
	require.NoError(t, err)
	app := w.Appender(context.Background())
	for _, s := range ss {
		for _, ts := range s.ts {
			_, err := app.Append(0, s.lset, ts, float64(ts)/1000)
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())
	id, err := w.Flush(context.Background())
	require.NoError(t, err)
	require.NoError(t, w.Close())

	bdir := filepath.Join(dir, id.String())
	m, err := readLocalMeta(bdir)
	require.NoError(t, err)
	m.MinTime, m.MaxTime = mint, maxt
	m.Weft = &MetaExtension{Tenant: tenantID, Ingester: ingester, Source: "ingester"}
	metaJSON, err := json.MarshalIndent(m, "", "\t")
	require.NoError(t, err)

	prefix := path.Join(tenantID, id.String())
	require.NoError(t, filepath.WalkDir(bdir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(bdir, p)
		if rel == "meta.json" {
			return nil
		}
		f, err := os.Open(p)
		require.NoError(t, err)
		defer f.Close()
		return e.bkt.Upload(context.Background(), path.Join(prefix, filepath.ToSlash(rel)), f)
	}))
	require.NoError(t, e.bkt.Upload(context.Background(), path.Join(prefix, "meta.json"), bytes.NewReader(metaJSON)))
	return id
}

// blocks returns the tenant's complete blocks, by MinTime, and which of
// them are marked for deletion.
func (e *env) blocks(tenantID string) (live, marked []blockMeta) {
	e.t.Helper()
	e.c.metaMu.Lock()
	clear(e.c.metaCache) // read the bucket, not the cache
	e.c.metaMu.Unlock()
	st, err := e.c.discover(context.Background(), tenantID)
	require.NoError(e.t, err)
	for _, b := range st.blocks {
		if b.mark != nil {
			marked = append(marked, b.meta)
		} else {
			live = append(live, b.meta)
		}
	}
	return live, marked
}

// samples reads a block straight from the bucket's directory: series
// (as label strings) → timestamps, in order, duplicates included.
func (e *env) samples(tenantID string, id ulid.ULID) map[string][]int64 {
	t := e.t
	t.Helper()
	b, err := tsdb.OpenBlock(nil, filepath.Join(e.root, tenantID, id.String()), chunkenc.NewPool(), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	q, err := tsdb.NewBlockQuerier(b, math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	out := map[string][]int64{}
	set := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	var it chunkenc.Iterator
	for set.Next() {
		s := set.At()
		it = s.Iterator(it)
		var ts []int64
		for it.Next() != chunkenc.ValNone {
			tt, v := it.At()
			require.Equal(t, float64(tt)/1000, v)
			ts = append(ts, tt)
		}
		require.NoError(t, it.Err())
		out[s.Labels().String()] = ts
	}
	require.NoError(t, set.Err())
	return out
}

func want(ss ...series) map[string][]int64 {
	out := map[string][]int64{}
	for _, s := range ss {
		ts := append([]int64(nil), s.ts...)
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		out[s.lset.String()] = ts
	}
	return out
}

func (e *env) index(tenantID string) *bucketindex.Index {
	e.t.Helper()
	idx, err := bucketindex.Read(context.Background(), e.bkt, tenantID)
	require.NoError(e.t, err)
	return idx
}

// objects lists every object name under prefix.
func (e *env) objects(prefix string) []string {
	e.t.Helper()
	var out []string
	require.NoError(e.t, e.bkt.Iter(context.Background(), prefix, func(name string) error {
		out = append(out, name)
		return nil
	}, objstore.WithRecursiveIter()))
	return out
}

// dayStart is the start of a UTC day n days before the env's clock.
func (e *env) dayStart(n int) int64 {
	return alignDown(e.base.UnixMilli(), day) - int64(n)*day
}
