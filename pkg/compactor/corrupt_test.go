package compactor

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// rewrite replaces the bucket object name (a file under the env's root)
// with what f makes of it.
func (e *env) rewrite(name string, f func([]byte) []byte) {
	e.t.Helper()
	p := filepath.Join(e.root, filepath.FromSlash(name))
	b, err := os.ReadFile(p)
	require.NoError(e.t, err)
	require.NoError(e.t, os.WriteFile(p, f(b), 0o644))
}

// indexFirstSeries returns where the first series entry of an index
// starts: at its series section (the second offset of its table of
// contents, the 52 bytes at its end) rounded up to 16, as entries are
// aligned.
func indexFirstSeries(b []byte) int {
	toc := b[len(b)-indexTOCLen:]
	return (int(binary.BigEndian.Uint64(toc[8:16])) + 15) / 16 * 16
}

const indexTOCLen = 6*8 + 4

func flip(b []byte, at int) []byte {
	b[at] ^= 0xff
	return b
}

// TestCorruptBlocksAreMarkedAndSkipped: each way a block can fail to read
// back (truncated index, a flipped byte in a series entry or in a chunk, a
// missing chunk segment, a meta.json that does not parse) gets the block a
// no-compact mark with its reason, once; the run succeeds; the healthy
// replica of each range and the other tenant's blocks are compacted as
// usual, losing nothing; the bucket index records the marks.
func TestCorruptBlocksAreMarkedAndSkipped(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	var logs syncBuffer
	e.c.logger = slog.New(slog.NewTextHandler(&logs, nil))
	d0 := e.dayStart(3)
	type tc struct {
		name    string
		reason  string
		corrupt func(prefix string)
	}
	cases := []tc{
		{"truncated-index", bucketindex.NoCompactCorruptIndex, func(p string) {
			e.rewrite(p+"/index", func(b []byte) []byte { return b[:len(b)/2] })
		}},
		{"flipped-series", bucketindex.NoCompactCorruptIndex, func(p string) {
			e.rewrite(p+"/index", func(b []byte) []byte { return flip(b, indexFirstSeries(b)+3) })
		}},
		{"flipped-chunk", bucketindex.NoCompactCorruptChunks, func(p string) {
			e.rewrite(p+"/chunks/000001", func(b []byte) []byte { return flip(b, chunks.SegmentHeaderSize+4) })
		}},
		{"missing-segment", bucketindex.NoCompactCorruptChunks, func(p string) {
			require.NoError(t, e.bkt.Delete(ctx, p+"/chunks/000001"))
		}},
		{"garbage-meta", bucketindex.NoCompactCorruptMeta, func(p string) {
			e.rewrite(p+"/meta.json", func([]byte) []byte { return []byte("{\"ulid\": garbage") })
		}},
	}
	var healthy []series
	bad := map[ulid.ULID]string{}
	var ids []ulid.ULID
	for i, c := range cases {
		from := d0 + int64(i)*2*hour
		s := span("m", from, from+2*hour, 60_000, "case", c.name)
		healthy = append(healthy, s)
		id := e.uploadBlock("t1", "ing-1", from, from+2*hour, s)
		// Its healthy replicas, which are still compacted together.
		e.uploadBlock("t1", "ing-2", from, from+2*hour, s)
		e.uploadBlock("t1", "ing-3", from, from+2*hour, s)
		bad[id] = c.reason
		ids = append(ids, id)
	}
	other := span("m", d0, d0+2*hour, 60_000)
	e.uploadBlock("t2", "ing-1", d0, d0+2*hour, other)
	e.uploadBlock("t2", "ing-2", d0, d0+2*hour, other)

	// The index lists every block before they go bad: the block whose
	// meta.json goes bad keeps its entry there.
	require.NoError(t, e.c.Cleanup(ctx))
	for i, c := range cases {
		c.corrupt(bucketindex.BlockPath("t1", ids[i]))
	}
	e.c.metaMu.Lock()
	clear(e.c.metaCache)
	e.c.metaMu.Unlock()

	e.runOnce()
	for id, reason := range bad {
		m, err := bucketindex.ReadNoCompactMark(ctx, e.bkt, "t1", id)
		require.NoError(t, err)
		require.NotNil(t, m, "block %s (%s) has no no-compact mark; cases: %v", id, reason, ids)
		require.Equal(t, reason, m.Reason, "block %s: %s", id, m.Details)
		require.NotEmpty(t, m.Details)
		require.Contains(t, logs.String(), "block="+id.String(), "the mark is logged")
		dm, err := bucketindex.ReadDeletionMark(ctx, e.bkt, "t1", id)
		require.NoError(t, err)
		require.Nil(t, dm, "a corrupt block is left for the operator, not deleted")
	}
	for _, r := range []string{bucketindex.NoCompactCorruptIndex, bucketindex.NoCompactCorruptChunks} {
		require.Equal(t, 2.0, testutil.ToFloat64(e.c.m.noCompact.WithLabelValues(r)), r)
	}
	require.Equal(t, 1.0, testutil.ToFloat64(e.c.m.noCompact.WithLabelValues(bucketindex.NoCompactCorruptMeta)))
	require.Zero(t, testutil.ToFloat64(e.c.m.runsFailed))
	require.Contains(t, logs.String(), "marked it as not to compact")

	// The healthy replicas were compacted (vertically, then perhaps
	// horizontally), with all their samples, as was the other tenant.
	live, _ := e.blocks("t1")
	got := map[string][]int64{}
	for _, m := range live {
		if _, isBad := bad[m.ULID]; isBad {
			continue
		}
		require.Greater(t, m.Compaction.Level, 1, "healthy blocks are compacted")
		require.Greater(t, m.Compaction.Level, 1, "healthy blocks are compacted")
		for k, v := range e.samples("t1", m.ULID) {
			got[k] = append(got[k], v...)
		}
	}
	require.Equal(t, want(healthy...), got)
	live2, _ := e.blocks("t2")
	require.Len(t, live2, 1)
	require.Equal(t, want(other), e.samples("t2", live2[0].ULID))

	// The index records every mark, and still lists the block whose
	// meta.json does not parse, with the range it had.
	idx := e.index("t1")
	require.Len(t, idx.BlockNoCompactMarks, len(bad))
	listed := map[ulid.ULID]bool{}
	for _, b := range idx.Blocks {
		listed[b.ID] = true
	}
	for id := range bad {
		require.True(t, listed[id], "block %s is in the index", id)
	}

	// Later runs neither mark again nor fail.
	e.advance(time.Hour)
	e.runOnce()
	e.runOnce()
	require.Equal(t, 2.0, testutil.ToFloat64(e.c.m.noCompact.WithLabelValues(bucketindex.NoCompactCorruptIndex)))
	require.Zero(t, testutil.ToFloat64(e.c.m.runsFailed))

	// Deleting a corrupt block (the repair docs/compactor.md describes)
	// takes it out of the index at the next run.
	for id, reason := range bad {
		if reason != bucketindex.NoCompactCorruptMeta {
			continue
		}
		for _, name := range e.objects(bucketindex.BlockPath("t1", id) + "/") {
			require.NoError(t, e.bkt.Delete(ctx, name))
		}
		e.runOnce()
		require.Len(t, e.index("t1").BlockNoCompactMarks, len(bad)-1)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger
// (compaction jobs run in parallel).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
