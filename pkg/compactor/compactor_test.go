package compactor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// Three replicas with the same samples plus one that misses some: one
// block with every sample exactly once; sources marked, then deleted after
// the deletion delay.
func TestVerticalCompactionDeduplicatesReplicas(t *testing.T) {
	e := newEnv(t, nil)
	mint := e.dayStart(3) + 4*hour
	maxt := mint + 2*hour
	a := span("up", mint, maxt, 15_000, "job", "a")
	b := span("up", mint+1000, maxt, 30_000, "job", "b")
	var sources []string
	for _, ing := range []string{"ingester-1", "ingester-2", "ingester-3"} {
		sources = append(sources, e.uploadBlock("t1", ing, mint, maxt, a, b).String())
	}
	// A replica that missed the first hour of "a" and all of "b".
	sources = append(sources, e.uploadBlock("t1", "ingester-4", mint, maxt, a.without(func(ts int64) bool { return ts < mint+hour })).String())

	e.runOnce()
	live, marked := e.blocks("t1")
	require.Len(t, live, 1)
	require.Len(t, marked, 4)
	out := live[0]
	require.Equal(t, mint, out.MinTime)
	require.Equal(t, maxt, out.MaxTime)
	require.Equal(t, 2, out.Compaction.Level)
	require.Equal(t, &MetaExtension{Tenant: "t1", Source: SourceCompactor}, out.Weft)
	got := e.samples("t1", out.ULID)
	require.Equal(t, want(a, b), got)
	require.Equal(t, uint64(len(a.ts)+len(b.ts)), out.Stats.NumSamples)
	var srcs []string
	for _, s := range out.Compaction.Sources {
		srcs = append(srcs, s.String())
	}
	require.ElementsMatch(t, sources, srcs)
	require.Equal(t, 4.0, testutil.ToFloat64(e.c.m.marked.WithLabelValues(ReasonCompaction)))
	require.Equal(t, 4.0, testutil.ToFloat64(e.c.m.compacted))

	// The index lists the five blocks and the four marks.
	idx := e.index("t1")
	var inBucket, inIndex, markedIDs, marksInIndex []string
	for _, m := range append(live, marked...) {
		inBucket = append(inBucket, m.ULID.String())
	}
	for _, m := range marked {
		markedIDs = append(markedIDs, m.ULID.String())
	}
	for _, b := range idx.Blocks {
		inIndex = append(inIndex, b.ID.String())
		if b.ID == out.ULID {
			require.Equal(t, bucketindex.Block{ID: out.ULID, MinTime: mint, MaxTime: maxt, Level: 2, Sources: out.Compaction.Sources, UploadedAt: b.UploadedAt}, b)
		}
	}
	for _, m := range idx.BlockDeletionMarks {
		marksInIndex = append(marksInIndex, m.ID.String())
	}
	require.ElementsMatch(t, inBucket, inIndex)
	require.ElementsMatch(t, markedIDs, marksInIndex)

	// Not yet past the deletion delay: nothing deleted.
	e.advance(11 * time.Hour)
	e.runOnce()
	live, marked = e.blocks("t1")
	require.Len(t, live, 1)
	require.Len(t, marked, 4)

	e.advance(2 * time.Hour)
	e.runOnce()
	live, marked = e.blocks("t1")
	require.Len(t, live, 1)
	require.Empty(t, marked)
	require.Equal(t, out.ULID, live[0].ULID)
	for _, s := range sources {
		require.Empty(t, e.objects("t1/"+s+"/"), "block %s fully deleted", s)
	}
	require.Equal(t, 4.0, testutil.ToFloat64(e.c.m.deleted))
	idx = e.index("t1")
	require.Len(t, idx.Blocks, 1)
	require.Equal(t, out.ULID, idx.Blocks[0].ID)
	require.Empty(t, idx.BlockDeletionMarks)
	require.Positive(t, testutil.ToFloat64(e.c.m.lastSuccess))
}

// Each replica misses a different part: the union is the answer.
func TestVerticalCompactionMergesDisjointGaps(t *testing.T) {
	e := newEnv(t, nil)
	mint := e.dayStart(2)
	maxt := mint + 2*hour
	a := span("m", mint, maxt, 10_000)
	e.uploadBlock("t1", "ingester-1", mint, maxt, a.without(func(ts int64) bool { return ts < mint+hour }))
	e.uploadBlock("t1", "ingester-2", mint, maxt, a.without(func(ts int64) bool { return ts >= mint+hour }))
	e.uploadBlock("t1", "ingester-3", mint, maxt, a.without(func(ts int64) bool { return ts%20_000 == 0 }))
	e.runOnce()
	live, _ := e.blocks("t1")
	require.Len(t, live, 1)
	require.Equal(t, want(a), e.samples("t1", live[0].ULID))
}

// 2h → 12h → 24h: twelve 2h blocks (two replicas each) of one day become
// one 24h block; a lone block of the newest, incomplete window stays.
func TestHorizontalCompactionLevels(t *testing.T) {
	e := newEnv(t, nil)
	d := e.dayStart(3)
	var all []series
	for i := int64(0); i < 12; i++ {
		s := span("m", d+i*2*hour, d+(i+1)*2*hour, 60_000, "slot", "x")
		e.uploadBlock("t1", "ingester-1", d+i*2*hour, d+(i+1)*2*hour, s)
		e.uploadBlock("t1", "ingester-2", d+i*2*hour, d+(i+1)*2*hour, s)
		all = append(all, s)
	}
	merged := series{lset: all[0].lset}
	for _, s := range all {
		merged.ts = append(merged.ts, s.ts...)
	}
	// The next day has only two blocks: its windows are incomplete and it
	// holds the newest block, so it waits.
	next := d + day
	n1 := span("m", next, next+2*hour, 60_000, "slot", "y")
	n2 := span("m", next+2*hour, next+4*hour, 60_000, "slot", "y")
	e.uploadBlock("t1", "ingester-1", next, next+2*hour, n1)
	e.uploadBlock("t1", "ingester-1", next+2*hour, next+4*hour, n2)

	e.runOnce()
	live, _ := e.blocks("t1")
	require.Len(t, live, 3)
	require.Equal(t, d, live[0].MinTime)
	require.Equal(t, d+day, live[0].MaxTime)
	require.Equal(t, want(merged), e.samples("t1", live[0].ULID))
	require.Equal(t, [2]int64{next, next + 2*hour}, [2]int64{live[1].MinTime, live[1].MaxTime})
	require.Equal(t, [2]int64{next + 2*hour, next + 4*hour}, [2]int64{live[2].MinTime, live[2].MaxTime})
	require.Len(t, live[0].Compaction.Sources, 24)

	// A block of a later window: the first 12h window of the next day is
	// now in the past and is compacted even though it has gaps.
	later := next + 14*hour
	e.uploadBlock("t1", "ingester-1", later, later+2*hour, span("m", later, later+2*hour, 60_000, "slot", "z"))
	e.runOnce()
	live, _ = e.blocks("t1")
	require.Len(t, live, 3)
	require.Equal(t, [2]int64{d, d + day}, [2]int64{live[0].MinTime, live[0].MaxTime})
	require.Equal(t, [2]int64{next, next + 4*hour}, [2]int64{live[1].MinTime, live[1].MaxTime})
	require.Equal(t, want(series{lset: n1.lset, ts: append(append([]int64(nil), n1.ts...), n2.ts...)}), e.samples("t1", live[1].ULID))
	require.Equal(t, [2]int64{later, later + 2*hour}, [2]int64{live[2].MinTime, live[2].MaxTime})
}

func TestPlanHorizontalWindows(t *testing.T) {
	f := func(ranges []int64, spans [][2]int64, want [][]int) {
		t.Helper()
		var bs []*block
		for i, s := range spans {
			b := &block{}
			b.meta.MinTime, b.meta.MaxTime = s[0], s[1]
			b.meta.ULID[15] = byte(i)
			bs = append(bs, b)
		}
		jobs := planHorizontal(bs, ranges)
		var got [][]int
		for _, j := range jobs {
			var g []int
			for _, b := range j.blocks {
				g = append(g, int(b.meta.ULID[15]))
			}
			got = append(got, g)
		}
		require.Equal(t, want, got)
	}
	r := []int64{2, 6, 12}
	// A complete 6-window is compacted; the newest incomplete one waits.
	f(r, [][2]int64{{0, 2}, {2, 4}, {4, 6}, {6, 8}}, [][]int{{0, 1, 2}})
	// An incomplete window before the newest block's start is compacted.
	f(r, [][2]int64{{0, 2}, {4, 6}, {6, 8}}, [][]int{{0, 1}})
	// A lone block is never compacted alone.
	f(r, [][2]int64{{0, 2}, {6, 8}}, nil)
	// Full 6-blocks move on to 12.
	f(r, [][2]int64{{0, 6}, {6, 12}, {12, 14}}, [][]int{{0, 1}})
	// Negative times align down.
	f(r, [][2]int64{{-6, -4}, {-4, -2}, {-2, 0}, {0, 2}}, [][]int{{0, 1, 2}})
}

// The default levels go on to 7 days, but a tenant whose retention is
// under 70 days stops at 24h: blocks of a tenth of the retention at most.
func TestWeekLevel(t *testing.T) {
	e := newEnv(t, retentionOf("short", 30*24*time.Hour), "-compactor.block-ranges=2h,12h,24h,168h")
	// A whole 7-day window, two weeks back, in day blocks.
	w := alignDown(e.base.Add(-14*24*time.Hour).UnixMilli(), 7*day)
	var all series
	for i := int64(0); i < 7; i++ {
		s := span("m", w+i*day, w+(i+1)*day, 600_000)
		all.lset = s.lset
		all.ts = append(all.ts, s.ts...)
		e.uploadBlock("long", "ingester-1", w+i*day, w+(i+1)*day, s)
		e.uploadBlock("short", "ingester-1", w+i*day, w+(i+1)*day, s)
	}
	e.runOnce()
	live, _ := e.blocks("long")
	require.Len(t, live, 1)
	require.Equal(t, [2]int64{w, w + 7*day}, [2]int64{live[0].MinTime, live[0].MaxTime})
	require.Equal(t, want(all), e.samples("long", live[0].ULID))
	live, marked := e.blocks("short")
	require.Len(t, live, 7, "30 days of retention: no blocks over 3 days")
	require.Empty(t, marked)
}

// Retention marks exactly the blocks whose MaxTime is past it, per tenant.
func TestRetention(t *testing.T) {
	e := newEnv(t, retentionOf("t1", 7*24*time.Hour))
	old := e.dayStart(10)
	recent := e.dayStart(3)
	edge := alignDown(e.now().Add(-7*24*time.Hour).UnixMilli(), 2*hour) - 2*hour // ends just before the cutoff
	s := func(from int64) series { return span("m", from, from+2*hour, 60_000) }
	oldID := e.uploadBlock("t1", "ingester-1", old, old+2*hour, s(old))
	edgeID := e.uploadBlock("t1", "ingester-1", edge, edge+2*hour, s(edge))
	e.uploadBlock("t1", "ingester-1", recent, recent+2*hour, s(recent))
	e.uploadBlock("t2", "ingester-1", old, old+2*hour, s(old)) // t2 keeps everything

	e.runOnce()
	_, marked := e.blocks("t1")
	var ids []string
	for _, m := range marked {
		ids = append(ids, m.ULID.String())
	}
	require.ElementsMatch(t, []string{oldID.String(), edgeID.String()}, ids)
	live, _ := e.blocks("t1")
	require.Len(t, live, 1)
	require.Equal(t, recent, live[0].MinTime)
	require.Equal(t, 2.0, testutil.ToFloat64(e.c.m.marked.WithLabelValues(ReasonRetention)))
	live, marked = e.blocks("t2")
	require.Len(t, live, 1)
	require.Empty(t, marked)

	e.advance(13 * time.Hour)
	e.runOnce()
	live, marked = e.blocks("t1")
	require.Len(t, live, 1)
	require.Empty(t, marked)
}

// A delete request removes the matching series, in its range only, from
// the block it touches — rewritten alone — and from blocks compacted later.
func TestDeleteRequest(t *testing.T) {
	e := newEnv(t, nil)
	mint := e.dayStart(2)
	maxt := mint + 2*hour
	a := span("up", mint, maxt, 60_000, "job", "a")
	b := span("up", mint, maxt, 60_000, "job", "b")
	c := span("other", mint, maxt, 60_000, "job", "a")
	old := e.uploadBlock("t1", "ingester-1", mint, maxt, a, b, c)
	// Another tenant with the same series is untouched.
	e.uploadBlock("t2", "ingester-1", mint, maxt, a, b, c)

	ctx := context.Background()
	r1, err := AddDeleteRequest(ctx, e.bkt, "t1", []string{`up{job="a"}`}, mint-day, mint+day, e.now())
	require.NoError(t, err)
	r2, err := AddDeleteRequest(ctx, e.bkt, "t1", []string{`{job="b"}`}, mint, mint+hour-1, e.now())
	require.NoError(t, err)
	_, err = AddDeleteRequest(ctx, e.bkt, "t1", []string{`up{`}, 0, 1, e.now())
	require.ErrorIs(t, err, ErrBadDeleteRequest)
	reqs, err := ListDeleteRequests(ctx, e.bkt, "t1")
	require.NoError(t, err)
	require.Len(t, reqs, 2)

	e.runOnce()
	live, marked := e.blocks("t1")
	require.Len(t, live, 1)
	require.Len(t, marked, 1)
	require.Equal(t, old, marked[0].ULID)
	out := live[0]
	require.Equal(t, 1, out.Compaction.Level, "a rewrite keeps the level")
	require.ElementsMatch(t, []string{r1.ID, r2.ID}, out.Weft.DeletesApplied)
	bLate := b.without(func(ts int64) bool { return ts < mint+hour })
	require.Equal(t, want(bLate, c), e.samples("t1", out.ULID))

	// Applied once: the next run rewrites nothing.
	e.runOnce()
	live2, _ := e.blocks("t1")
	require.Len(t, live2, 1)
	require.Equal(t, out.ULID, live2[0].ULID)

	// A replica shipped late is merged and the deletes apply to it too.
	e.uploadBlock("t1", "ingester-2", mint, maxt, a, b, c)
	e.runOnce()
	live, _ = e.blocks("t1")
	require.Len(t, live, 1)
	require.Equal(t, want(bLate, c), e.samples("t1", live[0].ULID))

	live, _ = e.blocks("t2")
	require.Len(t, live, 1)
	require.Equal(t, want(a, b, c), e.samples("t2", live[0].ULID))
}

// Deleting every series of a block leaves no block at all.
func TestDeleteRequestEmptiesBlock(t *testing.T) {
	e := newEnv(t, nil)
	mint := e.dayStart(2)
	e.uploadBlock("t1", "ingester-1", mint, mint+2*hour, span("up", mint, mint+2*hour, 60_000))
	_, err := AddDeleteRequest(context.Background(), e.bkt, "t1", []string{`up`}, mint, mint+2*hour, e.now())
	require.NoError(t, err)
	e.runOnce()
	live, marked := e.blocks("t1")
	require.Empty(t, live)
	require.Len(t, marked, 1)
}

func TestDeleteSeriesHandler(t *testing.T) {
	e := newEnv(t, nil)
	h := DeleteSeriesHandler(e.bkt, func(r *http.Request) (string, error) { return r.Header.Get("X-Scope-OrgID"), nil }, e.now)
	do := func(method, query string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/prometheus/api/v1/admin/tsdb/delete_series?"+query, nil)
		req.Header.Set("X-Scope-OrgID", "t1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	q := url.Values{"match[]": {`up{job="a"}`, `down`}, "start": {"1700000000"}, "end": {"2023-11-14T23:00:00Z"}}
	require.Equal(t, http.StatusNoContent, do(http.MethodPost, q.Encode()).Code)
	rec := do(http.MethodPost, "start=1")
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Contains(t, rec.Body.String(), `"errorType":"bad_data"`)
	require.Equal(t, http.StatusBadRequest, do(http.MethodPost, "match[]=up{").Code)
	require.Equal(t, http.StatusBadRequest, do(http.MethodPost, "match[]=up&start=x").Code)
	require.Equal(t, http.StatusMethodNotAllowed, do(http.MethodDelete, "").Code)
	// A form body above the bound is refused.
	big := httptest.NewRequest(http.MethodPost, "/prometheus/api/v1/admin/tsdb/delete_series",
		strings.NewReader("match[]=up&x="+strings.Repeat("a", maxDeleteFormBytes)))
	big.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	big.Header.Set("X-Scope-OrgID", "t1")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, big)
	require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	reqs, err := ListDeleteRequests(context.Background(), e.bkt, "t1")
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	require.Equal(t, []string{`up{job="a"}`, `down`}, reqs[0].Selectors)
	require.Equal(t, int64(1700000000_000), reqs[0].MinTime)
	require.Equal(t, time.Date(2023, 11, 14, 23, 0, 0, 0, time.UTC).UnixMilli(), reqs[0].MaxTime)
	rec = do(http.MethodGet, "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), reqs[0].ID)
}

// Two tenants with the same range never mix, and deleting one leaves the
// other whole.
func TestTenantsNeverMixAndTenantDeletion(t *testing.T) {
	e := newEnv(t, nil)
	mint := e.dayStart(2)
	maxt := mint + 2*hour
	sa := span("m", mint, maxt, 60_000, "tenant", "a")
	sb := span("m", mint, maxt, 30_000, "tenant", "b")
	for _, ing := range []string{"ingester-1", "ingester-2"} {
		e.uploadBlock("a", ing, mint, maxt, sa)
		e.uploadBlock("b", ing, mint, maxt, sb)
	}
	// A block of tenant "b" misfiled under "a" is ignored by "a".
	stray := e.uploadBlock("b", "ingester-3", mint, maxt, sb)
	for _, name := range e.objects("b/" + stray.String() + "/") {
		r, err := e.bkt.Get(context.Background(), name)
		require.NoError(t, err)
		require.NoError(t, e.bkt.Upload(context.Background(), "a/"+strings.TrimPrefix(name, "b/"), r))
		r.Close()
	}
	e.runOnce()
	for tn, s := range map[string]series{"a": sa, "b": sb} {
		live, _ := e.blocks(tn)
		require.Len(t, live, 1, tn)
		require.Equal(t, tn, live[0].Weft.Tenant)
		require.Equal(t, want(s), e.samples(tn, live[0].ULID))
	}
	require.Len(t, e.index("a").Blocks, 3, "two sources and their compaction; the stray block is not indexed")
	require.Len(t, e.index("b").Blocks, 4)
	require.NotEmpty(t, e.objects("a/"+stray.String()+"/"), "the stray block is left alone")

	require.NoError(t, e.c.DeleteTenant(context.Background(), "a"))
	require.Empty(t, e.objects("a/"))
	require.NotEmpty(t, e.objects("b/"))
	_, err := bucketindex.Read(context.Background(), e.bkt, "a")
	require.ErrorIs(t, err, bucketindex.ErrNotFound)
	require.Error(t, e.c.DeleteTenant(context.Background(), ""))
	require.Error(t, e.c.DeleteTenant(context.Background(), ".."))

	// Marked tenants are deleted after the tenant deletion delay.
	require.NoError(t, MarkTenantForDeletion(context.Background(), e.bkt, "b", e.now()))
	e.runOnce()
	require.NotEmpty(t, e.objects("b/"))
	e.advance(13 * time.Hour)
	e.runOnce()
	require.Empty(t, e.objects(""))
}

// Blocks without meta.json (uploads in progress) are neither compacted,
// indexed nor deleted; blocks younger than the consistency delay wait.
func TestPartialAndYoungBlocks(t *testing.T) {
	e := newEnv(t, nil, "-compactor.consistency-delay=30m")
	mint := e.dayStart(2)
	maxt := mint + 2*hour
	s := span("m", mint, maxt, 60_000)
	e.uploadBlock("t1", "ingester-1", mint, maxt, s)
	e.uploadBlock("t1", "ingester-2", mint, maxt, s)
	partial := e.uploadBlock("t1", "ingester-3", mint, maxt, s)
	require.NoError(t, e.bkt.Delete(context.Background(), path.Join("t1", partial.String(), "meta.json")))

	e.runOnce()
	live, marked := e.blocks("t1")
	require.Len(t, live, 2, "too young to compact")
	require.Empty(t, marked)
	require.Len(t, e.index("t1").Blocks, 2)

	e.advance(time.Hour)
	e.runOnce()
	live, _ = e.blocks("t1")
	require.Len(t, live, 1)
	require.Equal(t, want(s), e.samples("t1", live[0].ULID))
	e.advance(22 * time.Hour)
	e.runOnce()
	require.NotEmpty(t, e.objects("t1/"+partial.String()+"/"), "a partial upload is left alone")
	require.Len(t, e.index("t1").Blocks, 1)

	// Past -compactor.partial-block-deletion-delay (24h) the abandoned
	// upload is deleted, unless an object of it was written since: a
	// shipper retrying the upload.
	retried := e.uploadBlock("t1", "ingester-4", mint, maxt, s)
	require.NoError(t, e.bkt.Delete(context.Background(), path.Join("t1", retried.String(), "meta.json")))
	e.advance(2 * time.Hour)
	touched := filepath.Join(e.root, "t1", retried.String(), "index")
	require.NoError(t, os.Chtimes(touched, e.now(), e.now()))
	e.runOnce()
	require.Empty(t, e.objects("t1/"+partial.String()+"/"), "an abandoned upload is deleted")
	require.NotEmpty(t, e.objects("t1/"+retried.String()+"/"), "an upload written again since is kept")
	require.Equal(t, 1.0, testutil.ToFloat64(e.c.m.partialDeleted))
	require.Len(t, e.index("t1").Blocks, 1)
}

// A deletion interrupted after meta.json is finished by the next run; a
// block whose sources are all in another block is marked as a duplicate.
func TestInterruptedDeletionAndDuplicates(t *testing.T) {
	e := newEnv(t, nil)
	mint := e.dayStart(2)
	maxt := mint + 2*hour
	s := span("m", mint, maxt, 60_000)
	id := e.uploadBlock("t1", "ingester-1", mint, maxt, s)
	ctx := context.Background()
	require.NoError(t, bucketindex.WriteDeletionMark(ctx, e.bkt, "t1", id, e.now()))
	require.NoError(t, e.bkt.Delete(ctx, path.Join("t1", id.String(), "meta.json")))
	e.advance(13 * time.Hour)
	e.runOnce()
	require.Empty(t, e.objects("t1/"+id.String()+"/"))

	// Compact two replicas, then put one source back unmarked, as if the
	// compactor had died before marking it.
	a := e.uploadBlock("t1", "ingester-1", mint, maxt, s)
	e.uploadBlock("t1", "ingester-2", mint, maxt, s)
	e.runOnce()
	require.NoError(t, e.bkt.Delete(ctx, bucketindex.DeletionMarkPath("t1", a)))
	e.runOnce()
	require.Equal(t, 1.0, testutil.ToFloat64(e.c.m.marked.WithLabelValues(ReasonDuplicate)))
	live, _ := e.blocks("t1")
	require.Len(t, live, 1)
	require.NotEqual(t, a, live[0].ULID)
}

func TestService(t *testing.T) {
	e := newEnv(t, nil)
	mint := e.dayStart(2)
	s := span("m", mint, mint+2*hour, 60_000)
	e.uploadBlock("t1", "ingester-1", mint, mint+2*hour, s)
	e.uploadBlock("t1", "ingester-2", mint, mint+2*hour, s)
	lc := &recordingLifecycler{}
	c, err := New(e.c.cfg, e.bkt, nil, lc, prometheus.NewRegistry(), nil, WithClock(e.now))
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), c))
	require.Equal(t, []string{"activate"}, lc.calls())
	require.Eventually(t, func() bool { return testutil.ToFloat64(c.m.lastSuccess) > 0 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), c))
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), c), "safe twice")
	require.Equal(t, []string{"activate", "leave"}, lc.calls(), "it leaves the ring only once its run stopped")
	live, _ := e.blocks("t1")
	require.Len(t, live, 1)

	// A compactor that was never started stops cleanly.
	c2, err := New(testConfig(t), e.bkt, nil, nil, nil, nil)
	require.NoError(t, err)
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), c2))
}

// recordingLifecycler records the ring transitions a component asks for.
type recordingLifecycler struct {
	mu  sync.Mutex
	log []string
}

func (l *recordingLifecycler) Activate(context.Context) error { l.add("activate"); return nil }
func (l *recordingLifecycler) Leave(context.Context) error    { l.add("leave"); return nil }

func (l *recordingLifecycler) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, s)
}

func (l *recordingLifecycler) calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.log)
}
