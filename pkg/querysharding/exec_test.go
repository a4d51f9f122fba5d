package querysharding

import (
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

// A result series whose values change kind is served in the order of
// time, floats and histograms interleaved, and Seek finds each.
func TestPointIterator(t *testing.T) {
	h := &histogram.FloatHistogram{Count: 3, Sum: 1}
	s := &pointSeries{
		lset: labels.FromStrings("a", "b"),
		fs:   []promql.FPoint{{T: 1, F: 1}, {T: 4, F: 4}},
		hs:   []promql.HPoint{{T: 2, H: h}, {T: 3, H: h}, {T: 5, H: h}},
	}
	it := s.Iterator(nil)
	var got []int64
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		got = append(got, it.AtT())
		if vt == chunkenc.ValFloatHistogram {
			_, fh := it.AtFloatHistogram(nil)
			require.Equal(t, h, fh)
			require.NotSame(t, h, fh, "a copy: the engine may change it")
		} else {
			_, f := it.At()
			require.Equal(t, float64(it.AtT()), f)
		}
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5}, got)
	require.Equal(t, chunkenc.ValNone, it.Next())

	it = s.Iterator(it)
	require.Equal(t, chunkenc.ValFloat, it.Seek(4))
	require.Equal(t, chunkenc.ValFloat, it.Seek(2), "never backwards")
	require.Equal(t, chunkenc.ValFloatHistogram, it.Seek(5))
	require.Equal(t, chunkenc.ValNone, it.Seek(6))
}
