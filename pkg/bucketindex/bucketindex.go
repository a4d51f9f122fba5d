package bucketindex

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"
)

// Version of the index format.
const Version = 1

// Names of the objects this package owns.
const (
	IndexName         = "bucket-index.json.gz"
	MetaName          = "meta.json"
	DeletionMarkName  = "deletion-mark.json"
	NoCompactMarkName = "no-compact-mark.json"
)

// ErrNotFound means the tenant has no bucket index (yet).
var ErrNotFound = errors.New("bucket index not found")

// Block is one block as the index records it.
type Block struct {
	ID      ulid.ULID `json:"block_id"`
	MinTime int64     `json:"min_time"` // ms, inclusive
	MaxTime int64     `json:"max_time"` // ms, exclusive, as in tsdb.BlockMeta
	// Level is the TSDB compaction level (1 for blocks cut by ingesters).
	Level int `json:"compaction_level"`
	// Sources are the level-1 blocks this block was made of.
	Sources []ulid.ULID `json:"sources,omitempty"`
	// UploadedAt is when the block's meta.json was seen first (unix s).
	UploadedAt int64 `json:"uploaded_at"`
}

// DeletionMark says a block is being deleted: queriers stop asking for it
// once it is older than the deletion delay, and the compactor deletes it
// after that delay, so queries in flight never find a block gone.
type DeletionMark struct {
	ID           ulid.ULID `json:"id"`
	DeletionTime int64     `json:"deletion_time"` // unix seconds
	Version      int       `json:"version"`
}

// NoCompactMark says a block is not to be compacted: the compactor found
// that it does not read back (a corrupt index or chunks, a missing chunk
// segment, a meta.json that does not parse). The compactor leaves it
// alone and goes on with the other blocks; an operator repairs or deletes
// the block, then removes the mark (docs/compactor.md).
type NoCompactMark struct {
	ID            ulid.ULID `json:"id"`
	NoCompactTime int64     `json:"no_compact_time"` // unix seconds
	// Reason is a short word (ReasonCorrupt...) and Details the error
	// that led to it.
	Reason  string `json:"reason"`
	Details string `json:"details,omitempty"`
	Version int    `json:"version"`
}

// Reasons of a NoCompactMark.
const (
	// NoCompactCorruptMeta: meta.json does not parse or names another block.
	NoCompactCorruptMeta = "corrupt-meta"
	// NoCompactCorruptIndex: the index is missing, truncated or fails a
	// checksum.
	NoCompactCorruptIndex = "corrupt-index"
	// NoCompactCorruptChunks: a chunk segment is missing or a chunk fails
	// its checksum.
	NoCompactCorruptChunks = "corrupt-chunks"
)

// Index is the bucket index of one tenant.
type Index struct {
	Version            int            `json:"version"`
	Blocks             []Block        `json:"blocks"`
	BlockDeletionMarks []DeletionMark `json:"block_deletion_marks"`
	// BlockNoCompactMarks are the blocks the compactor leaves alone: a
	// corrupt block whose meta.json still parses is in Blocks too (queries
	// over it fail clearly rather than miss its data); one whose meta.json
	// does not parse is in Blocks only with the range an earlier index
	// gave it.
	BlockNoCompactMarks []NoCompactMark `json:"block_no_compact_marks,omitempty"`
	UpdatedAt           int64           `json:"updated_at"` // unix seconds
}

// BlockPath returns the prefix of a block.
func BlockPath(tenant string, id ulid.ULID) string { return path.Join(tenant, id.String()) }

// DeletionMarkPath returns the object name of a block's deletion mark.
func DeletionMarkPath(tenant string, id ulid.ULID) string {
	return path.Join(tenant, id.String(), DeletionMarkName)
}

// NoCompactMarkPath returns the object name of a block's no-compact mark.
func NoCompactMarkPath(tenant string, id ulid.ULID) string {
	return path.Join(tenant, id.String(), NoCompactMarkName)
}

// Read returns the tenant's index, or ErrNotFound.
func Read(ctx context.Context, bkt objstore.BucketReader, tenant string) (*Index, error) {
	r, err := bkt.Get(ctx, path.Join(tenant, IndexName))
	if err != nil {
		if bkt.IsObjNotFoundErr(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("cannot read the bucket index of tenant %s: %w", tenant, err)
	}
	defer r.Close()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("cannot read the bucket index of tenant %s: %w", tenant, err)
	}
	defer gz.Close()
	var idx Index
	if err := json.NewDecoder(gz).Decode(&idx); err != nil {
		return nil, fmt.Errorf("cannot parse the bucket index of tenant %s: %w", tenant, err)
	}
	if idx.Version != Version {
		return nil, fmt.Errorf("bucket index of tenant %s has version %d, want %d", tenant, idx.Version, Version)
	}
	return &idx, nil
}

// Write replaces the tenant's index.
func Write(ctx context.Context, bkt objstore.Bucket, tenant string, idx *Index) error {
	idx.Version = Version
	if idx.UpdatedAt == 0 {
		idx.UpdatedAt = time.Now().Unix()
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	if err := json.NewEncoder(gz).Encode(idx); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if err := bkt.Upload(ctx, path.Join(tenant, IndexName), &buf); err != nil {
		return fmt.Errorf("cannot write the bucket index of tenant %s: %w", tenant, err)
	}
	return nil
}

// WriteDeletionMark marks a block for deletion at now.
func WriteDeletionMark(ctx context.Context, bkt objstore.Bucket, tenant string, id ulid.ULID, now time.Time) error {
	b, err := json.Marshal(DeletionMark{ID: id, DeletionTime: now.Unix(), Version: 1})
	if err != nil {
		return err
	}
	return bkt.Upload(ctx, DeletionMarkPath(tenant, id), bytes.NewReader(b))
}

// ReadDeletionMark returns a block's deletion mark, or nil without error
// when it has none.
func ReadDeletionMark(ctx context.Context, bkt objstore.BucketReader, tenant string, id ulid.ULID) (*DeletionMark, error) {
	r, err := bkt.Get(ctx, DeletionMarkPath(tenant, id))
	if err != nil {
		if bkt.IsObjNotFoundErr(err) {
			return nil, nil
		}
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var m DeletionMark
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("cannot parse deletion mark of block %s: %w", id, err)
	}
	return &m, nil
}

// WriteNoCompactMark marks a block as not to be compacted at now, for
// reason (NoCompactCorrupt...) with details.
func WriteNoCompactMark(ctx context.Context, bkt objstore.Bucket, tenant string, id ulid.ULID, reason, details string, now time.Time) (*NoCompactMark, error) {
	m := &NoCompactMark{ID: id, NoCompactTime: now.Unix(), Reason: reason, Details: details, Version: 1}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := bkt.Upload(ctx, NoCompactMarkPath(tenant, id), bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("cannot mark block %s of tenant %s as not to compact: %w", id, tenant, err)
	}
	return m, nil
}

// ReadNoCompactMark returns a block's no-compact mark, or nil without
// error when it has none. A mark that does not parse still counts (an
// operator's hand-written mark means "leave it alone"): it is returned
// with the reason "unknown".
func ReadNoCompactMark(ctx context.Context, bkt objstore.BucketReader, tenant string, id ulid.ULID) (*NoCompactMark, error) {
	r, err := bkt.Get(ctx, NoCompactMarkPath(tenant, id))
	if err != nil {
		if bkt.IsObjNotFoundErr(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot read the no-compact mark of block %s of tenant %s: %w", id, tenant, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("cannot read the no-compact mark of block %s of tenant %s: %w", id, tenant, err)
	}
	var m NoCompactMark
	if err := json.Unmarshal(b, &m); err != nil {
		return &NoCompactMark{ID: id, Reason: "unknown", Details: "the mark does not parse: " + err.Error(), Version: 1}, nil
	}
	m.ID = id
	return &m, nil
}

// Tenants lists the tenants that have anything in the bucket. Top-level
// names of the form __NAME__ are weft's own prefixes (the Alertmanager
// configurations, ...), not tenants: tenant.Validate refuses such IDs.
func Tenants(ctx context.Context, bkt objstore.BucketReader) ([]string, error) {
	var out []string
	err := bkt.Iter(ctx, "", func(name string) error {
		if len(name) > 1 && name[len(name)-1] == '/' {
			if n := name[:len(name)-1]; len(n) > 4 && strings.HasPrefix(n, "__") && strings.HasSuffix(n, "__") {
				return nil
			}
			out = append(out, name[:len(name)-1])
		}
		return nil
	})
	return out, err
}

// Queryable returns the blocks of idx that a query of [mint, maxt] must
// read: overlapping the range, and not marked for deletion longer ago than
// ignoreDeletionMarksDelay (a block marked later may still be read while
// the compactor's replacement becomes visible).
func (idx *Index) Queryable(mint, maxt int64, ignoreDeletionMarksDelay time.Duration, now time.Time) []Block {
	marked := map[ulid.ULID]int64{}
	for _, m := range idx.BlockDeletionMarks {
		marked[m.ID] = m.DeletionTime
	}
	var out []Block
	for _, b := range idx.Blocks {
		if b.MaxTime <= mint || b.MinTime > maxt {
			continue
		}
		if t, ok := marked[b.ID]; ok && now.Sub(time.Unix(t, 0)) > ignoreDeletionMarksDelay {
			continue
		}
		out = append(out, b)
	}
	return out
}

// UploadBlock uploads the local block in dir as <tenant>/<id>/: every file,
// then meta.json last, so that a reader that sees meta.json sees a
// complete block. meta replaces the local meta.json when not nil (the
// uploader adds its own section). On failure it removes what it uploaded,
// best effort: leftovers without meta.json are never taken for a block.
func UploadBlock(ctx context.Context, bkt objstore.Bucket, tenant, dir string, id ulid.ULID, meta []byte) error {
	prefix := BlockPath(tenant, id)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel != MetaName {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return err
	}
	var done []string
	upload := func(name string, r io.Reader) error {
		if err := bkt.Upload(ctx, name, r); err != nil {
			cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			for _, n := range done {
				_ = bkt.Delete(cleanup, n)
			}
			return err
		}
		done = append(done, name)
		return nil
	}
	uploadFile := func(rel string) error {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		defer f.Close()
		return upload(path.Join(prefix, rel), f)
	}
	for _, rel := range files {
		if err := uploadFile(rel); err != nil {
			return err
		}
	}
	if meta == nil {
		return uploadFile(MetaName)
	}
	return upload(path.Join(prefix, MetaName), bytes.NewReader(meta))
}
