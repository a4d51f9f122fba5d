package storegateway

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/prometheus/prometheus/tsdb/tombstones"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/bucket"
	"github.com/weft-io/weft/pkg/bucketindex"
	"github.com/weft-io/weft/pkg/serieshash"
	"github.com/weft-io/weft/pkg/wire"
)

// Sections of a block read from the bucket: the label "section" of
// weft_storegateway_bucket_reads_total and _bucket_read_bytes_total.
const (
	sectionHeader   = "index-header"
	sectionPostings = "postings"
	sectionSeries   = "series"
	sectionChunks   = "chunks"
	sectionOther    = "meta"
)

// Read-ahead of the series and chunks readers: a read that continues the
// previous one doubles the read-ahead, up to maxReadAhead; any other read
// starts again from minReadAhead. Queries that touch many series read
// their (consecutive) series and chunks in few big ranges, queries of a few
// series read little more than they need.
const (
	minReadAhead = 16 << 10
	maxReadAhead = 1 << 20
)

// postingsGap: postings lists closer than this in the index are read
// with one range (regular expressions matching many values).
const postingsGap = 4 << 10

// remoteBlock is a loaded block: its meta.json, index header and
// tombstones are held locally; the series and postings lists of its index
// and its chunks are read from the bucket by range for each query
// (through the caching bucket when one is configured). It is safe for
// concurrent use; close it once no query uses it.
type remoteBlock struct {
	bkt      objstore.BucketReader
	m        *metrics
	logger   *slog.Logger // of corruption found by queries; nil: none
	tenant   string
	meta     tsdb.BlockMeta
	index    string // object name of the index
	header   *indexHeader
	segments []segment // chunk segment files, in the order chunk refs number them
	stones   tombstones.Reader
	dec      index.Decoder
	hashes   *serieshash.Cache
}

type segment struct {
	name string
	size int64
}

// openRemoteBlock loads block id of the tenant into dir (which it
// creates): meta.json, the index header and the tombstones.
// Its series hashes are cached within budget (nil: unbounded).
func openRemoteBlock(ctx context.Context, bkt objstore.BucketReader, m *metrics, budget *serieshash.Budget, tenant string, id ulid.ULID, dir string) (_ *remoteBlock, err error) {
	prefix := bucketindex.BlockPath(tenant, id) + "/"
	b := &remoteBlock{bkt: bkt, m: m, tenant: tenant, index: prefix + "index", hashes: serieshash.NewCache(budget, m.seriesHashHits, m.seriesHashMisses)}

	raw, err := b.getAll(ctx, prefix+bucketindex.MetaName)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &b.meta); err != nil {
		return nil, corruptf(sectionOther, "cannot parse meta.json: %w", err)
	}
	if b.meta.ULID != id {
		return nil, corruptf(sectionOther, "meta.json names block %s", b.meta.ULID)
	}

	if err := b.listSegments(ctx, prefix+"chunks/"); err != nil {
		return nil, err
	}
	attrs, err := bkt.Attributes(ctx, b.index)
	if err != nil {
		if bkt.IsObjNotFoundErr(err) {
			// meta.json is uploaded last: a complete block without an
			// index lost it.
			return nil, corruptf(sectionHeader, "the index is missing")
		}
		return nil, fmt.Errorf("cannot read the attributes of the index: %w", err)
	}

	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b.header, err = buildIndexHeader(ctx, countingReader{bkt, m, sectionHeader}, b.index, attrs.Size, filepath.Join(dir, "index-header"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = b.header.close()
		}
	}()
	b.dec = index.Decoder{LookupSymbol: func(_ context.Context, o uint32) (string, error) {
		return b.header.symbols.lookup(o)
	}}

	b.stones = tombstones.NewMemTombstones()
	raw, err = b.getAll(ctx, prefix+tombstones.TombstonesFilename)
	switch {
	case err != nil && !bkt.IsObjNotFoundErr(errors.Unwrap(err)):
		return nil, err
	case err == nil:
		// ReadTombstones checks the file's magic number and checksum.
		if err := os.WriteFile(filepath.Join(dir, tombstones.TombstonesFilename), raw, 0o644); err != nil {
			return nil, err
		}
		if b.stones, _, err = tombstones.ReadTombstones(dir); err != nil {
			return nil, corruptf(sectionTombstones, "cannot read the tombstones: %w", err)
		}
	}
	return b, nil
}

// getAll reads a whole object; its error wraps the bucket's.
func (b *remoteBlock) getAll(ctx context.Context, name string) ([]byte, error) {
	rc, err := b.bkt.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path.Base(name), err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path.Base(name), err)
	}
	b.m.bucketReads.WithLabelValues(sectionOther).Inc()
	b.m.bucketReadBytes.WithLabelValues(sectionOther).Add(float64(len(raw)))
	return raw, nil
}

// listSegments finds the chunk segment files under dir: the TSDB numbers
// them 000001, 000002, ... and a chunk ref's segment index is the file's
// position in that order.
func (b *remoteBlock) listSegments(ctx context.Context, dir string) error {
	type numbered struct {
		n    uint64
		name string
	}
	var files []numbered
	err := b.bkt.Iter(ctx, dir, func(name string) error {
		if n, err := strconv.ParseUint(path.Base(name), 10, 64); err == nil && !strings.HasSuffix(name, "/") {
			files = append(files, numbered{n, name})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot list the chunks: %w", err)
	}
	slices.SortFunc(files, func(a, b numbered) int { return cmp.Compare(a.n, b.n) })
	for i, f := range files {
		if f.n != uint64(i+1) {
			// A chunk ref numbers its segment by position: a missing
			// file would shift every ref after it.
			return corruptf(sectionChunks, "chunk segment %06d is missing", i+1)
		}
		attrs, err := b.bkt.Attributes(ctx, f.name)
		if err != nil {
			return fmt.Errorf("cannot read the attributes of chunks/%s: %w", path.Base(f.name), err)
		}
		b.segments = append(b.segments, segment{f.name, attrs.Size})
	}
	return nil
}

// report logs and counts a corruption a query found and names the block
// in its error (reportCorrupt); other errors are returned as they are.
func (b *remoteBlock) report(err error) error {
	if err == nil {
		return nil
	}
	return reportCorrupt(b.m, b.logger, b.tenant, b.meta.ULID, "query", err)
}

// localBytes is what the block takes on local disk.
func (b *remoteBlock) localBytes() int64 { return b.header.bytes() }

// Close releases the index header and the series hashes. No query may use
// the block after.
func (b *remoteBlock) Close() error {
	b.hashes.Release()
	return b.header.close()
}

// queryRetryBudget bounds the retries of each bucket read of a query
// (bucket.WithRetryBudget, set where a query enters: querier.go): a query over a bucket that is down fails
// within seconds with a 5xx that its client may retry, rather than after
// the minutes of retries that -bucket.retry-max-time allows.
const queryRetryBudget = 3 * time.Second

// view returns the tsdb.BlockReader through which one query reads the
// block: its readers read from the bucket under ctx.
func (b *remoteBlock) view(ctx context.Context) tsdb.BlockReader { return blockView{b, ctx} }

type blockView struct {
	b   *remoteBlock
	ctx context.Context
}

func (v blockView) Index() (tsdb.IndexReader, error) {
	return &indexReader{b: v.b, ctx: v.ctx, series: v.b.window(v.ctx, v.b.index, v.b.header.size, sectionSeries)}, nil
}

func (v blockView) Chunks() (tsdb.ChunkReader, error) {
	return &chunkReader{b: v.b, ctx: v.ctx}, nil
}

func (v blockView) Tombstones() (tombstones.Reader, error) { return v.b.stones, nil }

func (v blockView) Meta() tsdb.BlockMeta { return v.b.meta }

func (v blockView) Size() int64 {
	n := v.b.header.size
	for _, s := range v.b.segments {
		n += s.size
	}
	return n
}

// countingReader counts the range reads of a section in the metrics.
type countingReader struct {
	objstore.BucketReader
	m       *metrics
	section string
}

func (c countingReader) GetRange(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.m.bucketReads.WithLabelValues(c.section).Inc()
	c.m.bucketReadBytes.WithLabelValues(c.section).Add(float64(n))
	return c.BucketReader.GetRange(ctx, name, off, n)
}

// window reads one object for one query with read-ahead (minReadAhead,
// maxReadAhead). Its buffers are never reused, so slices it returned stay
// valid. Not safe for concurrent use.
type window struct {
	r    countingReader
	ctx  context.Context
	name string
	size int64
	buf  []byte
	off  int64 // of buf in the object
	ra   int64
}

func (b *remoteBlock) window(ctx context.Context, name string, size int64, section string) *window {
	return &window{r: countingReader{b.bkt, b.m, section}, ctx: ctx, name: name, size: size}
}

// get returns bytes [off, end) of the object, end capped at its size.
func (w *window) get(off, end int64) ([]byte, error) {
	end = min(end, w.size)
	if off < 0 || off >= end {
		// The refs that led here come from the block itself.
		return nil, corruptf(w.r.section, "cannot read [%d, %d) of %s: out of range (%d bytes)", off, end, w.name, w.size)
	}
	bufEnd := w.off + int64(len(w.buf))
	if w.buf != nil && off >= w.off && end <= bufEnd {
		return w.buf[off-w.off : end-w.off], nil
	}
	if w.buf != nil && off >= w.off && off < bufEnd+w.ra {
		w.ra = min(2*w.ra, maxReadAhead)
	} else {
		w.ra = minReadAhead
	}
	fetchEnd := min(max(end, off+w.ra), w.size)
	buf, err := bucket.ReadRange(w.ctx, w.r, w.name, off, fetchEnd-off)
	if err != nil {
		return nil, err
	}
	w.buf, w.off = buf, off
	return w.buf[:end-off], nil
}

// indexReader implements tsdb.IndexReader for one query: label names and
// values from the index header, postings lists and series read by range.
type indexReader struct {
	b   *remoteBlock
	ctx context.Context

	mu     sync.Mutex
	series *window // guarded by mu
}

var _ tsdb.IndexReader = (*indexReader)(nil)

func (r *indexReader) Symbols() index.StringIter { return r.b.header.symbols.iter() }

func (r *indexReader) SortedLabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, error) {
	return r.LabelValues(ctx, name, hints, ms...)
}

// LabelValues returns sorted values, as SortedLabelValues.
func (r *indexReader) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, error) {
	var vals []string
	if len(ms) == 0 {
		var err error
		if vals, err = r.b.header.labelValues(name); err != nil {
			return nil, r.b.report(err)
		}
	} else {
		p, err := tsdb.PostingsForMatchers(ctx, r, ms...)
		if err != nil {
			return nil, err
		}
		seen := map[string]struct{}{}
		var builder labels.ScratchBuilder
		for p.Next() {
			if err := r.Series(p.At(), &builder, nil); err != nil {
				return nil, err
			}
			if v := builder.Labels().Get(name); v != "" {
				seen[v] = struct{}{}
			}
		}
		if err := p.Err(); err != nil {
			return nil, err
		}
		vals = make([]string, 0, len(seen))
		for v := range seen {
			vals = append(vals, v)
		}
		slices.Sort(vals)
	}
	if hints != nil && hints.Limit > 0 && len(vals) > hints.Limit {
		vals = vals[:hints.Limit]
	}
	return vals, nil
}

func (r *indexReader) Postings(ctx context.Context, name string, values ...string) (index.Postings, error) {
	refs, err := r.b.header.postingsFor(name, values)
	if err != nil {
		return nil, r.b.report(err)
	}
	p, err := r.postings(ctx, refs)
	return p, r.b.report(err)
}

func (r *indexReader) PostingsForLabelMatching(ctx context.Context, name string, match func(string) bool) index.Postings {
	refs, err := r.b.header.postingsMatching(name, match)
	if err == nil {
		var out index.Postings
		if out, err = r.postings(ctx, refs); err == nil {
			return out
		}
	}
	return index.ErrPostings(r.b.report(err))
}

func (r *indexReader) PostingsForAllLabelValues(ctx context.Context, name string) index.Postings {
	return r.PostingsForLabelMatching(ctx, name, func(string) bool { return true })
}

// postings reads the lists refs, joining lists that are close in the
// index into one range read, and returns their union.
func (r *indexReader) postings(ctx context.Context, refs []postingsRef) (index.Postings, error) {
	if len(refs) == 0 {
		return index.EmptyPostings(), nil
	}
	slices.SortFunc(refs, func(a, b postingsRef) int { return cmp.Compare(a.start, b.start) })
	lists := make([]index.Postings, 0, len(refs))
	rd := countingReader{r.b.bkt, r.b.m, sectionPostings}
	for i := 0; i < len(refs); {
		j := i + 1
		for j < len(refs) && refs[j].start-refs[j-1].end <= postingsGap {
			j++
		}
		base := refs[i].start
		buf, err := bucket.ReadRange(ctx, rd, r.b.index, base, refs[j-1].end-base)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs[i:j] {
			l, err := decodePostings(buf[ref.start-base : ref.end-base])
			if err != nil {
				return nil, corruptf(sectionPostings, "cannot read the postings of %q in block %s: %w", ref.value, r.b.meta.ULID, err)
			}
			lists = append(lists, l)
		}
		i = j
	}
	if len(lists) == 1 {
		return lists[0], nil
	}
	return index.Merge(ctx, lists...), nil
}

// decodePostings decodes a postings list that starts at b[0]: its length
// (4 bytes), the list, its CRC32; b may run past its end (padding).
func decodePostings(b []byte) (index.Postings, error) {
	if len(b) < 4 {
		return nil, encoding.ErrInvalidSize
	}
	n := int(binary.BigEndian.Uint32(b))
	if len(b) < 4+n+4 {
		return nil, encoding.ErrInvalidSize
	}
	content := b[4 : 4+n]
	if crc32.Checksum(content, castagnoli) != binary.BigEndian.Uint32(b[4+n:]) {
		return nil, encoding.ErrInvalidChecksum
	}
	_, l, err := index.DecodePostingsRaw(encoding.Decbuf{B: content})
	return l, err
}

func (r *indexReader) SortedPostings(p index.Postings) index.Postings { return p }

// ShardedPostings keeps the series of p whose labels hash to shardIndex,
// as Prometheus' own index reader does, with the hashes cached per block:
// only series no sharded query reached before have their labels decoded.
func (r *indexReader) ShardedPostings(p index.Postings, shardIndex, shardCount uint64) index.Postings {
	return r.b.hashes.ShardedPostings(p, shardIndex, shardCount, func(ref storage.SeriesRef, builder *labels.ScratchBuilder) error {
		return r.Series(ref, builder, nil)
	})
}

// Series reads a series entry: in index format 2 and 3 a series ref is
// its offset divided by 16, and the entry is its length (uvarint), the
// entry and a CRC32.
func (r *indexReader) Series(ref storage.SeriesRef, builder *labels.ScratchBuilder, chks *[]chunks.Meta) error {
	return r.b.report(r.series1(ref, builder, chks))
}

func (r *indexReader) series1(ref storage.SeriesRef, builder *labels.ScratchBuilder, chks *[]chunks.Meta) error {
	off := int64(ref) * 16
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.series.get(off, off+binary.MaxVarintLen32)
	if err != nil {
		return err
	}
	l, n := binary.Uvarint(b)
	if n <= 0 {
		return corruptf(sectionSeries, "cannot read series %d of block %s: bad length", ref, r.b.meta.ULID)
	}
	end := off + int64(n) + int64(l) + crc32.Size
	b, err = r.series.get(off, end)
	if err != nil {
		return err
	}
	if int64(len(b)) != end-off {
		return corruptf(sectionSeries, "cannot read series %d of block %s: %w", ref, r.b.meta.ULID, encoding.ErrInvalidSize)
	}
	data := b[n : len(b)-crc32.Size]
	if crc32.Checksum(data, castagnoli) != binary.BigEndian.Uint32(b[len(b)-crc32.Size:]) {
		return corruptf(sectionSeries, "cannot read series %d of block %s: %w", ref, r.b.meta.ULID, encoding.ErrInvalidChecksum)
	}
	if err := r.b.dec.Series(data, builder, chks); err != nil {
		return corruptf(sectionSeries, "cannot decode series %d of block %s: %w", ref, r.b.meta.ULID, err)
	}
	return nil
}

func (r *indexReader) LabelNames(ctx context.Context, ms ...*labels.Matcher) ([]string, error) {
	if len(ms) == 0 {
		return r.b.header.labelNames(), nil
	}
	p, err := tsdb.PostingsForMatchers(ctx, r, ms...)
	if err != nil {
		return nil, err
	}
	return r.LabelNamesFor(ctx, p)
}

func (r *indexReader) LabelNamesFor(_ context.Context, p index.Postings) ([]string, error) {
	seen := map[string]struct{}{}
	var builder labels.ScratchBuilder
	for p.Next() {
		if err := r.Series(p.At(), &builder, nil); err != nil {
			return nil, err
		}
		builder.Labels().Range(func(l labels.Label) { seen[l.Name] = struct{}{} })
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

func (r *indexReader) Close() error { return nil }

// chunkReader implements tsdb.ChunkReader for one query, reading chunks by
// range from their segment files, one read-ahead window per segment.
type chunkReader struct {
	b   *remoteBlock
	ctx context.Context

	mu   sync.Mutex
	wins map[int]*window // by segment index, guarded by mu
}

func (c *chunkReader) ChunkOrIterable(meta chunks.Meta) (chunkenc.Chunk, chunkenc.Iterable, error) {
	chk, err := c.chunk(meta)
	if err != nil {
		return nil, nil, c.b.report(err)
	}
	return chk, nil, nil
}

func (c *chunkReader) chunk(meta chunks.Meta) (chunkenc.Chunk, error) {
	seg, start := chunks.BlockChunkRef(meta.Ref).Unpack()
	if seg >= len(c.b.segments) {
		return nil, corruptf(sectionChunks, "cannot read chunk %d of block %s: segment %06d is missing (%d segments)", meta.Ref, c.b.meta.ULID, seg+1, len(c.b.segments))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.wins[seg]
	if w == nil {
		if c.wins == nil {
			c.wins = map[int]*window{}
		}
		s := c.b.segments[seg]
		w = c.b.window(c.ctx, s.name, s.size, sectionChunks)
		c.wins[seg] = w
	}
	// A chunk is its data length (uvarint), encoding (1 byte), data and
	// a CRC32 of encoding and data.
	off := int64(start)
	b, err := w.get(off, off+chunks.MaxChunkLengthFieldSize)
	if err != nil {
		return nil, err
	}
	l, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, corruptf(sectionChunks, "cannot read chunk %d of block %s: bad length", meta.Ref, c.b.meta.ULID)
	}
	end := off + int64(n) + chunks.ChunkEncodingSize + int64(l) + crc32.Size
	b, err = w.get(off, end)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != end-off {
		return nil, corruptf(sectionChunks, "cannot read chunk %d of block %s: %w", meta.Ref, c.b.meta.ULID, encoding.ErrInvalidSize)
	}
	encAndData := b[n : len(b)-crc32.Size]
	if crc32.Checksum(encAndData, castagnoli) != binary.BigEndian.Uint32(b[len(b)-crc32.Size:]) {
		return nil, corruptf(sectionChunks, "cannot read chunk %d of block %s: %w", meta.Ref, c.b.meta.ULID, encoding.ErrInvalidChecksum)
	}
	chk, err := chunkenc.FromData(chunkenc.Encoding(encAndData[0]), encAndData[1:])
	if err != nil {
		return nil, corruptf(sectionChunks, "cannot read chunk %d of block %s: %w", meta.Ref, c.b.meta.ULID, err)
	}
	// A querier in this process counts the bytes against its query's
	// limit; a remote one counts what it receives.
	if err := wire.FetchStatsFrom(c.ctx).AddChunkBytes(len(encAndData) - 1); err != nil {
		return nil, err
	}
	return chk, nil
}

func (c *chunkReader) Close() error { return nil }

// hasTombstones reports whether series of the block are deleted in part.
func (b *remoteBlock) hasTombstones() bool { return b.stones.Total() > 0 }

// Prometheus' tombstones.Intervals.Add indexes out of range when the TSDB
// trims a series to the end of a query's range while a deleted interval
// other than the first reaches that end (querier.go trimBack, v0.316), and
// the panic would take the store-gateway down. For blocks with tombstones,
// queries therefore run with trimming disabled, which adds no intervals,
// and the samples outside the range are dropped here. Chunk queries of
// such blocks return the chunks that overlap the range whole.

// untrimmedQuerier is a querier of a block with tombstones.
type untrimmedQuerier struct {
	storage.Querier
	mint, maxt int64
}

func (q untrimmedQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	h, mint, maxt := untrimmed(hints, q.mint, q.maxt)
	return clippedSeriesSet{q.Querier.Select(ctx, sortSeries, h, ms...), mint, maxt}
}

type untrimmedChunkQuerier struct {
	storage.ChunkQuerier
	mint, maxt int64
}

func (q untrimmedChunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.ChunkSeriesSet {
	h, _, _ := untrimmed(hints, q.mint, q.maxt)
	return q.ChunkQuerier.Select(ctx, sortSeries, h, ms...)
}

// untrimmed returns a copy of hints with trimming disabled, and the range
// the TSDB reads (the hints' when set, as the TSDB's block querier does).
func untrimmed(hints *storage.SelectHints, mint, maxt int64) (*storage.SelectHints, int64, int64) {
	h := storage.SelectHints{Start: mint, End: maxt}
	if hints != nil {
		h = *hints
	}
	h.DisableTrimming = true
	return &h, h.Start, h.End
}

type clippedSeriesSet struct {
	storage.SeriesSet
	mint, maxt int64
}

func (s clippedSeriesSet) At() storage.Series {
	return clippedSeries{s.SeriesSet.At(), s.mint, s.maxt}
}

type clippedSeries struct {
	storage.Series
	mint, maxt int64
}

// Iterator reads the series' samples of [mint, maxt] into memory: one
// series at a time, and only for blocks with tombstones, which the
// compactor rewrites without them.
func (s clippedSeries) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	all, err := storage.ExpandSamplesWithoutReplacingNaNs(s.Series.Iterator(nil), nil)
	lo := sort.Search(len(all), func(i int) bool { return all[i].T() >= s.mint })
	hi := sort.Search(len(all), func(i int) bool { return all[i].T() > s.maxt })
	return errIterator{storage.NewListSeries(s.Labels(), all[lo:hi]).Iterator(nil), err}
}

// errIterator is an iterator that reports err once its samples are read.
type errIterator struct {
	chunkenc.Iterator
	err error
}

func (it errIterator) Err() error { return it.err }
