package storegateway

import (
	"context"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	hour = int64(time.Hour / time.Millisecond)
	step = int64(15 * time.Second / time.Millisecond)
)

// fixture is a bucket with blocks of some tenants, and for each tenant a
// local directory with the same blocks, read directly as the reference.
type fixture struct {
	t      testing.TB
	bkt    objstore.Bucket
	src    map[string]string // tenant → directory of its source blocks
	blocks map[string][]tsdb.BlockMeta
}

func newFixture(t testing.TB) *fixture {
	bkt, err := filesystem.NewBucket(t.TempDir())
	require.NoError(t, err)
	return &fixture{t: t, bkt: bkt, src: map[string]string{}, blocks: map[string][]tsdb.BlockMeta{}}
}

// addBlock writes a block of the tenant with 5 series sampled every 15s
// over [from, to) and uploads it (meta.json last); value differs per
// tenant and series.
func (f *fixture) addBlock(tenant string, from, to int64) tsdb.BlockMeta {
	return f.addSeriesBlock(tenant, from, to, 5)
}

// addSeriesBlock is addBlock with n series.
func (f *fixture) addSeriesBlock(tenant string, from, to int64, n int) tsdb.BlockMeta {
	t := f.t
	dir, ok := f.src[tenant]
	if !ok {
		dir = t.TempDir()
		f.src[tenant] = dir
	}
	var series []storage.Series
	for i := range n {
		lset := labels.FromStrings("__name__", "metric", "owner", tenant, "i", fmt.Sprint(i))
		var samples []chunks.Sample
		for ts := from; ts < to; ts += step {
			samples = append(samples, fsample{ts, float64(ts)/1000 + float64(i) + float64(len(tenant))*1000})
		}
		series = append(series, storage.NewListSeries(lset, samples))
	}
	bdir, err := tsdb.CreateBlock(series, dir, 2*hour, logutil.Nop())
	require.NoError(t, err)
	b, err := tsdb.OpenBlock(nil, bdir, nil, nil)
	require.NoError(t, err)
	meta := b.Meta()
	require.NoError(t, b.Close())
	f.upload(tenant, bdir, meta.ULID)
	f.blocks[tenant] = append(f.blocks[tenant], meta)
	return meta
}

func (f *fixture) upload(tenant, dir string, id ulid.ULID) {
	t := f.t
	ctx := context.Background()
	var files []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "meta.json" {
			files = append(files, rel)
		}
		return nil
	}))
	files = append(files, "meta.json")
	for _, rel := range files {
		r, err := os.Open(filepath.Join(dir, rel))
		require.NoError(t, err)
		require.NoError(t, f.bkt.Upload(ctx, path.Join(tenant, id.String(), filepath.ToSlash(rel)), r))
		require.NoError(t, r.Close())
	}
}

// writeIndex writes the tenant's bucket index with its blocks and marks.
func (f *fixture) writeIndex(tenant string, marks ...bucketindex.DeletionMark) {
	idx := &bucketindex.Index{BlockDeletionMarks: marks}
	for _, m := range f.blocks[tenant] {
		idx.Blocks = append(idx.Blocks, bucketindex.Block{ID: m.ULID, MinTime: m.MinTime, MaxTime: m.MaxTime, Level: 1, UploadedAt: time.Now().Unix()})
	}
	require.NoError(f.t, bucketindex.Write(context.Background(), f.bkt, tenant, idx))
}

// reference returns the tenant's samples in [mint, maxt] read with a
// read-only TSDB over the source blocks, restricted to blocks in keep
// (all when keep is nil).
func (f *fixture) reference(tenant string, mint, maxt int64, keep func(ulid.ULID) bool) map[string][]sample {
	t := f.t
	dir := t.TempDir()
	for _, m := range f.blocks[tenant] {
		if keep != nil && !keep(m.ULID) {
			continue
		}
		require.NoError(t, os.CopyFS(filepath.Join(dir, m.ULID.String()), os.DirFS(filepath.Join(f.src[tenant], m.ULID.String()))))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "wal"), 0o755))
	db, err := tsdb.OpenDBReadOnly(dir, t.TempDir(), logutil.Nop())
	require.NoError(t, err)
	defer db.Close()
	q, err := db.Querier(mint, maxt)
	require.NoError(t, err)
	defer q.Close()
	return collect(t, q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")))
}

type sample struct {
	t int64
	v float64
}

// fsample is a float chunks.Sample.
type fsample struct {
	t int64
	v float64
}

func (s fsample) T() int64                      { return s.t }
func (s fsample) ST() int64                     { return 0 }
func (s fsample) F() float64                    { return s.v }
func (s fsample) H() *histogram.Histogram       { return nil }
func (s fsample) FH() *histogram.FloatHistogram { return nil }
func (s fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fsample) Copy() chunks.Sample           { return s }

func collect(t testing.TB, ss storage.SeriesSet) map[string][]sample {
	out := map[string][]sample{}
	var it chunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		var got []sample
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			got = append(got, sample{ts, v})
		}
		require.NoError(t, it.Err())
		if len(got) > 0 {
			out[s.Labels().String()] = got
		}
	}
	require.NoError(t, ss.Err())
	return out
}

func testConfig(t *testing.T) Config {
	return Config{
		Dir:                      t.TempDir(),
		SyncInterval:             time.Hour,
		IgnoreDeletionMarksDelay: time.Hour,
		MaxConcurrentLoads:       2,
		IdleTimeout:              time.Hour,
		SeriesHashCacheMaxBytes:  1 << 20,
	}
}

// newSG runs a store-gateway owning every block until the test ends.
func newSG(t *testing.T, cfg Config, bkt objstore.Bucket) *StoreGateway {
	return newShardSG(t, cfg, bkt, nil)
}

// newShardSG runs a store-gateway owning the blocks owns accepts.
func newShardSG(t *testing.T, cfg Config, bkt objstore.Bucket, owns func(string, ulid.ULID) bool) *StoreGateway {
	sg, err := New(cfg, bkt, owns, nil, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), sg))
	t.Cleanup(func() {
		require.NoError(t, services.StopAndAwaitTerminated(context.Background(), sg))
		require.NoError(t, services.StopAndAwaitTerminated(context.Background(), sg)) // safe twice
	})
	return sg
}

var all = labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")

// query runs Select over [mint, maxt] and returns the samples and the
// blocks the querier reported.
func query(t *testing.T, r wire.Reader, tenant string, mint, maxt int64) (map[string][]sample, []ulid.ULID) {
	q, err := r.Querier(tenant, mint, maxt)
	require.NoError(t, err)
	defer q.Close()
	ctx, report := wire.WithBlockReport(context.Background())
	ss := q.Select(ctx, true, nil, all)
	got := collect(t, ss)
	require.Empty(t, ss.Warnings())
	return got, report.Blocks()
}

func localBlocks(t *testing.T, dir string) []string {
	var out []string
	tenants, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, te := range tenants {
		es, err := os.ReadDir(filepath.Join(dir, te.Name()))
		require.NoError(t, err)
		for _, e := range es {
			out = append(out, te.Name()+"/"+e.Name())
		}
	}
	return out
}

func ids(metas ...tsdb.BlockMeta) []ulid.ULID {
	out := make([]ulid.ULID, 0, len(metas))
	for _, m := range metas {
		out = append(out, m.ULID)
	}
	slices.SortFunc(out, func(a, b ulid.ULID) int { return a.Compare(b) })
	return out
}

func TestLazyLoadingAndQueries(t *testing.T) {
	f := newFixture(t)
	b0 := f.addBlock("t1", 0, 2*hour)
	b1 := f.addBlock("t1", 2*hour, 4*hour)
	b2 := f.addBlock("t1", 4*hour, 6*hour)
	cfg := testConfig(t)
	sg := newSG(t, cfg, f.bkt)

	// Nothing is loaded before the first query.
	require.Empty(t, localBlocks(t, cfg.Dir))
	require.Equal(t, 0.0, testutil.ToFloat64(sg.m.blocksLoaded))
	require.Equal(t, 0.0, testutil.ToFloat64(sg.m.loads))

	// A query inside the middle block loads only that block.
	mint, maxt := 2*hour+10*step, 3*hour
	got, queried := query(t, sg, "t1", mint, maxt)
	require.Equal(t, f.reference("t1", mint, maxt, nil), got)
	require.NotEmpty(t, got)
	require.Equal(t, ids(b1), queried)
	require.Equal(t, []string{"t1/" + b1.ULID.String()}, localBlocks(t, cfg.Dir))
	require.Equal(t, 1.0, testutil.ToFloat64(sg.m.blocksLoaded))
	require.Equal(t, 1.0, testutil.ToFloat64(sg.m.cacheMisses))

	// Spanning two blocks; the middle one is a cache hit.
	mint, maxt = hour, 3*hour
	got, queried = query(t, sg, "t1", mint, maxt)
	require.Equal(t, f.reference("t1", mint, maxt, nil), got)
	require.Equal(t, ids(b0, b1), queried)
	require.Equal(t, 2.0, testutil.ToFloat64(sg.m.blocksLoaded))
	require.Equal(t, 1.0, testutil.ToFloat64(sg.m.cacheHits))

	// Everything, with the chunk querier too.
	mint, maxt = -hour, 7*hour
	got, queried = query(t, sg, "t1", mint, maxt)
	want := f.reference("t1", mint, maxt, nil)
	require.Equal(t, want, got)
	require.Len(t, got, 5)
	require.Equal(t, ids(b0, b1, b2), queried)
	require.Equal(t, 3.0, testutil.ToFloat64(sg.m.loads))

	cq, err := sg.ChunkQuerier("t1", mint, maxt)
	require.NoError(t, err)
	ctx, report := wire.WithBlockReport(context.Background())
	css := cq.Select(ctx, true, nil, all)
	require.Equal(t, want, collect(t, storage.NewSeriesSetFromChunkSeriesSet(css)))
	require.Equal(t, ids(b0, b1, b2), report.Blocks())
	require.Empty(t, css.Warnings())
	require.NoError(t, cq.Close())

	// Label APIs.
	q, err := sg.Querier("t1", mint, maxt)
	require.NoError(t, err)
	ctx, report = wire.WithBlockReport(context.Background())
	names, warns, err := q.LabelNames(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", "i", "owner"}, names)
	require.Equal(t, ids(b0, b1, b2), report.Blocks())
	require.Empty(t, warns)
	vals, _, err := q.LabelValues(context.Background(), "i", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"0", "1", "2", "3", "4"}, vals)
	require.NoError(t, q.Close())
	require.NoError(t, q.Close())

	// A range without blocks reads nothing.
	got, queried = query(t, sg, "t1", 10*hour, 11*hour)
	require.Empty(t, got)
	require.Empty(t, queried)
}

func TestDeletionMarksAndListing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b0 := f.addBlock("t1", 0, 2*hour)
	b1 := f.addBlock("t1", 2*hour, 4*hour)
	b2 := f.addBlock("t1", 4*hour, 6*hour)
	now := time.Now()

	// Without an index: a block with a deletion mark and a block without
	// meta.json are left out of the listing.
	require.NoError(t, bucketindex.WriteDeletionMark(ctx, f.bkt, "t1", b0.ULID, now))
	require.NoError(t, f.bkt.Delete(ctx, path.Join("t1", b2.ULID.String(), "meta.json")))
	cfg := testConfig(t)
	sg := newSG(t, cfg, f.bkt)
	got, queried := query(t, sg, "t1", 0, 6*hour)
	require.Equal(t, ids(b1), queried)
	require.Equal(t, f.reference("t1", 0, 6*hour, func(id ulid.ULID) bool { return id == b1.ULID }), got)

	// With an index: a block marked longer ago than the delay is not
	// used; one marked recently still is.
	f2 := newFixture(t)
	c0 := f2.addBlock("t1", 0, 2*hour)
	c1 := f2.addBlock("t1", 2*hour, 4*hour)
	c2 := f2.addBlock("t1", 4*hour, 6*hour)
	f2.writeIndex("t1",
		bucketindex.DeletionMark{ID: c0.ULID, DeletionTime: now.Add(-2 * time.Hour).Unix(), Version: 1},
		bucketindex.DeletionMark{ID: c1.ULID, DeletionTime: now.Add(-10 * time.Minute).Unix(), Version: 1},
	)
	sg2 := newSG(t, testConfig(t), f2.bkt)
	got, queried = query(t, sg2, "t1", 0, 6*hour)
	require.Equal(t, ids(c1, c2), queried)
	require.Equal(t, f2.reference("t1", 0, 6*hour, func(id ulid.ULID) bool { return id != c0.ULID }), got)
	must, err := sg2.BlocksFor(ctx, "t1", 0, 6*hour)
	require.NoError(t, err)
	var mustIDs []ulid.ULID
	for _, b := range must {
		mustIDs = append(mustIDs, b.ID)
	}
	slices.SortFunc(mustIDs, func(a, b ulid.ULID) int { return a.Compare(b) })
	require.Equal(t, ids(c1, c2), mustIDs)
	require.NotContains(t, sg2.Loaded("t1"), c0.ULID)
}

func TestRequiredBlocksLeaveOutRecentUploads(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b0 := f.addBlock("t1", 0, 2*hour)
	b1 := f.addBlock("t1", 2*hour, 4*hour)
	fd := NewFinder(f.bkt, time.Minute, time.Hour)
	now := time.Now()
	at := func(d time.Duration) { fd.now = func() time.Time { return now.Add(d) } }

	// Just uploaded (no index: the upload time is the ULID's): a
	// store-gateway may not have synced them yet, so none is required.
	at(0)
	got, err := fd.RequiredBlocks(ctx, "t1", 0, 4*hour)
	require.NoError(t, err)
	require.Empty(t, got)

	// One and a half sync intervals later every store-gateway knows them.
	at(91 * time.Second)
	got, err = fd.RequiredBlocks(ctx, "t1", 0, 4*hour)
	require.NoError(t, err)
	require.ElementsMatch(t, ids(b0, b1), got)
	got, err = fd.RequiredBlocks(ctx, "t1", 3*hour, 4*hour)
	require.NoError(t, err)
	require.Equal(t, ids(b1), got)
}

func TestTenantsNeverMix(t *testing.T) {
	f := newFixture(t)
	f.addBlock("alpha", 0, 2*hour)
	f.addBlock("beta", 0, 2*hour)
	f.addBlock("beta", 2*hour, 4*hour)
	f.writeIndex("beta")
	sg := newSG(t, testConfig(t), f.bkt)
	for _, tenant := range []string{"alpha", "beta"} {
		got, _ := query(t, sg, tenant, 0, 4*hour)
		require.Equal(t, f.reference(tenant, 0, 4*hour, nil), got)
		for k := range got {
			require.Contains(t, k, `owner="`+tenant+`"`)
		}
	}
	got, queried := query(t, sg, "gamma", 0, 4*hour)
	require.Empty(t, got)
	require.Empty(t, queried)
	_, err := sg.Querier("../alpha", 0, 4*hour)
	require.Error(t, err)
	require.Equal(t, wire.KindBadData, wire.KindOf(err))
}

func TestGRPCAnswersAsDirect(t *testing.T) {
	f := newFixture(t)
	f.addBlock("t1", 0, 2*hour)
	f.addBlock("t1", 2*hour, 4*hour)
	sg := newSG(t, testConfig(t), f.bkt)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	wire.Register(srv, nil, wire.Stores{wire.StoreGateway: sg})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	client := wire.NewStoreClient(conn, wire.StoreGateway)

	for _, r := range [][2]int64{{0, 4 * hour}, {hour, 3 * hour}, {3 * hour, 5 * hour}, {10 * hour, 12 * hour}} {
		direct, directBlocks := query(t, sg, "t1", r[0], r[1])
		remote, remoteBlocks := query(t, client, "t1", r[0], r[1])
		require.Equal(t, direct, remote)
		require.Equal(t, directBlocks, remoteBlocks)
	}
	q, err := client.Querier("t1", 0, 4*hour)
	require.NoError(t, err)
	ctx, report := wire.WithBlockReport(context.Background())
	vals, warns, err := q.LabelValues(ctx, "i", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"0", "1", "2", "3", "4"}, vals)
	require.Empty(t, warns)
	require.Len(t, report.Blocks(), 2)
	require.NoError(t, q.Close())

	// A store-gateway serves no writes, under either service name.
	_, err = wire.NewWriteClient(conn).Push(context.Background(), "t1", &wire.PushRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err), "%v", err)
	// A client asking for the ingester's store is told it is not here.
	_, err = wire.NewStoreClient(conn, wire.StoreIngester).Metadata(context.Background(), "t1", "", 0)
	require.ErrorContains(t, err, `cannot serve a read of store "ingester": this process serves store-gateway`)
	md, err := client.Metadata(context.Background(), "t1", "", 0)
	require.NoError(t, err)
	require.Empty(t, md)
}

func TestShardFilterSplitsBlocks(t *testing.T) {
	f := newFixture(t)
	var metas []tsdb.BlockMeta
	for i := range int64(8) {
		metas = append(metas, f.addBlock("t1", i*2*hour, (i+1)*2*hour))
	}
	f.writeIndex("t1")
	shard := func(n uint32) func(string, ulid.ULID) bool {
		return func(tenant string, id ulid.ULID) bool { return BlockToken(tenant, id)%2 == n }
	}
	var sgs [2]*StoreGateway
	for i := range sgs {
		sgs[i] = newShardSG(t, testConfig(t), f.bkt, shard(uint32(i)))
	}
	mint, maxt := int64(0), 16*hour
	var (
		union []ulid.ULID
		qs    []storage.Querier
	)
	for _, sg := range sgs {
		_, queried := query(t, sg, "t1", mint, maxt)
		require.NotEmpty(t, queried, "with 8 blocks, each of 2 shards should own some")
		require.ElementsMatch(t, queried, sg.Loaded("t1"))
		union = append(union, queried...)
		q, err := sg.Querier("t1", mint, maxt)
		require.NoError(t, err)
		qs = append(qs, q)
	}
	slices.SortFunc(union, func(a, b ulid.ULID) int { return a.Compare(b) })
	require.Equal(t, ids(metas...), union, "the shards are disjoint and cover every block")
	merged := storage.NewMergeQuerier(qs, nil, storage.ChainedSeriesMerge)
	defer merged.Close()
	require.Equal(t, f.reference("t1", mint, maxt, nil), collect(t, merged.Select(context.Background(), true, nil, all)))

	// The token is stable and depends on tenant and block.
	id := metas[0].ULID
	require.Equal(t, BlockToken("t1", id), BlockToken("t1", id))
	require.NotEqual(t, BlockToken("t1", id), BlockToken("t2", id))
}

func TestUnloading(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b0 := f.addBlock("t1", 0, 2*hour)
	b1 := f.addBlock("t1", 2*hour, 4*hour)
	f.writeIndex("t1")

	t.Run("idle", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.IdleTimeout = 100 * time.Millisecond
		sg := newSG(t, cfg, f.bkt)
		// A block held by an open querier is not unloaded.
		q, err := sg.Querier("t1", 0, hour)
		require.NoError(t, err)
		_, _, err = q.LabelNames(ctx, nil)
		require.NoError(t, err)
		time.Sleep(300 * time.Millisecond)
		require.Equal(t, []ulid.ULID{b0.ULID}, sg.Loaded("t1"))
		require.NoError(t, q.Close())
		require.Eventually(t, func() bool {
			return len(sg.Loaded("t1")) == 0 && len(localBlocks(t, cfg.Dir)) == 0
		}, 5*time.Second, 10*time.Millisecond)
		require.Equal(t, 1.0, testutil.ToFloat64(sg.m.unloads.WithLabelValues(reasonIdle)))
		require.Equal(t, 0.0, testutil.ToFloat64(sg.m.blocksLoaded))
		// It loads again on demand.
		got, _ := query(t, sg, "t1", 0, hour)
		require.Equal(t, f.reference("t1", 0, hour, nil), got)
	})

	t.Run("bounded", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.MaxLoadedBlocks = 1
		sg := newSG(t, cfg, f.bkt)
		query(t, sg, "t1", 0, hour)
		query(t, sg, "t1", 3*hour, 4*hour)
		require.Equal(t, []ulid.ULID{b1.ULID}, sg.Loaded("t1"))
		require.Equal(t, 1.0, testutil.ToFloat64(sg.m.unloads.WithLabelValues(reasonEvicted)))
		// A query of both blocks holds both, beyond the soft bound.
		got, queried := query(t, sg, "t1", 0, 4*hour)
		require.Equal(t, ids(b0, b1), queried)
		require.Equal(t, f.reference("t1", 0, 4*hour, nil), got)
		require.Len(t, sg.Loaded("t1"), 1)
	})

	t.Run("gone from the index", func(t *testing.T) {
		f := newFixture(t)
		c0 := f.addBlock("t1", 0, 2*hour)
		c1 := f.addBlock("t1", 2*hour, 4*hour)
		f.writeIndex("t1")
		cfg := testConfig(t)
		cfg.SyncInterval = 50 * time.Millisecond
		sg := newSG(t, cfg, f.bkt)
		query(t, sg, "t1", 0, 4*hour)
		require.ElementsMatch(t, []ulid.ULID{c0.ULID, c1.ULID}, sg.Loaded("t1"))
		// The compactor marks c0 for deletion long ago.
		f.writeIndex("t1", bucketindex.DeletionMark{ID: c0.ULID, DeletionTime: time.Now().Add(-2 * time.Hour).Unix(), Version: 1})
		require.Eventually(t, func() bool {
			return slices.Equal(sg.Loaded("t1"), []ulid.ULID{c1.ULID}) &&
				slices.Equal(localBlocks(t, cfg.Dir), []string{"t1/" + c1.ULID.String()})
		}, 5*time.Second, 10*time.Millisecond)
		require.Equal(t, 1.0, testutil.ToFloat64(sg.m.unloads.WithLabelValues(reasonGone)))
		_, queried := query(t, sg, "t1", 0, 4*hour)
		require.Equal(t, []ulid.ULID{c1.ULID}, queried)
	})
}

func TestConfig(t *testing.T) {
	cfg := testConfig(t)
	require.NoError(t, cfg.Validate())
	for _, bad := range []func(*Config){
		func(c *Config) { c.Dir = "" },
		func(c *Config) { c.SyncInterval = 0 },
		func(c *Config) { c.MaxConcurrentLoads = 0 },
		func(c *Config) { c.IdleTimeout = 0 },
		func(c *Config) { c.MaxLoadedBytes = -1 },
		func(c *Config) { c.SeriesHashCacheMaxBytes = -1 },
	} {
		c := cfg
		bad(&c)
		require.Error(t, c.Validate())
	}
}

func TestCleansStaleDirectories(t *testing.T) {
	cfg := testConfig(t)
	id := ulid.MustNew(1, nil)
	stale := filepath.Join(cfg.Dir, "t1", id.String()+".tmp-3")
	require.NoError(t, os.MkdirAll(stale, 0o755))
	keep := filepath.Join(cfg.Dir, "t1", "not-a-block")
	require.NoError(t, os.MkdirAll(keep, 0o755))
	newSG(t, cfg, newFixture(t).bkt)
	_, err := os.Stat(stale)
	require.True(t, os.IsNotExist(err))
	_, err = os.Stat(keep)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(stale, cfg.Dir))
}

// TestReplicaBlocksAreMerged: the RF copies of a block that the compactor
// has not merged yet are read as one, each sample once.
func TestReplicaBlocksAreMerged(t *testing.T) {
	f := newFixture(t)
	a := f.addBlock("t1", 0, 2*hour)
	f.addBlock("t1", 0, 2*hour) // a second replica's copy
	sg := newSG(t, testConfig(t), f.bkt)
	want := f.reference("t1", 0, 2*hour, func(id ulid.ULID) bool { return id == a.ULID })
	got, queried := query(t, sg, "t1", 0, 2*hour)
	require.Len(t, queried, 2)
	require.Equal(t, want, got)

	cq, err := sg.ChunkQuerier("t1", 0, 2*hour)
	require.NoError(t, err)
	defer cq.Close()
	require.Equal(t, want, collect(t, storage.NewSeriesSetFromChunkSeriesSet(cq.Select(context.Background(), true, nil, all))))
}

// TestConcurrentQueriesLoadOnce: queries of a block that is loading wait
// for the one load.
func TestConcurrentQueriesLoadOnce(t *testing.T) {
	f := newFixture(t)
	f.addBlock("t1", 0, 2*hour)
	sg := newSG(t, testConfig(t), f.bkt)
	want := f.reference("t1", 0, 2*hour, nil)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			q, err := sg.Querier("t1", 0, 2*hour)
			if err != nil {
				errs <- err
				return
			}
			defer q.Close()
			ss := q.Select(context.Background(), true, nil, all)
			n := 0
			for ss.Next() {
				n++
			}
			if ss.Err() == nil && n != len(want) {
				errs <- fmt.Errorf("got %d series, want %d", n, len(want))
				return
			}
			errs <- ss.Err()
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	require.Equal(t, 1.0, testutil.ToFloat64(sg.m.loads))
	require.Equal(t, 1.0, testutil.ToFloat64(sg.m.cacheMisses))
	require.Equal(t, 7.0, testutil.ToFloat64(sg.m.cacheHits))
}

// TestLoadFailure: a block that cannot be loaded fails the query (it is
// never skipped silently) and is retried by a later query. A complete
// block without its index is corrupt: the error names it with
// err-weft-corrupt-block, and for corruptRetryInterval queries fail at
// once without loading it again.
func TestLoadFailure(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b := f.addBlock("t1", 0, 2*hour)
	f.writeIndex("t1")
	idx := path.Join("t1", b.ULID.String(), "index")
	r, err := f.bkt.Get(ctx, idx)
	require.NoError(t, err)
	saved := t.TempDir() + "/index"
	out, err := os.Create(saved)
	require.NoError(t, err)
	_, err = out.ReadFrom(r)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	require.NoError(t, r.Close())
	require.NoError(t, f.bkt.Delete(ctx, idx))

	var offset atomic.Int64
	sg, err := New(testConfig(t), f.bkt, nil, nil, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	sg.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	require.NoError(t, services.StartAndAwaitRunning(ctx, sg))
	t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), sg)) })
	q, err := sg.Querier("t1", 0, 2*hour)
	require.NoError(t, err)
	ss := q.Select(ctx, true, nil, all)
	require.False(t, ss.Next())
	require.Error(t, ss.Err())
	require.Equal(t, wire.KindInternal, wire.KindOf(ss.Err()))
	require.ErrorContains(t, ss.Err(), b.ULID.String())
	require.ErrorContains(t, ss.Err(), wire.ErrIDCorruptBlock)
	require.NoError(t, q.Close())
	require.Equal(t, 1.0, testutil.ToFloat64(sg.m.loadFailures))
	require.Equal(t, 1.0, testutil.ToFloat64(sg.m.corruptBlocks.WithLabelValues(sectionHeader)))
	for range 3 {
		q, err := sg.Querier("t1", 0, 2*hour)
		require.NoError(t, err)
		ss := q.Select(ctx, true, nil, all)
		require.False(t, ss.Next())
		require.ErrorContains(t, ss.Err(), wire.ErrIDCorruptBlock)
		require.NoError(t, q.Close())
	}
	require.Equal(t, 1.0, testutil.ToFloat64(sg.m.loads), "a corrupt block is not loaded again at once")
	require.Empty(t, sg.Loaded("t1"))

	in, err := os.Open(saved)
	require.NoError(t, err)
	require.NoError(t, f.bkt.Upload(ctx, idx, in))
	require.NoError(t, in.Close())
	offset.Store(int64(corruptRetryInterval))
	got, queried := query(t, sg, "t1", 0, 2*hour)
	require.Equal(t, []ulid.ULID{b.ULID}, queried)
	require.Equal(t, f.reference("t1", 0, 2*hour, nil), got)
}
