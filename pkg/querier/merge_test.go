package querier

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
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
	} {
		b.Run(c.name, func(b *testing.B) {
			const samples = 240
			reps := benchReplicas(b, 2, c.n, samples, c.hist)
			var (
				it  chunkenc.Iterator
				h   *histogram.Histogram
				got int
			)
			b.ReportAllocs()
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
						for t := int64(0); it.Seek(t) != chunkenc.ValNone; t += 4 * 15000 {
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
