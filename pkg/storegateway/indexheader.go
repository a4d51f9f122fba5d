package storegateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/tsdb/fileutil"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/bucket"
)

// indexTOCLen is the size of an index's table of contents: six 8-byte
// offsets and a CRC32 (tsdb/index's own constant is not exported).
const indexTOCLen = 6*8 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// indexHeader is what every query of a block needs from its index: the
// table of contents, the symbols and the postings offset table. It is read
// from the bucket once, when the block is loaded, into one local file
// (mmapped); the series and postings lists, the big parts of an index, stay
// in the bucket and are read by range (remoteIndexReader).
//
// The file holds the index's bytes [0, TOC.Series) (magic, version,
// symbols) followed by [TOC.PostingsTable, size) (postings offset table
// and TOC): two ranges of the index, so a header needs two range reads.
type indexHeader struct {
	size    int64 // of the index object
	version int
	toc     index.TOC
	mm      *fileutil.MmapFile
	symbols *index.Symbols

	// names are the label names, sorted, "" (the all-postings key) first
	// when the block has series.
	names    []string
	postings map[string]*postingsRanges
}

// postingsRanges are the postings lists of one label name: for each value
// (sorted) the byte range of its list in the index.
type postingsRanges struct {
	values []string
	starts []int64
	ends   []int64
}

// find returns the position of value, or -1.
func (p *postingsRanges) find(value string) int {
	i, ok := slices.BinarySearch(p.values, value)
	if !ok {
		return -1
	}
	return i
}

// headerSlice is an index.ByteSlice over a part of the index that starts
// at offset base of the index: Range takes offsets in the index.
type headerSlice struct {
	b    []byte
	base int
	size int // of the whole index
}

func (s headerSlice) Len() int { return s.size }

func (s headerSlice) Range(start, end int) []byte {
	return s.b[start-s.base : end-s.base]
}

// buildIndexHeader reads the header of the index object name, of size
// bytes, into the file path, and opens it.
func buildIndexHeader(ctx context.Context, bkt objstore.BucketReader, name string, size int64, path string) (*indexHeader, error) {
	if size < index.HeaderLen+indexTOCLen {
		return nil, fmt.Errorf("the index is too short (%d bytes)", size)
	}
	tail, err := bucket.ReadRange(ctx, bkt, name, size-indexTOCLen, indexTOCLen)
	if err != nil {
		return nil, err
	}
	toc, err := index.NewTOCFromByteSlice(headerSlice{b: tail, base: int(size - indexTOCLen), size: int(size)})
	if err != nil {
		return nil, fmt.Errorf("cannot read the index TOC: %w", err)
	}
	if toc.Series > uint64(size) || toc.PostingsTable >= uint64(size) || toc.Symbols >= toc.Series {
		return nil, errors.New("the index TOC points outside the index")
	}
	head, err := bucket.ReadRange(ctx, bkt, name, 0, int64(toc.Series))
	if err != nil {
		return nil, err
	}
	table, err := bucket.ReadRange(ctx, bkt, name, int64(toc.PostingsTable), size-int64(toc.PostingsTable))
	if err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(head)
	if err == nil {
		_, err = f.Write(table)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("cannot write the index header: %w", err)
	}
	return openIndexHeader(path, size, *toc)
}

// openIndexHeader opens a header file written by buildIndexHeader.
func openIndexHeader(path string, size int64, toc index.TOC) (h *indexHeader, err error) {
	mm, err := fileutil.OpenMmapFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open the index header: %w", err)
	}
	defer func() {
		if err != nil {
			_ = mm.Close()
		}
	}()
	b := mm.Bytes()
	headLen := int(toc.Series)
	if len(b) != headLen+int(size-int64(toc.PostingsTable)) {
		return nil, fmt.Errorf("the index header has %d bytes, not %d", len(b), headLen+int(size-int64(toc.PostingsTable)))
	}
	if binary.BigEndian.Uint32(b[:4]) != index.MagicIndex {
		return nil, errors.New("the index has no index magic number")
	}
	h = &indexHeader{size: size, version: int(b[4]), toc: toc, mm: mm, postings: map[string]*postingsRanges{}}
	if h.version != index.FormatV2 && h.version != index.FormatV3 {
		return nil, fmt.Errorf("unsupported index version %d", h.version)
	}
	// Symbols.Lookup ranges over [0, Len()) of its slice: give it the head
	// alone, which starts at offset 0 of the index.
	h.symbols, err = index.NewSymbols(headerSlice{b: b[:headLen], size: headLen}, h.version, int(toc.Symbols))
	if err != nil {
		return nil, fmt.Errorf("cannot read the index symbols: %w", err)
	}
	var starts []int64
	table := headerSlice{b: b[headLen:], base: int(toc.PostingsTable), size: int(size)}
	err = index.ReadPostingsOffsetTable(table, toc.PostingsTable, func(name, value []byte, off uint64, _ int) error {
		p := h.postings[string(name)]
		if p == nil {
			p = &postingsRanges{}
			h.postings[string(name)] = p
			h.names = append(h.names, string(name))
		}
		p.values = append(p.values, string(value))
		p.starts = append(p.starts, int64(off))
		starts = append(starts, int64(off))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the postings offset table: %w", err)
	}
	// Postings lists are written in the order of the offset table, each
	// right after the previous one (after padding): a list ends where the
	// next starts, the last where the section after the postings starts.
	slices.Sort(starts)
	postingsEnd := int64(toc.PostingsTable)
	if toc.LabelIndicesTable > 0 && (len(starts) == 0 || int64(toc.LabelIndicesTable) > starts[len(starts)-1]) {
		postingsEnd = min(postingsEnd, int64(toc.LabelIndicesTable))
	}
	for _, p := range h.postings {
		p.ends = make([]int64, len(p.starts))
		for i, s := range p.starts {
			j := sort.Search(len(starts), func(k int) bool { return starts[k] > s })
			if j < len(starts) {
				p.ends[i] = starts[j]
			} else {
				p.ends[i] = postingsEnd
			}
			if p.ends[i] <= s {
				return nil, fmt.Errorf("the postings of %q are out of place in the index", p.values[i])
			}
		}
	}
	slices.Sort(h.names)
	return h, nil
}

// bytes is the size of the header on local disk.
func (h *indexHeader) bytes() int64 { return int64(len(h.mm.Bytes())) }

func (h *indexHeader) close() error { return h.mm.Close() }

// labelNames returns the label names of the block's series, sorted.
func (h *indexHeader) labelNames() []string {
	out := make([]string, 0, len(h.names))
	for _, n := range h.names {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// labelValues returns the values of the label name, sorted; the caller
// must not modify the slice.
func (h *indexHeader) labelValues(name string) []string {
	if p := h.postings[name]; p != nil {
		return p.values
	}
	return nil
}
