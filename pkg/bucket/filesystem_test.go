package bucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

// openFilesystem opens a filesystem bucket through New, as weft does, and
// returns it with its directory.
func openFilesystem(t *testing.T) (objstore.Bucket, string) {
	t.Helper()
	c := defaultConfig(t)
	c.Filesystem.Dir = t.TempDir()
	b, _ := openBucket(t, c)
	return b, c.Filesystem.Dir
}

// gatedReader serves data and, once it has served half of it, closes
// halfway and blocks until resume is closed. It is not an io.Seeker, so
// the retry wrapper uploads it once.
type gatedReader struct {
	data    []byte
	off     int
	halfway chan struct{}
	resume  chan struct{}
	paused  bool
}

func newGatedReader(data []byte) *gatedReader {
	return &gatedReader{data: data, halfway: make(chan struct{}), resume: make(chan struct{})}
}

func (r *gatedReader) Read(p []byte) (int, error) {
	half := len(r.data) / 2
	if r.off >= half && !r.paused {
		r.paused = true
		close(r.halfway)
		<-r.resume
	}
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	end := len(r.data)
	if r.off < half {
		end = half // stop at the gate
	}
	n := copy(p, r.data[r.off:end])
	r.off += n
	return n, nil
}

// failingReader serves n bytes of data, then fails with err.
type failingReader struct {
	data []byte
	n    int
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	k := copy(p, r.data[:min(r.n, len(p), len(r.data))])
	r.data, r.n = r.data[k:], r.n-k
	return k, nil
}

// onDisk returns every file and directory under root, relative, with "/"
// after directories.
func onDisk(t *testing.T, root string) []string {
	t.Helper()
	got := []string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		got = append(got, rel)
		return nil
	}))
	sort.Strings(got)
	return got
}

// listings returns what every kind of listing of the bucket reports: the
// recursive and one-level listings of the root and of dir, with Iter and
// IterWithAttributes.
func listings(t *testing.T, b objstore.Bucket, dir string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	for _, d := range []string{"", dir} {
		for _, rec := range []bool{false, true} {
			var opts []objstore.IterOption
			key := "Iter(" + d + ")"
			if rec {
				opts = append(opts, objstore.WithRecursiveIter())
				key = "Iter(" + d + ", recursive)"
			}
			out[key] = list(t, b, d, opts...)
			names := []string{}
			require.NoError(t, b.IterWithAttributes(ctx, d, func(a objstore.IterObjectAttributes) error {
				names = append(names, a.Name)
				return nil
			}, append(opts, objstore.WithUpdatedAt())...))
			out["IterWithAttributes"+strings.TrimPrefix(key, "Iter")] = names
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// TestFilesystemUploadIsAtomic overwrites a large object while readers get
// it and list the bucket: they must only ever see the old or the new
// object, whole, and never the temporary file the upload writes.
func TestFilesystemUploadIsAtomic(t *testing.T) {
	ctx := context.Background()
	b, root := openFilesystem(t)
	const name = "tenant/01JZ0000000000000000000000/chunks/000001"
	oldData, newData := randomBytes(t, 8<<20), randomBytes(t, 8<<20)
	require.NoError(t, b.Upload(ctx, name, bytes.NewReader(oldData)))
	require.NoError(t, b.Upload(ctx, "tenant/01JZ0000000000000000000000/meta.json", bytes.NewReader([]byte("{}"))))
	wantLists := listings(t, b, "tenant/01JZ0000000000000000000000/chunks")
	wantDisk := onDisk(t, root)

	// A reader that gets the object over and over for the whole upload.
	var (
		stop      = make(chan struct{})
		readerWG  sync.WaitGroup
		reads     atomic.Int64
		readerErr error
	)
	readerWG.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			rc, err := b.Get(ctx, name)
			if err != nil {
				readerErr = err
				return
			}
			got, err := io.ReadAll(rc)
			_ = rc.Close()
			if err != nil {
				readerErr = err
				return
			}
			if !bytes.Equal(got, oldData) && !bytes.Equal(got, newData) {
				readerErr = fmt.Errorf("read %d bytes that are neither the old nor the new object", len(got))
				return
			}
			reads.Add(1)
		}
	})

	gate := newGatedReader(newData)
	uploaded := make(chan error, 1)
	go func() { uploaded <- b.Upload(ctx, name, gate) }()
	select {
	case <-gate.halfway:
	case err := <-uploaded:
		t.Fatalf("the upload ended before reading half of its reader: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the upload did not read half of its reader within 30s")
	}

	// Half of the new object is written somewhere on disk by now.
	disk := onDisk(t, root)
	var temps []string
	for _, p := range disk {
		if strings.HasPrefix(filepath.Base(p), tempPrefix) {
			temps = append(temps, p)
		}
	}
	require.Len(t, temps, 1, "files on disk during the upload: %v", disk)
	require.Equal(t, "tenant/01JZ0000000000000000000000/chunks/", filepath.Dir(temps[0])+"/", "the temporary file is not next to the object")

	rc, err := b.Get(ctx, name)
	require.True(t, bytes.Equal(oldData, readAll(t, rc, err)), "Get during the upload is not the old object")
	attrs, err := b.Attributes(ctx, name)
	require.NoError(t, err)
	require.Equal(t, int64(len(oldData)), attrs.Size)
	require.Equal(t, wantLists, listings(t, b, "tenant/01JZ0000000000000000000000/chunks"), "listings during the upload")

	close(gate.resume)
	require.NoError(t, <-uploaded)
	close(stop)
	readerWG.Wait()
	require.NoError(t, readerErr)
	require.Positive(t, reads.Load())
	t.Logf("%d whole reads during the upload", reads.Load())

	rc, err = b.Get(ctx, name)
	require.True(t, bytes.Equal(newData, readAll(t, rc, err)), "Get after the upload is not the new object")
	require.Equal(t, wantLists, listings(t, b, "tenant/01JZ0000000000000000000000/chunks"), "listings after the upload")
	require.Equal(t, wantDisk, onDisk(t, root), "files on disk after the upload")
}

// TestFilesystemFailedUpload checks that an upload whose reader fails, or
// whose ctx ends, leaves the bucket as it was: no new object, the old one
// intact, no temporary file, no directory it created.
func TestFilesystemFailedUpload(t *testing.T) {
	errBoom := errors.New("boom")
	f := func(name string, existing []byte, cancel bool) {
		t.Helper()
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		b, root := openFilesystem(t)
		if existing != nil {
			require.NoError(t, b.Upload(ctx, name, bytes.NewReader(existing)))
		}
		wantDisk, wantLists := onDisk(t, root), listings(t, b, filepath.Dir(name))

		data := randomBytes(t, 1<<20)
		var r io.Reader = &failingReader{data: data, n: len(data) / 2, err: errBoom}
		wantErr := errBoom
		if cancel {
			// The reader is read whole but ctx ends before the rename.
			r = io.MultiReader(bytes.NewReader(data), readerFunc(func([]byte) (int, error) { stop(); return 0, io.EOF }))
			wantErr = context.Canceled
		}
		err := b.Upload(ctx, name, r)
		require.ErrorIs(t, err, wantErr)

		ok, err := b.Exists(context.Background(), name)
		require.NoError(t, err)
		require.Equal(t, existing != nil, ok, "Exists")
		if existing != nil {
			rc, err := b.Get(context.Background(), name)
			require.True(t, bytes.Equal(existing, readAll(t, rc, err)), "the old object changed")
		}
		require.Equal(t, wantDisk, onDisk(t, root), "files on disk after the failed upload")
		require.Equal(t, wantLists, listings(t, b, filepath.Dir(name)), "listings after the failed upload")
	}
	// A new object in directories the upload creates: they go too, or
	// the tenant would still show in a listing of the root.
	f("tenant/01JZ0000000000000000000000/chunks/000001", nil, false)
	f("tenant/01JZ0000000000000000000000/chunks/000001", nil, true)
	// Over an existing object.
	f("tenant/01JZ0000000000000000000000/index", []byte("old index"), false)
	f("tenant/01JZ0000000000000000000000/index", []byte("old index"), true)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestFilesystemUploadRefusesReservedNames checks that no object can be
// named like a temporary file (listings would hide it) or lie outside
// the bucket's directory.
func TestFilesystemUploadRefusesReservedNames(t *testing.T) {
	b, root := openFilesystem(t)
	for _, name := range []string{
		tempPrefix + "x",
		"tenant/" + tempPrefix + "123",
		"",
		"tenant/",
		"../outside",
		"tenant/../../outside",
	} {
		// Not an io.Seeker: the retry wrapper would try again, in vain.
		err := b.Upload(context.Background(), name, io.MultiReader(bytes.NewReader([]byte("x"))))
		require.Error(t, err, "%q", name)
		require.Contains(t, err.Error(), "cannot upload", "%q", name)
	}
	require.Empty(t, onDisk(t, root))
	require.NoFileExists(t, filepath.Join(filepath.Dir(root), "outside"))
	// A dot file that is not reserved is an ordinary object.
	require.NoError(t, b.Upload(context.Background(), "tenant/.hidden", bytes.NewReader([]byte("x"))))
	require.Equal(t, []string{"tenant/.hidden"}, list(t, b, "tenant"))
}

// TestFilesystemUploadDuringDelete uploads into a directory while another
// object of it is deleted again and again: objstore's Delete removes the
// directories it empties, and Upload must recreate them rather than fail.
func TestFilesystemUploadDuringDelete(t *testing.T) {
	ctx := context.Background()
	b, _ := openFilesystem(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var delErr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := b.Upload(ctx, "t/b/other", bytes.NewReader([]byte("o"))); err != nil {
				delErr = err
				return
			}
			if err := b.Delete(ctx, "t/b/other"); err != nil && !b.IsObjNotFoundErr(err) {
				delErr = err
				return
			}
		}
	})
	for i := range 200 {
		require.NoError(t, b.Upload(ctx, "t/b/obj", bytes.NewReader([]byte{byte(i)})), "upload %d", i)
		require.NoError(t, b.Delete(ctx, "t/b/obj"))
	}
	close(stop)
	wg.Wait()
	require.NoError(t, delErr)
}
