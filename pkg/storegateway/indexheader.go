package storegateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
	"unsafe"

	"github.com/prometheus/prometheus/tsdb/encoding"
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
//
// Memory holds only every postingsSampling-th value of each label name,
// as Prometheus' own index reader does: a label with millions of values
// (a pod or request ID) would otherwise cost every block tens of MiB. A
// lookup decodes at most postingsSampling entries of the mmapped table.
type indexHeader struct {
	size    int64 // of the index object
	version int
	toc     index.TOC
	mm      *fileutil.MmapFile
	symbols *symbolTable

	// table is the content of the postings offset table (after its length
	// and entry count) in the mmapped file; an entry's position is its
	// offset in table.
	table []byte
	// postingsEnd is where the last postings list ends in the index.
	postingsEnd int64

	// names are the label names, sorted, "" (the all-postings key) first
	// when the block has series.
	names    []string
	postings map[string]*sampledValues
}

// postingsSampling is how many table entries of a label name share one
// sample in memory.
const postingsSampling = 32

// sampledValues are the samples of one label name's table entries: values
// 0, postingsSampling, 2·postingsSampling, ... (sorted, as the table is)
// and the positions of their entries in the table.
type sampledValues struct {
	values []string
	pos    []int
	count  int // entries of the name in the table
}

// postingsRef is the byte range [start, end) of one postings list in the
// index, and the label value it is for.
type postingsRef struct {
	value      string
	start, end int64
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
		return nil, corruptf(sectionHeader, "the index is too short (%d bytes)", size)
	}
	tail, err := bucket.ReadRange(ctx, bkt, name, size-indexTOCLen, indexTOCLen)
	if err != nil {
		return nil, err
	}
	toc, err := index.NewTOCFromByteSlice(headerSlice{b: tail, base: int(size - indexTOCLen), size: int(size)})
	if err != nil {
		return nil, corruptf(sectionHeader, "cannot read the index TOC: %w", err)
	}
	if toc.Series > uint64(size) || toc.PostingsTable >= uint64(size) || toc.Symbols >= toc.Series {
		return nil, corruptf(sectionHeader, "the index TOC points outside the index")
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
			// The file holds what the bucket gave: what does not parse
			// is the block's.
			err = &corruptError{section: sectionHeader, err: err}
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
	h = &indexHeader{size: size, version: int(b[4]), toc: toc, mm: mm, postings: map[string]*sampledValues{}}
	if h.version != index.FormatV2 && h.version != index.FormatV3 {
		return nil, fmt.Errorf("unsupported index version %d", h.version)
	}
	// The head starts at offset 0 of the index.
	h.symbols, err = newSymbolTable(headerSlice{b: b[:headLen], size: headLen}, int(toc.Symbols))
	if err != nil {
		return nil, fmt.Errorf("cannot read the index symbols: %w", err)
	}
	tableBytes := b[headLen:]
	if len(tableBytes) < 8 {
		return nil, errors.New("the postings offset table is truncated")
	}
	tableLen := int(binary.BigEndian.Uint32(tableBytes))
	// The table holds at least its 4-byte entry count.
	if tableLen < 4 || 4+tableLen+4 > len(tableBytes) {
		return nil, errors.New("the postings offset table is truncated")
	}
	// Entries start after the entry count; ReadPostingsOffsetTable gives
	// positions from the start of the count.
	h.table = tableBytes[8 : 4+tableLen]
	// One pass over the whole table checks its CRC and that postings lists
	// lie in the order of the table, which the lookups rely on: a list ends
	// where the next entry's list starts.
	var (
		cur       *sampledValues
		lastStart int64 = -1
	)
	table := headerSlice{b: tableBytes, base: int(toc.PostingsTable), size: int(size)}
	err = index.ReadPostingsOffsetTable(table, toc.PostingsTable, func(name, value []byte, off uint64, pos int) error {
		if int64(off) <= lastStart {
			return fmt.Errorf("the postings of %s=%q are out of place in the index", name, value)
		}
		lastStart = int64(off)
		if cur == nil || h.names[len(h.names)-1] != string(name) {
			if h.postings[string(name)] != nil {
				return fmt.Errorf("the label name %q is not contiguous in the postings offset table", name)
			}
			cur = &sampledValues{}
			h.postings[string(name)] = cur
			h.names = append(h.names, string(name))
		}
		if cur.count%postingsSampling == 0 {
			cur.values = append(cur.values, string(value))
			cur.pos = append(cur.pos, pos-4)
		}
		cur.count++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the postings offset table: %w", err)
	}
	// The last list ends where the section after the postings starts.
	h.postingsEnd = int64(toc.PostingsTable)
	if toc.LabelIndicesTable > 0 && int64(toc.LabelIndicesTable) > lastStart {
		h.postingsEnd = min(h.postingsEnd, int64(toc.LabelIndicesTable))
	}
	if lastStart >= h.postingsEnd {
		return nil, errors.New("the postings lists run past their section of the index")
	}
	if !slices.IsSorted(h.names) {
		return nil, errors.New("the postings offset table is not sorted by label name")
	}
	return h, nil
}

// entry decodes the table entry at pos: its label value, the start of its
// postings list and the position of the next entry (len(h.table) after
// the last). value aliases the mmapped file.
func (h *indexHeader) entry(pos int) (value []byte, start int64, next int, err error) {
	if pos < 0 || pos >= len(h.table) {
		return nil, 0, 0, corruptf(sectionHeader, "postings offset table entry at %d is out of range", pos)
	}
	d := encoding.Decbuf{B: h.table[pos:]}
	if n := d.Uvarint(); n != 2 && d.Err() == nil {
		return nil, 0, 0, corruptf(sectionHeader, "unexpected number of keys %d in the postings offset table", n)
	}
	d.UvarintBytes() // the label name: scan knows it
	value = d.UvarintBytes()
	start = int64(d.Uvarint64())
	if d.Err() != nil {
		return nil, 0, 0, corruptf(sectionHeader, "cannot decode the postings offset table: %w", d.Err())
	}
	return value, start, len(h.table) - d.Len(), nil
}

// scan calls f with the value and the postings range [start, end) of each
// entry of name from its sample i on, in order, until f returns false or
// the name's entries end. A list ends where the next entry's list starts,
// so each entry is decoded once, a step ahead.
func (h *indexHeader) scan(name string, i int, f func(value []byte, start, end int64) bool) error {
	s := h.postings[name]
	if s == nil || i >= len(s.pos) {
		return nil
	}
	value, start, next, err := h.entry(s.pos[i])
	if err != nil {
		return err
	}
	for k := i * postingsSampling; k < s.count; k++ {
		end := h.postingsEnd
		var nextValue []byte
		var nextStart int64
		var after int
		if next < len(h.table) {
			if nextValue, nextStart, after, err = h.entry(next); err != nil {
				return err
			}
			end = nextStart
		}
		if !f(value, start, end) {
			return nil
		}
		value, start, next = nextValue, nextStart, after
	}
	return nil
}

// postingsFor returns the postings ranges of the values of name that the
// block has, sorted by value.
func (h *indexHeader) postingsFor(name string, values []string) ([]postingsRef, error) {
	s := h.postings[name]
	if s == nil || len(values) == 0 {
		return nil, nil
	}
	values = slices.Clone(values)
	slices.Sort(values)
	values = slices.Compact(values)
	var out []postingsRef
	for len(values) > 0 {
		// The stretch of entries from the last sample at or before the
		// smallest value left holds that value if the block has it, and
		// every other value before the next sample.
		i, found := slices.BinarySearch(s.values, values[0])
		if !found {
			i--
		}
		if i < 0 {
			values = values[1:] // before the name's first value
			continue
		}
		n := len(values)
		if i+1 < len(s.values) {
			n, _ = slices.BinarySearch(values, s.values[i+1])
		}
		batch := values[:n]
		values = values[n:]
		err := h.scan(name, i, func(value []byte, start, end int64) bool {
			for len(batch) > 0 && batch[0] < string(value) {
				batch = batch[1:] // not in the block
			}
			if len(batch) > 0 && batch[0] == string(value) {
				out = append(out, postingsRef{value: batch[0], start: start, end: end})
				batch = batch[1:]
			}
			return len(batch) > 0
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// postingsMatching returns the postings ranges of the values of name for
// which match is true, sorted by value.
func (h *indexHeader) postingsMatching(name string, match func(string) bool) ([]postingsRef, error) {
	var out []postingsRef
	err := h.scan(name, 0, func(value []byte, start, end int64) bool {
		// The matcher does not keep the string: no copy of the value for
		// each of perhaps millions of values.
		if match(unsafe.String(unsafe.SliceData(value), len(value))) {
			out = append(out, postingsRef{value: string(value), start: start, end: end})
		}
		return true
	})
	return out, err
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

// labelValues returns the values of the label name, sorted.
func (h *indexHeader) labelValues(name string) ([]string, error) {
	s := h.postings[name]
	if s == nil {
		return nil, nil
	}
	out := make([]string, 0, s.count)
	err := h.scan(name, 0, func(value []byte, _, _ int64) bool {
		out = append(out, string(value))
		return true
	})
	return out, err
}
