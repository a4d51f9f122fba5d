package storegateway

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"
)

// TestSampledPostingsTable checks the header's lookups, which decode the
// table between in-memory samples, against Prometheus' own index reader of
// the same block: every value of every label name, values the block lacks
// (before the first, between two, after the last, at and around the
// sample boundaries), duplicates and unsorted input.
func TestSampledPostingsTable(t *testing.T) {
	ctx := context.Background()
	bkt := newFixture(t).bkt
	local := bigBlock(t, bkt, false)
	ir, err := local.Index()
	require.NoError(t, err)
	defer ir.Close()

	name := "t1/" + local.Meta().ULID.String() + "/index"
	attrs, err := bkt.Attributes(ctx, name)
	require.NoError(t, err)
	h, err := buildIndexHeader(ctx, bkt, name, attrs.Size, filepath.Join(t.TempDir(), "index-header"))
	require.NoError(t, err)
	defer h.close()
	rc, err := bkt.Get(ctx, name)
	require.NoError(t, err)
	indexBytes, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())

	// The postings of ref, decoded from the index, as series refs.
	list := func(ref postingsRef) []storage.SeriesRef {
		p, err := decodePostings(indexBytes[ref.start:ref.end])
		require.NoError(t, err)
		out, err := index.ExpandPostings(p)
		require.NoError(t, err)
		return out
	}
	want := func(name, value string) []storage.SeriesRef {
		p, err := ir.Postings(ctx, name, value)
		require.NoError(t, err)
		out, err := index.ExpandPostings(p)
		require.NoError(t, err)
		return out
	}

	names, err := ir.LabelNames(ctx)
	require.NoError(t, err)
	require.Equal(t, names, h.labelNames())
	sampled := 0
	for _, n := range names {
		values, err := ir.SortedLabelValues(ctx, n, nil)
		require.NoError(t, err)
		got, err := h.labelValues(n)
		require.NoError(t, err)
		require.Equal(t, values, got, n)
		if len(values) > 2*postingsSampling {
			sampled++
		}

		// Every value alone, and all at once in reverse order.
		for _, v := range values {
			refs, err := h.postingsFor(n, []string{v})
			require.NoError(t, err)
			require.Len(t, refs, 1, "%s=%q", n, v)
			require.Equal(t, v, refs[0].value)
			require.Equal(t, want(n, v), list(refs[0]), "%s=%q", n, v)
		}
		rev := slices.Clone(values)
		slices.Reverse(rev)
		refs, err := h.postingsFor(n, rev)
		require.NoError(t, err)
		require.Len(t, refs, len(values))
		for i, ref := range refs {
			require.Equal(t, values[i], ref.value)
		}

		// Values the block lacks, mixed with some it has.
		var asked, have []string
		for i := 0; i < len(values); i += postingsSampling / 2 {
			asked = append(asked, values[i]+"\x00", values[i], values[i]) // just after, and twice
			have = append(have, values[i])
		}
		asked = append(asked, "", values[0][:len(values[0])-1], values[len(values)-1]+"~", "\xff")
		refs, err = h.postingsFor(n, asked)
		require.NoError(t, err)
		var gotValues []string
		for _, ref := range refs {
			gotValues = append(gotValues, ref.value)
			require.Equal(t, want(n, ref.value), list(ref))
		}
		require.Equal(t, have, gotValues, n)

		matched, err := h.postingsMatching(n, func(v string) bool { return len(v)%2 == 0 })
		require.NoError(t, err)
		var wantMatched []string
		for _, v := range values {
			if len(v)%2 == 0 {
				wantMatched = append(wantMatched, v)
			}
		}
		gotValues = gotValues[:0]
		for _, ref := range matched {
			gotValues = append(gotValues, ref.value)
		}
		require.Equal(t, wantMatched, append([]string(nil), gotValues...), n)
	}
	require.GreaterOrEqual(t, sampled, 2, "the block must have labels with many samples")

	refs, err := h.postingsFor("nope", []string{"x"})
	require.NoError(t, err)
	require.Empty(t, refs)
	values, err := h.labelValues("nope")
	require.NoError(t, err)
	require.Empty(t, values)

	// Memory keeps one value in postingsSampling.
	for n, s := range h.postings {
		require.Len(t, s.values, (s.count+postingsSampling-1)/postingsSampling, n)
	}
}

// TestSymbolTable checks the header's symbol table against Prometheus'
// own index reader of the same block: every symbol in order, each symbol's
// number, and an error past the last.
func TestSymbolTable(t *testing.T) {
	ctx := context.Background()
	bkt := newFixture(t).bkt
	local := bigBlock(t, bkt, false)
	ir, err := local.Index()
	require.NoError(t, err)
	defer ir.Close()

	name := "t1/" + local.Meta().ULID.String() + "/index"
	attrs, err := bkt.Attributes(ctx, name)
	require.NoError(t, err)
	h, err := buildIndexHeader(ctx, bkt, name, attrs.Size, filepath.Join(t.TempDir(), "index-header"))
	require.NoError(t, err)
	defer h.close()

	var want, got []string
	for it := ir.Symbols(); it.Next(); {
		want = append(want, it.At())
	}
	it := h.symbols.iter()
	for it.Next() {
		got = append(got, it.At())
	}
	require.NoError(t, it.Err())
	require.Greater(t, len(want), 2000)
	require.Equal(t, want, got)
	for i, s := range want {
		l, err := h.symbols.lookup(uint32(i))
		require.NoError(t, err)
		require.Equal(t, s, l)
	}
	_, err = h.symbols.lookup(uint32(len(want)))
	require.Error(t, err)

	// Label sets decoded through the table are Prometheus' own.
	p, err := ir.Postings(ctx, "", "")
	require.NoError(t, err)
	dec := index.Decoder{LookupSymbol: func(_ context.Context, o uint32) (string, error) { return h.symbols.lookup(o) }}
	rc, err := bkt.Get(ctx, name)
	require.NoError(t, err)
	indexBytes, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	var wb, gb labels.ScratchBuilder
	n := 0
	for p.Next() {
		require.NoError(t, ir.Series(p.At(), &wb, nil))
		d := encoding.NewDecbufUvarintAt(realByteSlice(indexBytes), int(p.At())*16, castagnoli)
		require.NoError(t, d.Err())
		require.NoError(t, dec.Series(d.Get(), &gb, nil))
		require.Equal(t, wb.Labels(), gb.Labels())
		n++
	}
	require.NoError(t, p.Err())
	require.Equal(t, 2020, n)
}

type realByteSlice []byte

func (b realByteSlice) Len() int                    { return len(b) }
func (b realByteSlice) Range(start, end int) []byte { return b[start:end] }
