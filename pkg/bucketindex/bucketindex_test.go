package bucketindex

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
)

// buckets returns each kind of bucket the package must work on: the
// in-memory one and the filesystem one weft uses by default.
func buckets(t *testing.T) map[string]objstore.Bucket {
	fs, err := filesystem.NewBucket(t.TempDir())
	require.NoError(t, err)
	return map[string]objstore.Bucket{"inmem": objstore.NewInMemBucket(), "filesystem": fs}
}

func id(ms uint64) ulid.ULID { return ulid.MustNew(ms, bytes.NewReader(make([]byte, 10))) }

func TestWriteThenReadGivesTheSameIndex(t *testing.T) {
	for name, bkt := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			in := &Index{
				Blocks: []Block{
					{ID: id(1), MinTime: 0, MaxTime: 7200000, Level: 1, UploadedAt: 100},
					{ID: id(2), MinTime: 7200000, MaxTime: 14400000, Level: 2, Sources: []ulid.ULID{id(3), id(4)}, UploadedAt: 200},
				},
				BlockDeletionMarks: []DeletionMark{{ID: id(1), DeletionTime: 300, Version: 1}},
				UpdatedAt:          400,
			}
			require.NoError(t, Write(ctx, bkt, "t1", in))
			require.Equal(t, Version, in.Version, "Write stamps the format version")

			out, err := Read(ctx, bkt, "t1")
			require.NoError(t, err)
			require.Equal(t, in, out)

			// The object is where the layout says, gzipped JSON.
			r, err := bkt.Get(ctx, "t1/"+IndexName)
			require.NoError(t, err)
			defer r.Close()
			gz, err := gzip.NewReader(r)
			require.NoError(t, err)
			var raw map[string]any
			require.NoError(t, json.NewDecoder(gz).Decode(&raw))
			require.Contains(t, raw, "blocks")
			require.Contains(t, raw, "block_deletion_marks")

			// Another tenant's index is separate.
			_, err = Read(ctx, bkt, "t2")
			require.ErrorIs(t, err, ErrNotFound)
		})
	}
}

func TestWriteStampsUpdatedAtOnlyWhenUnset(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	before := time.Now().Unix()
	idx := &Index{}
	require.NoError(t, Write(context.Background(), bkt, "t", idx))
	require.GreaterOrEqual(t, idx.UpdatedAt, before)
	require.LessOrEqual(t, idx.UpdatedAt, time.Now().Unix())

	idx = &Index{UpdatedAt: 42}
	require.NoError(t, Write(context.Background(), bkt, "t", idx))
	got, err := Read(context.Background(), bkt, "t")
	require.NoError(t, err)
	require.Equal(t, int64(42), got.UpdatedAt)
	require.Empty(t, got.Blocks)
}

func TestReadRefusesWhatItCannotTrust(t *testing.T) {
	ctx := context.Background()
	gzipped := func(s string) []byte {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		_, _ = gz.Write([]byte(s))
		_ = gz.Close()
		return buf.Bytes()
	}
	f := func(body []byte, wantErr string) {
		t.Helper()
		bkt := objstore.NewInMemBucket()
		require.NoError(t, bkt.Upload(ctx, "t/"+IndexName, bytes.NewReader(body)))
		_, err := Read(ctx, bkt, "t")
		require.ErrorContains(t, err, wantErr)
		require.NotErrorIs(t, err, ErrNotFound, "a broken index is not a missing one")
		require.ErrorContains(t, err, "tenant t")
	}
	f([]byte("not gzip"), "cannot read the bucket index")
	f(gzipped("{not json"), "cannot parse the bucket index")
	f(gzipped(`{"version": 2, "blocks": []}`), "has version 2, want 1")
	f(gzipped(`{"blocks": []}`), "has version 0, want 1")
}

// failingBucket fails Get with a given error, as an unreachable bucket
// does.
type failingBucket struct {
	objstore.Bucket
	err error
}

func (b failingBucket) Get(context.Context, string) (io.ReadCloser, error) { return nil, b.err }

func TestReadOfAnUnreachableBucketIsNotNotFound(t *testing.T) {
	cause := errors.New("connection refused")
	_, err := Read(context.Background(), failingBucket{objstore.NewInMemBucket(), cause}, "t")
	require.ErrorIs(t, err, cause)
	require.NotErrorIs(t, err, ErrNotFound)
	_, err = ReadDeletionMark(context.Background(), failingBucket{objstore.NewInMemBucket(), cause}, "t", id(1))
	require.ErrorIs(t, err, cause, "an unreadable mark is an error, not an absent mark")
}

func TestDeletionMarks(t *testing.T) {
	for name, bkt := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b1, b2 := id(1), id(2)
			m, err := ReadDeletionMark(ctx, bkt, "t", b1)
			require.NoError(t, err)
			require.Nil(t, m, "no mark, no error")

			now := time.Unix(1700000000, 999_000_000)
			require.NoError(t, WriteDeletionMark(ctx, bkt, "t", b1, now))
			m, err = ReadDeletionMark(ctx, bkt, "t", b1)
			require.NoError(t, err)
			require.Equal(t, &DeletionMark{ID: b1, DeletionTime: 1700000000, Version: 1}, m)

			// The mark is the block's own object; other blocks and tenants
			// are unmarked.
			ok, err := bkt.Exists(ctx, "t/"+b1.String()+"/"+DeletionMarkName)
			require.NoError(t, err)
			require.True(t, ok)
			m, err = ReadDeletionMark(ctx, bkt, "t", b2)
			require.NoError(t, err)
			require.Nil(t, m)
			m, err = ReadDeletionMark(ctx, bkt, "u", b1)
			require.NoError(t, err)
			require.Nil(t, m)

			// A corrupt mark is an error naming the block.
			require.NoError(t, bkt.Upload(ctx, DeletionMarkPath("t", b2), strings.NewReader("{")))
			_, err = ReadDeletionMark(ctx, bkt, "t", b2)
			require.ErrorContains(t, err, b2.String())
		})
	}
}

func TestPaths(t *testing.T) {
	b := id(5)
	require.Equal(t, "t/"+b.String(), BlockPath("t", b))
	require.Equal(t, "t/"+b.String()+"/deletion-mark.json", DeletionMarkPath("t", b))
}

func TestTenantsListsTopLevelPrefixesOnly(t *testing.T) {
	for name, bkt := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			got, err := Tenants(ctx, bkt)
			require.NoError(t, err)
			require.Empty(t, got, "an empty bucket has no tenants")

			for _, p := range []string{
				"team-a/" + IndexName,
				"team-b/" + id(1).String() + "/meta.json",
				"team-b/" + id(2).String() + "/chunks/000001",
				"loose-object.json", // not a tenant: not a prefix
			} {
				require.NoError(t, bkt.Upload(ctx, p, strings.NewReader("x")))
			}
			got, err = Tenants(ctx, bkt)
			require.NoError(t, err)
			slices.Sort(got)
			require.Equal(t, []string{"team-a", "team-b"}, got)
		})
	}
}

func TestQueryable(t *testing.T) {
	now := time.Unix(10_000, 0)
	a := Block{ID: id(1), MinTime: 0, MaxTime: 100}   // [0, 100)
	b := Block{ID: id(2), MinTime: 100, MaxTime: 200} // [100, 200)
	c := Block{ID: id(3), MinTime: 50, MaxTime: 150}  // overlaps both
	idx := &Index{Blocks: []Block{a, b, c}}
	ids := func(bs []Block) []ulid.ULID {
		out := []ulid.ULID{}
		for _, b := range bs {
			out = append(out, b.ID)
		}
		return out
	}
	f := func(mint, maxt int64, want ...Block) {
		t.Helper()
		require.Equal(t, ids(want), ids(idx.Queryable(mint, maxt, time.Hour, now)), "[%d, %d]", mint, maxt)
	}
	// A query's maxt is inclusive, a block's MaxTime exclusive.
	f(0, 49, a)
	f(0, 50, a, c)
	f(99, 99, a, c)
	f(100, 100, b, c)
	f(150, 1000, b)
	f(149, 149, b, c)
	f(200, 300)
	f(-100, -1)
	f(-100, 0, a)
	f(-1000, 1000, a, b, c)
	f(math64Min, math64Max, a, b, c)

	// A block marked for deletion stays queryable for the delay (the
	// compactor's replacement may not be visible yet), and no longer.
	delay := 30 * time.Minute
	marked := func(ago time.Duration) *Index {
		return &Index{Blocks: []Block{a, b}, BlockDeletionMarks: []DeletionMark{{ID: a.ID, DeletionTime: now.Add(-ago).Unix(), Version: 1}}}
	}
	require.Equal(t, ids([]Block{a, b}), ids(marked(time.Minute).Queryable(0, 1000, delay, now)))
	require.Equal(t, ids([]Block{a, b}), ids(marked(delay).Queryable(0, 1000, delay, now)), "exactly the delay: still queryable")
	require.Equal(t, ids([]Block{b}), ids(marked(delay+time.Second).Queryable(0, 1000, delay, now)))
	require.Equal(t, ids([]Block{b}), ids(marked(time.Minute).Queryable(0, 1000, 0, now)), "no delay: marked blocks are never read")
	// A mark of a block the index does not list changes nothing.
	stray := &Index{Blocks: []Block{b}, BlockDeletionMarks: []DeletionMark{{ID: id(9), DeletionTime: 0}}}
	require.Equal(t, ids([]Block{b}), ids(stray.Queryable(0, 1000, 0, now)))
}

const (
	math64Min = -1 << 63
	math64Max = 1<<63 - 1
)

// recordingBucket records the order of uploads and can fail the upload of
// one object.
type recordingBucket struct {
	objstore.Bucket
	failOn string

	mu       sync.Mutex
	uploads  []string // guarded by mu
	contents map[string]string
}

func (b *recordingBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	if name == b.failOn {
		return errors.New("injected upload failure")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.uploads = append(b.uploads, name)
	if b.contents == nil {
		b.contents = map[string]string{}
	}
	b.contents[name] = string(data)
	b.mu.Unlock()
	return b.Bucket.Upload(ctx, name, bytes.NewReader(data), opts...)
}

// blockDir writes a block-like directory; UploadBlock does not look at
// the files' content.
func blockDir(t *testing.T) string {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"meta.json":     `{"local": true}`,
		"index":         "index",
		"tombstones":    "tombstones",
		"chunks/000001": "c1",
		"chunks/000002": "c2",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

func TestUploadBlockPutsMetaLast(t *testing.T) {
	ctx := context.Background()
	dir := blockDir(t)
	b := id(7)
	prefix := "t/" + b.String() + "/"
	for _, meta := range [][]byte{nil, []byte(`{"uploader": true}`)} {
		bkt := &recordingBucket{Bucket: objstore.NewInMemBucket()}
		require.NoError(t, UploadBlock(ctx, bkt, "t", dir, b, meta))
		want := []string{prefix + "chunks/000001", prefix + "chunks/000002", prefix + "index", prefix + "tombstones"}
		require.ElementsMatch(t, want, bkt.uploads[:len(bkt.uploads)-1])
		require.Equal(t, prefix+MetaName, bkt.uploads[len(bkt.uploads)-1], "meta.json is uploaded last")
		require.Equal(t, "c2", bkt.contents[prefix+"chunks/000002"])
		if meta == nil {
			require.Equal(t, `{"local": true}`, bkt.contents[prefix+MetaName])
		} else {
			require.Equal(t, string(meta), bkt.contents[prefix+MetaName], "the given meta replaces the local one")
		}
	}
}

func TestUploadBlockCleansUpAfterAFailure(t *testing.T) {
	ctx := context.Background()
	dir := blockDir(t)
	b := id(7)
	prefix := "t/" + b.String() + "/"
	for _, failOn := range []string{"chunks/000002", "index", MetaName} {
		t.Run(failOn, func(t *testing.T) {
			bkt := &recordingBucket{Bucket: objstore.NewInMemBucket(), failOn: prefix + failOn}
			err := UploadBlock(ctx, bkt, "t", dir, b, nil)
			require.ErrorContains(t, err, "injected upload failure")
			// Whatever was uploaded before the failure is gone again, and
			// meta.json was never written (a reader never sees a block).
			var left []string
			require.NoError(t, bkt.Iter(ctx, "", func(name string) error {
				left = append(left, name)
				return nil
			}, objstore.WithRecursiveIter()))
			require.Empty(t, left)
			require.NotContains(t, bkt.uploads, prefix+MetaName)
		})
	}
}

func TestUploadBlockOfAMissingDirectoryFails(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	err := UploadBlock(context.Background(), bkt, "t", filepath.Join(t.TempDir(), "nope"), id(1), nil)
	require.Error(t, err)
	ok, err := bkt.Exists(context.Background(), path.Join(BlockPath("t", id(1)), MetaName))
	require.NoError(t, err)
	require.False(t, ok)
}
