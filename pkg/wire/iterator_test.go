package wire

import (
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
)

// got is a sample as an iterator answers it: a float's value, or a
// histogram's count and counter-reset hint.
type got struct {
	t    int64
	v    float64
	hint histogram.CounterResetHint
}

func at(t *testing.T, it chunkenc.Iterator, vt chunkenc.ValueType) got {
	t.Helper()
	switch vt {
	case chunkenc.ValFloat:
		ts, v := it.At()
		return got{t: ts, v: v}
	case chunkenc.ValHistogram:
		ts, h := it.AtHistogram(nil)
		return got{t: ts, v: float64(h.Count), hint: h.CounterResetHint}
	case chunkenc.ValFloatHistogram:
		ts, h := it.AtFloatHistogram(nil)
		return got{t: ts, v: h.Count, hint: h.CounterResetHint}
	}
	t.Fatalf("no sample: %v", it.Err())
	return got{}
}

func drain(t *testing.T, it chunkenc.Iterator) []got {
	t.Helper()
	var out []got
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		out = append(out, at(t, it, vt))
	}
	require.NoError(t, it.Err())
	return out
}

// histogramChunks returns three chunks of ten histograms each, at 0-9,
// 10-19 and 20-29; the third starts with a counter reset.
func histogramChunks(t *testing.T) []chunks.Meta {
	var out []chunks.Meta
	for c := range 3 {
		chk := chunkenc.NewHistogramChunk()
		app, err := chk.Appender()
		require.NoError(t, err)
		for i := range 10 {
			ts := int64(c*10 + i)
			h := tsdbutil.GenerateTestHistogram(ts)
			if c == 2 {
				h = tsdbutil.GenerateTestHistogram(int64(i))
			}
			_, _, app, err = app.(*chunkenc.HistogramAppender).AppendHistogram(nil, 0, ts, h, true)
			require.NoError(t, err)
		}
		out = append(out, chunks.Meta{MinTime: int64(c * 10), MaxTime: int64(c*10 + 9), Chunk: chk})
	}
	return out
}

// floatChunk returns a chunk of floats valued as their time, at ts.
func floatChunk(t *testing.T, ts ...int64) chunks.Meta {
	chk := chunkenc.NewXORChunk()
	app, err := chk.Appender()
	require.NoError(t, err)
	for _, x := range ts {
		app.Append(0, x, float64(x))
	}
	return chunks.Meta{MinTime: ts[0], MaxTime: ts[len(ts)-1], Chunk: chk}
}

// each returns what the chunks' own iterators answer in [mint, maxt]: the
// TSDB's own querier answers that.
func each(t *testing.T, chks []chunks.Meta, mint, maxt int64) []got {
	var out []got
	for _, c := range chks {
		for _, g := range drain(t, c.Chunk.Iterator(nil)) {
			if g.t >= mint && g.t <= maxt {
				out = append(out, g)
			}
		}
	}
	return out
}

func newRangeIterator(chks []chunks.Meta, mint, maxt int64) *rangeIterator {
	it := &rangeIterator{}
	it.reset(chks, mint, maxt)
	return it
}

// Chunks are read one after the other, each sample with the hint its
// chunk gives it, and only the samples in the range.
func TestRangeIteratorKeepsHintsAcrossChunks(t *testing.T) {
	chks := histogramChunks(t)
	all := each(t, chks, 0, 29)
	// The TSDB's chunks answer "unknown" for the first histogram of each
	// chunk and "not reset" for the others.
	require.Equal(t, histogram.UnknownCounterReset, all[10].hint)
	require.Equal(t, histogram.NotCounterReset, all[11].hint)
	require.Less(t, all[20].v, all[19].v, "the third chunk starts with a reset")

	for _, r := range [][2]int64{{0, 29}, {3, 25}, {10, 19}, {9, 10}, {12, 12}, {-5, 100}, {30, 40}, {-5, -1}} {
		require.Equal(t, each(t, chks, r[0], r[1]), drain(t, newRangeIterator(chks, r[0], r[1])), "range %v", r)
	}
}

func TestRangeIteratorSeek(t *testing.T) {
	chks := histogramChunks(t)
	all := each(t, chks, 0, 29)
	it := newRangeIterator(chks, 3, 25)
	seek := func(ts int64, want int) {
		t.Helper()
		vt := it.Seek(ts)
		if want < 0 {
			require.Equal(t, chunkenc.ValNone, vt, "seek %d", ts)
			return
		}
		require.Equal(t, all[want], at(t, it, vt), "seek %d", ts)
	}
	seek(0, 3) // not before the range
	seek(2, 3)
	seek(12, 12) // the middle of the second chunk: "not reset"
	seek(5, 12)  // no going back
	require.Equal(t, all[13], at(t, it, it.Next()))
	seek(20, 20) // the third chunk's first sample
	seek(23, 23)
	seek(26, -1) // beyond the range
	require.Equal(t, chunkenc.ValNone, it.Next())
	require.Equal(t, chunkenc.ValNone, it.Seek(0), "an exhausted iterator stays so")

	// A seek as the first move, skipping whole chunks.
	it = newRangeIterator(chks, 0, 29)
	seek(20, 20)
	require.Equal(t, all[21:], drain(t, it))
	it = newRangeIterator(chks, 0, 29)
	seek(19, 19)
	require.Equal(t, all[20], at(t, it, it.Next()), "the next chunk after the last of one")
}

// Chunks that overlap (out-of-order data) are merged, each timestamp once,
// and trimmed too.
func TestRangeIteratorOverlappingChunks(t *testing.T) {
	chks := []chunks.Meta{floatChunk(t, 0, 2, 4, 6, 8), floatChunk(t, 3, 4, 5), floatChunk(t, 10, 11)}
	want := func(ts ...int64) []got {
		var out []got
		for _, x := range ts {
			out = append(out, got{t: x, v: float64(x)})
		}
		return out
	}
	require.Equal(t, want(0, 2, 3, 4, 5, 6, 8, 10, 11), drain(t, newRangeIterator(chks, 0, 100)))
	require.Equal(t, want(3, 4, 5, 6, 8, 10), drain(t, newRangeIterator(chks, 3, 10)))
	it := newRangeIterator(chks, 1, 10)
	require.Equal(t, got{t: 5, v: 5}, at(t, it, it.Seek(5)))
	require.Equal(t, got{t: 10, v: 10}, at(t, it, it.Seek(9)))
	require.Equal(t, chunkenc.ValNone, it.Next())
}

// A series' iterator reuses the one it is given, whatever that iterated.
func TestRangeIteratorReuse(t *testing.T) {
	hist := histogramChunks(t)
	floats := []chunks.Meta{floatChunk(t, 0, 1, 2), floatChunk(t, 3, 4)}
	overlapping := []chunks.Meta{floatChunk(t, 0, 2), floatChunk(t, 1, 3)}
	var it chunkenc.Iterator
	for _, c := range []struct {
		chks       []chunks.Meta
		mint, maxt int64
		want       []got // nil: as each answers
	}{
		{hist, 5, 25, nil},
		{floats, 1, 3, nil},
		{overlapping, 0, 3, []got{{t: 0}, {t: 1, v: 1}, {t: 2, v: 2}, {t: 3, v: 3}}},
		{hist, 0, 29, nil},
		{floats, 0, 10, nil},
	} {
		s := &sampleSeries{chks: c.chks, mint: c.mint, maxt: c.maxt}
		it = s.Iterator(it)
		want := c.want
		if want == nil {
			want = each(t, c.chks, c.mint, c.maxt)
		}
		require.Equal(t, want, drain(t, it))
	}
	require.Empty(t, drain(t, (&sampleSeries{}).Iterator(it)), "a series without chunks")
}
