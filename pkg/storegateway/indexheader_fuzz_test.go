package storegateway

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

// fuzzIndex writes a small TSDB index of n series with Prometheus' writer
// and returns its bytes.
func fuzzIndex(tb testing.TB, n int) []byte {
	ctx := context.Background()
	fn := filepath.Join(tb.TempDir(), "index")
	var sets []labels.Labels
	for i := range n {
		sets = append(sets, labels.FromStrings(labels.MetricName, "up", "i", fmt.Sprintf("%03d", i), "job", fmt.Sprintf("j%d", i%3)))
	}
	slices.SortFunc(sets, labels.Compare)
	var syms []string
	for _, ls := range sets {
		ls.Range(func(l labels.Label) { syms = append(syms, l.Name, l.Value) })
	}
	slices.Sort(syms)
	syms = slices.Compact(syms)
	w, err := index.NewWriter(ctx, fn)
	require.NoError(tb, err)
	for _, s := range syms {
		require.NoError(tb, w.AddSymbol(s))
	}
	for i, ls := range sets {
		require.NoError(tb, w.AddSeries(storage.SeriesRef(i+1), ls))
	}
	require.NoError(tb, w.Close())
	b, err := os.ReadFile(fn)
	require.NoError(tb, err)
	return b
}

// FuzzIndexHeader builds an index header from arbitrary index bytes, as the
// store-gateway does from a block's index in the bucket, and looks up every
// label. That must never panic, and a header that opens must be
// consistent: its names and values are sorted, every value it lists is
// found by postingsFor and postingsMatching, and every postings range lies
// inside the index.
func FuzzIndexHeader(f *testing.F) {
	for _, n := range []int{0, 1, 40, 100} {
		b := fuzzIndex(f, n)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, index.HeaderLen+indexTOCLen))

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		bkt := objstore.NewInMemBucket()
		require.NoError(t, bkt.Upload(ctx, "index", bytes.NewReader(b)))
		h, err := buildIndexHeader(ctx, bkt, "index", int64(len(b)), filepath.Join(t.TempDir(), "index-header"))
		if err != nil {
			return
		}
		defer h.close()
		names := h.labelNames()
		require.True(t, slices.IsSorted(names))
		for _, name := range h.names {
			values, err := h.labelValues(name)
			if err != nil {
				continue
			}
			require.True(t, slices.IsSorted(values), "values of %q", name)
			refs, err := h.postingsFor(name, values)
			require.NoError(t, err)
			matched, err := h.postingsMatching(name, func(string) bool { return true })
			require.NoError(t, err)
			require.Equal(t, refs, matched)
			require.Len(t, refs, len(slices.Compact(slices.Clone(values))))
			for _, r := range refs {
				require.LessOrEqual(t, int64(0), r.start)
				require.LessOrEqual(t, r.start, r.end)
				require.LessOrEqual(t, r.end, int64(len(b)))
			}
		}
	})
}
