package compactor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/fileutil"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// corruptBlockError says a block does not read back: compacting it again
// cannot work, so the compactor marks it as not to compact instead of
// failing the tenant at every run.
type corruptBlockError struct {
	id     ulid.ULID
	reason string // bucketindex.NoCompactCorrupt...
	err    error
}

func (e *corruptBlockError) Error() string {
	return fmt.Sprintf("block %s is corrupt (%s): %v", e.id, e.reason, e.err)
}

func (e *corruptBlockError) Unwrap() error { return e.err }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// verifyBlock reads back every series and chunk of the local block in dir,
// as a compaction would, and returns a *corruptBlockError for the first
// thing that does not read back: a missing or unreadable index (its TOC,
// symbols and postings offset table are checked when it is opened, each
// series entry's CRC when it is read), a gap in the numbering of the chunk
// segments, a chunk ref past its segment, or a chunk whose CRC does not
// match. The TSDB's own chunk reader does not check chunk CRCs, and its
// compactor would copy a flipped chunk into the new block unnoticed.
func verifyBlock(ctx context.Context, id ulid.ULID, dir string) error {
	corrupt := func(reason string, err error) error {
		return &corruptBlockError{id: id, reason: reason, err: err}
	}
	segs, err := openSegments(filepath.Join(dir, "chunks"))
	if err != nil {
		return corrupt(bucketindex.NoCompactCorruptChunks, err)
	}
	defer func() {
		for _, s := range segs {
			_ = s.Close()
		}
	}()
	ir, err := index.NewFileReader(filepath.Join(dir, "index"), index.DecodePostingsRaw)
	if err != nil {
		return corrupt(bucketindex.NoCompactCorruptIndex, fmt.Errorf("cannot open the index: %w", err))
	}
	defer ir.Close()
	k, v := index.AllPostingsKey()
	p, err := ir.Postings(ctx, k, v)
	if err != nil {
		return corrupt(bucketindex.NoCompactCorruptIndex, fmt.Errorf("cannot read the postings: %w", err))
	}
	var (
		builder labels.ScratchBuilder
		chks    []chunks.Meta
	)
	for p.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ir.Series(p.At(), &builder, &chks); err != nil {
			return corrupt(bucketindex.NoCompactCorruptIndex, fmt.Errorf("cannot read series %d: %w", p.At(), err))
		}
		for _, c := range chks {
			if err := checkChunk(segs, c.Ref); err != nil {
				return corrupt(bucketindex.NoCompactCorruptChunks, fmt.Errorf("series %s: %w", builder.Labels(), err))
			}
		}
	}
	if err := p.Err(); err != nil {
		return corrupt(bucketindex.NoCompactCorruptIndex, fmt.Errorf("cannot read the postings: %w", err))
	}
	return nil
}

// openSegments maps the chunk segment files of dir, which must be numbered
// 000001, 000002, ... without a gap: a chunk ref numbers its segment by
// position, so a missing file shifts every ref after it.
func openSegments(dir string) ([]*fileutil.MmapFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cannot list the chunk segments: %w", err)
	}
	var out []*fileutil.MmapFile
	fail := func(err error) ([]*fileutil.MmapFile, error) {
		for _, s := range out {
			_ = s.Close()
		}
		return nil, err
	}
	for _, e := range entries {
		n, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || e.IsDir() {
			continue
		}
		if n != uint64(len(out)+1) {
			return fail(fmt.Errorf("chunk segment %06d is missing", len(out)+1))
		}
		f, err := fileutil.OpenMmapFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return fail(fmt.Errorf("cannot open chunk segment %s: %w", e.Name(), err))
		}
		out = append(out, f)
		b := f.Bytes()
		if len(b) < chunks.SegmentHeaderSize || binary.BigEndian.Uint32(b) != chunks.MagicChunks {
			return fail(fmt.Errorf("chunk segment %s has no chunks header", e.Name()))
		}
	}
	return out, nil
}

// checkChunk checks the chunk at ref: its segment exists, it lies within
// it, and its CRC (of encoding and data) matches.
func checkChunk(segs []*fileutil.MmapFile, ref chunks.ChunkRef) error {
	seg, off := chunks.BlockChunkRef(ref).Unpack()
	if seg >= len(segs) {
		return fmt.Errorf("chunk %d is in segment %06d, which is missing (%d segments)", ref, seg+1, len(segs))
	}
	b := segs[seg].Bytes()
	if off < chunks.SegmentHeaderSize || off >= len(b) {
		return fmt.Errorf("chunk %d lies outside segment %06d (%d bytes)", ref, seg+1, len(b))
	}
	l, n := binary.Uvarint(b[off:])
	if n <= 0 {
		return fmt.Errorf("chunk %d of segment %06d has a bad length", ref, seg+1)
	}
	start := off + n
	end := uint64(start) + chunks.ChunkEncodingSize + l + crc32.Size
	if l > uint64(len(b)) || end > uint64(len(b)) {
		return fmt.Errorf("chunk %d runs past the end of segment %06d", ref, seg+1)
	}
	data := b[start : int(end)-crc32.Size]
	if crc32.Checksum(data, castagnoli) != binary.BigEndian.Uint32(b[int(end)-crc32.Size:]) {
		return fmt.Errorf("chunk %d of segment %06d fails its checksum", ref, seg+1)
	}
	return nil
}
