package querier

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"
)

// chunkSeries is a series of one encoded chunk, as the replicas' series
// reach the ring reader from the wire client.
type chunkSeries struct {
	lset labels.Labels
	chk  chunkenc.Chunk
}

func (s chunkSeries) Labels() labels.Labels                           { return s.lset }
func (s chunkSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator { return s.chk.Iterator(it) }

// benchReplicas returns replicas equal copies of n series of samples
// samples each, every 15s, floats or histograms, each in one chunk.
func benchReplicas(tb testing.TB, replicas, n, samples int, hist bool) [][]storage.Series {
	out := make([][]storage.Series, replicas)
	for i := range n {
		ls := labels.FromStrings(labels.MetricName, "m", "instance", fmt.Sprintf("i%05d", i))
		ss := make([]chunks.Sample, 0, samples)
		for j := range samples {
			t := int64(j) * 15000
			if hist {
				ss = append(ss, sampleOf{t: t, h: tsdbutil.GenerateTestHistogram(int64(i + j))})
			} else {
				ss = append(ss, sampleOf{t: t, f: float64(i * j)})
			}
		}
		chk, err := chunks.ChunkFromSamples(ss)
		require.NoError(tb, err)
		for r := range out {
			out[r] = append(out[r], chunkSeries{ls, chk.Chunk})
		}
	}
	return out
}

// benchSplit returns the copies of n float series that the split reader
// merges for a 24 h query, a sample every 2 minutes: the store's for the
// first 13 h and the ingesters' for the last 12, with the hour between
// in both (the store's for the first 12 h only, when the ingesters hold
// that hour's blocks: disjoint), each copy in one chunk.
func benchSplit(tb testing.TB, n int, disjoint bool) [][]storage.Series {
	const every, hour = 120_000, 3_600_000
	out := make([][]storage.Series, 2)
	for i := range n {
		ls := labels.FromStrings(labels.MetricName, "m", "instance", fmt.Sprintf("i%05d", i))
		storeEnd := int64(13 * hour)
		if disjoint {
			storeEnd = 12 * hour
		}
		for r, span := range [][2]int64{{0, storeEnd}, {12 * hour, 24 * hour}} {
			var ss []chunks.Sample
			for t := span[0]; t < span[1]; t += every {
				ss = append(ss, sampleOf{t: t, f: float64(i) * float64(t)})
			}
			chk, err := chunks.ChunkFromSamples(ss)
			require.NoError(tb, err)
			out[r] = append(out[r], chunkSeries{ls, chk.Chunk})
		}
	}
	return out
}

// sampleOf is a chunks.Sample.
type sampleOf struct {
	t  int64
	f  float64
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

func (s sampleOf) T() int64                      { return s.t }
func (s sampleOf) ST() int64                     { return 0 }
func (s sampleOf) F() float64                    { return s.f }
func (s sampleOf) H() *histogram.Histogram       { return s.h }
func (s sampleOf) FH() *histogram.FloatHistogram { return s.fh }
func (s sampleOf) Type() chunkenc.ValueType {
	switch {
	case s.h != nil:
		return chunkenc.ValHistogram
	case s.fh != nil:
		return chunkenc.ValFloatHistogram
	}
	return chunkenc.ValFloat
}
func (s sampleOf) Copy() chunks.Sample { return s }

// BenchmarkReplicaMerge measures the ring reader's merge of the replicas'
// answers (the series merge of every query on the distributed read path):
// two equal replicas, as a quorum read of RF=3 usually gets, iterated
// sample by sample (next) or as the engine's steps do (seek, one sample in
// four).
func BenchmarkReplicaMerge(b *testing.B) {
	for _, c := range []struct {
		name       string
		n          int
		hist, seek bool
	}{
		{"float/next", 1000, false, false},
		{"float/seek", 1000, false, true},
		{"histogram/next", 100, true, false},
		{"histogram/seek", 100, true, true},
		{"split/next", 1000, false, false},
		{"split/seek", 1000, false, true},
		{"disjoint/next", 1000, false, false},
		{"disjoint/seek", 1000, false, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			samples, step := 240, int64(15000)
			reps := benchReplicas(b, 2, c.n, samples, c.hist)
			if split, disjoint := strings.HasPrefix(c.name, "split/"), strings.HasPrefix(c.name, "disjoint/"); split || disjoint {
				samples, step = 720, 120_000
				reps = benchSplit(b, c.n, disjoint)
			}
			var (
				it  chunkenc.Iterator
				h   *histogram.Histogram
				got int
			)
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				sets := make([]storage.SeriesSet, len(reps))
				for r := range reps {
					sets[r] = &listSeriesSet{series: reps[r], i: -1}
				}
				ss := mergeReplicas(sets)
				got = 0
				for ss.Next() {
					it = ss.At().Iterator(it)
					if c.seek {
						for t := int64(0); it.Seek(t) != chunkenc.ValNone; t += 4 * step {
							if c.hist {
								_, h = it.AtHistogram(h)
							}
							got++
						}
					} else {
						for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
							if vt == chunkenc.ValHistogram {
								_, h = it.AtHistogram(h)
							}
							got++
						}
					}
				}
				if ss.Err() != nil {
					b.Fatal(ss.Err())
				}
			}
			want := c.n * samples
			if c.seek {
				want = c.n * samples / 4
			}
			require.Equal(b, want, got)
		})
	}
}

// h is a histogram sample of a replica's copy of a series.
type h struct {
	t    int64
	hint histogram.CounterResetHint
}

const (
	unknown  = histogram.UnknownCounterReset
	reset    = histogram.CounterReset
	notReset = histogram.NotCounterReset
	gauge    = histogram.GaugeType
)

// sampleList is a storage.Samples.
type sampleList []chunks.Sample

func (l sampleList) Get(i int) chunks.Sample { return l[i] }
func (l sampleList) Len() int                { return len(l) }

// copyOf returns replica rep's copy of a series: histograms (float
// histograms when float is set) whose sum is rep, to tell which copy a
// merged sample came from.
func copyOf(rep int, float bool, samples ...h) storage.Series {
	ss := make(sampleList, 0, len(samples))
	for _, s := range samples {
		hist := &histogram.Histogram{Count: uint64(s.t), Sum: float64(rep), CounterResetHint: s.hint}
		if float {
			ss = append(ss, sampleOf{t: s.t, fh: hist.ToFloat(nil)})
		} else {
			ss = append(ss, sampleOf{t: s.t, h: hist})
		}
	}
	return &storage.SeriesEntry{
		Lset: labels.FromStrings(labels.MetricName, "m"),
		SampleIteratorFn: func(chunkenc.Iterator) chunkenc.Iterator {
			return storage.NewListSeriesIteratorWithCopy(ss)
		},
	}
}

// merged is a sample as the merge answers it: its time, the replica it
// came from and its hint.
type merged struct {
	t    int64
	rep  int
	hint histogram.CounterResetHint
}

func mergedAt(t *testing.T, it chunkenc.Iterator, vt chunkenc.ValueType) merged {
	t.Helper()
	switch vt {
	case chunkenc.ValHistogram:
		ts, hist := it.AtHistogram(nil)
		require.Equal(t, ts, it.AtT())
		return merged{ts, int(hist.Sum), hist.CounterResetHint}
	case chunkenc.ValFloatHistogram:
		ts, fh := it.AtFloatHistogram(nil)
		require.Equal(t, ts, it.AtT())
		return merged{ts, int(fh.Sum), fh.CounterResetHint}
	}
	t.Fatalf("not a histogram: %v (%v)", vt, it.Err())
	return merged{}
}

func mergeAll(t *testing.T, it chunkenc.Iterator) []merged {
	t.Helper()
	out := []merged{}
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		out = append(out, mergedAt(t, it, vt))
	}
	require.NoError(t, it.Err())
	return out
}

// Equal copies merge into the copy's samples with their hints, read by
// Next or by Seek, whichever copy answers first and whatever the order of
// the copies.
func TestReplicaMergeKeepsHintsOfEqualCopies(t *testing.T) {
	for _, float := range []bool{false, true} {
		samples := []h{{1, unknown}, {2, notReset}, {3, notReset}, {4, reset}, {5, notReset}, {6, gauge}, {7, unknown}}
		s := mergeReplicaSeries(copyOf(0, float, samples...), copyOf(1, float, samples...), copyOf(2, float, samples...))
		want := make([]merged, len(samples))
		for i, x := range samples {
			want[i] = merged{x.t, 0, x.hint}
		}
		require.Equal(t, want, mergeAll(t, s.Iterator(nil)), "one copy throughout")
		for i := range samples {
			it := s.Iterator(nil)
			require.Equal(t, want[i], mergedAt(t, it, it.Seek(int64(i+1))), "seek to %d", i+1)
			require.Equal(t, want[i+1:], mergeAll(t, it), "and on from there")
		}
		it := s.Iterator(nil)
		for i := range samples {
			require.Equal(t, want[i], mergedAt(t, it, it.Seek(int64(i+1))), "seek after seek to %d", i+1)
			require.Equal(t, want[i], mergedAt(t, it, it.Seek(0)), "a seek back stays")
		}
		require.Equal(t, chunkenc.ValNone, it.Seek(100))
		require.Equal(t, chunkenc.ValNone, it.Next())
	}
}

// A copy that lacks samples (a write that reached a quorum of the
// replicas, not all) is taken only where it has the history of the merge:
// its sample after a gap has a hint relative to an older sample.
func TestReplicaMergeAcrossGaps(t *testing.T) {
	f := func(copies []storage.Series, want ...merged) {
		t.Helper()
		require.Equal(t, want, mergeAll(t, mergeReplicaSeries(copies...).Iterator(nil)))
		// The copies' order does not matter, but for which equal copy
		// answers.
		reversed := make([]storage.Series, len(copies))
		for i, c := range copies {
			reversed[len(copies)-1-i] = c
		}
		got := mergeAll(t, mergeReplicaSeries(reversed...).Iterator(nil))
		for i := range got {
			got[i].rep = 0
		}
		for i := range want {
			want[i].rep = 0
		}
		require.Equal(t, want, got)
	}
	// 1 lacks 2: its hint at 3 is relative to 1, 0 has 2 and 3.
	f([]storage.Series{copyOf(0, false, h{1, unknown}, h{2, notReset}, h{3, notReset}), copyOf(1, false, h{1, unknown}, h{3, reset})},
		merged{1, 0, unknown}, merged{2, 0, notReset}, merged{3, 0, notReset})
	f([]storage.Series{copyOf(1, false, h{1, unknown}, h{3, reset}), copyOf(0, false, h{1, unknown}, h{2, notReset}, h{3, notReset})},
		merged{1, 1, unknown}, merged{2, 0, notReset}, merged{3, 0, notReset})
	// Each lacks one: 1's 3 follows 1 in its copy, not 2; from there on 1
	// has the merge's history.
	f([]storage.Series{copyOf(0, false, h{1, notReset}, h{2, notReset}), copyOf(1, false, h{1, notReset}, h{3, notReset}, h{4, notReset}, h{5, reset})},
		merged{1, 0, notReset}, merged{2, 0, notReset}, merged{3, 1, unknown}, merged{4, 1, notReset}, merged{5, 1, reset})
	// A gauge stays one.
	f([]storage.Series{copyOf(0, false, h{1, gauge}, h{2, gauge}), copyOf(1, false, h{1, gauge}, h{3, gauge})},
		merged{1, 0, gauge}, merged{2, 0, gauge}, merged{3, 1, gauge})
	// The first samples: a copy that starts later did not see the
	// merge's first sample.
	f([]storage.Series{copyOf(0, false, h{1, notReset}, h{3, notReset}), copyOf(1, false, h{2, notReset}, h{3, notReset})},
		merged{1, 0, unknown}, merged{2, 1, unknown}, merged{3, 1, notReset})
}

// Copies that overlap for part of their range, as the split reader's
// store and ingesters: each copy's samples alone are taken as they come,
// with their hints, and the overlap's from the copy that gave the sample
// before; a seek into either part lands there.
func TestReplicaMergeOfSplitCopies(t *testing.T) {
	var store, ing, want []h
	for ts := int64(1); ts <= 20; ts++ {
		hint := notReset
		if ts == 15 {
			hint = reset
		}
		if ts <= 10 {
			store = append(store, h{ts, hint})
		}
		if ts >= 8 {
			ing = append(ing, h{ts, hint})
		}
		want = append(want, h{ts, hint})
	}
	for _, float := range []bool{false, true} {
		for _, copies := range [][]storage.Series{{copyOf(0, float, store...), copyOf(1, float, ing...)}, {copyOf(1, float, ing...), copyOf(0, float, store...)}} {
			got := mergeAll(t, mergeReplicaSeries(copies...).Iterator(nil))
			require.Len(t, got, len(want))
			for i, m := range got {
				w := merged{want[i].t, 1, want[i].hint}
				if m.t <= 10 {
					w.rep = 0 // the store's copy until it ends
				}
				if i == 0 {
					w.hint = unknown // no copy has the whole history
				}
				require.Equal(t, w, m, "sample %d", i)
			}
			for _, ts := range []int64{3, 9, 12, 20} {
				it := mergeReplicaSeries(copies...).Iterator(nil)
				m := mergedAt(t, it, it.Seek(ts))
				require.Equal(t, ts, m.t)
				rest := mergeAll(t, it)
				require.Len(t, rest, int(20-ts))
				for i, r := range rest {
					require.Equal(t, ts+int64(i)+1, r.t)
					require.Equal(t, want[r.t-1].hint, r.hint, "after a seek to %d", ts)
				}
			}
		}
	}
}

// After a Seek the merge has no history to compare with: it keeps a hint
// only when every copy is on the same sample with the same hint.
func TestReplicaMergeSeekWithoutHistory(t *testing.T) {
	seek := func(ts int64, want merged, copies ...storage.Series) {
		t.Helper()
		it := mergeReplicaSeries(copies...).Iterator(nil)
		require.Equal(t, want, mergedAt(t, it, it.Seek(ts)))
	}
	a := copyOf(0, false, h{1, unknown}, h{2, notReset}, h{3, notReset})
	seek(3, merged{3, 0, notReset}, a, copyOf(1, false, h{1, unknown}, h{3, notReset}))
	seek(3, merged{3, 0, unknown}, a, copyOf(1, false, h{1, unknown}, h{3, reset}))
	seek(3, merged{3, 0, unknown}, a, copyOf(1, false, h{1, unknown}, h{2, notReset}))
	seek(3, merged{3, 1, unknown}, copyOf(0, false, h{1, unknown}, h{4, notReset}), copyOf(1, false, h{3, notReset}, h{4, notReset}))
	seek(2, merged{2, 0, notReset}, a)
	// A histogram in one copy, a float histogram in another: not the same.
	seek(2, merged{2, 0, unknown}, a, copyOf(1, false, h{1, unknown}, h{2, notReset}), copyOf(2, true, h{2, notReset}))
}

// A copy's failure is the merge's.
func TestReplicaMergeFails(t *testing.T) {
	boom := errors.New("boom")
	bad := &storage.SeriesEntry{Lset: labels.FromStrings(labels.MetricName, "m"), SampleIteratorFn: func(chunkenc.Iterator) chunkenc.Iterator {
		return errAfter{storage.NewListSeriesIteratorWithCopy(sampleList{sampleOf{t: 1, f: 1}}), boom}
	}}
	good := &storage.SeriesEntry{Lset: labels.FromStrings(labels.MetricName, "m"), SampleIteratorFn: func(chunkenc.Iterator) chunkenc.Iterator {
		return storage.NewListSeriesIteratorWithCopy(sampleList{sampleOf{t: 1, f: 1}, sampleOf{t: 2, f: 2}})
	}}
	it := mergeReplicaSeries(good, bad).Iterator(nil)
	require.Equal(t, chunkenc.ValFloat, it.Next())
	require.Equal(t, chunkenc.ValNone, it.Next())
	require.ErrorIs(t, it.Err(), boom)
	require.Equal(t, chunkenc.ValNone, it.Seek(2))

	it = mergeReplicaSeries(bad, good).Iterator(it)
	require.Equal(t, chunkenc.ValNone, it.Seek(2))
	require.ErrorIs(t, it.Err(), boom)
}

// errAfter is an iterator that fails once its samples are read.
type errAfter struct {
	chunkenc.Iterator
	err error
}

func (e errAfter) Err() error { return e.err }

// A merged series' iterator reuses the one it is given.
func TestReplicaMergeReusesIterators(t *testing.T) {
	samples := []h{{1, unknown}, {2, notReset}}
	var it chunkenc.Iterator
	for _, n := range []int{3, 2, 1, 3} {
		copies := make([]storage.Series, n)
		for i := range copies {
			copies[i] = copyOf(i, false, samples...)
		}
		prev := it
		it = mergeReplicaSeries(copies...).Iterator(it)
		if prev != nil {
			require.Same(t, prev, it)
		}
		require.Equal(t, []merged{{1, 0, unknown}, {2, 0, notReset}}, mergeAll(t, it))
	}
}

// listSeriesSet replays series read into memory.
type listSeriesSet struct {
	series   []storage.Series
	i        int
	warnings annotations.Annotations
}

func (l *listSeriesSet) Next() bool                        { l.i++; return l.i < len(l.series) }
func (l *listSeriesSet) At() storage.Series                { return l.series[l.i] }
func (l *listSeriesSet) Err() error                        { return nil }
func (l *listSeriesSet) Warnings() annotations.Annotations { return l.warnings }

// reportCPU reports the CPU time the process spent per op (cpu-ns/op)
// when the returned function is called: on a shared machine it tells
// versions apart better than the time the benchmark took.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0 := cpu()
	return func() { b.ReportMetric(float64(cpu()-c0)/float64(b.N), "cpu-ns/op") }
}
