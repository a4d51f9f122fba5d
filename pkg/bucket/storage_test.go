package bucket

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

// openFunc opens an empty bucket through New, as weft does, and returns
// the registry its metrics went to.
type openFunc func(t *testing.T) (objstore.Bucket, *prometheus.Registry)

// suiteOptions say what differs between backends.
type suiteOptions struct {
	// atomicUploads: concurrent uploads of one name leave one of them
	// whole. True of S3, and of weft's filesystem bucket (objstore's own
	// writes in place, so concurrent writers could leave a mix).
	atomicUploads bool
}

func TestStorageFilesystem(t *testing.T) {
	runStorageSuite(t, func(t *testing.T) (objstore.Bucket, *prometheus.Registry) {
		c := defaultConfig(t)
		c.Filesystem.Dir = t.TempDir()
		return openBucket(t, c)
	}, suiteOptions{atomicUploads: true})
}

func TestStorageS3(t *testing.T) {
	srv := startS3Server(t)
	var n atomic.Int64
	runStorageSuite(t, func(t *testing.T) (objstore.Bucket, *prometheus.Registry) {
		c := srv.createBucket(t, fmt.Sprintf("weft-test-%d", n.Add(1)))
		c.S3.PartSize = 5 << 20 // so that the large object goes in parts
		return openBucket(t, c)
	}, suiteOptions{atomicUploads: true})
}

// TestStoragePrefix runs the suite through -bucket.prefix and checks that
// the objects land under it.
func TestStoragePrefix(t *testing.T) {
	dir := t.TempDir()
	var n atomic.Int64
	runStorageSuite(t, func(t *testing.T) (objstore.Bucket, *prometheus.Registry) {
		c := defaultConfig(t)
		c.Filesystem.Dir = dir
		c.Prefix = fmt.Sprintf("/cluster-%d/", n.Add(1))
		b, reg := openBucket(t, c)
		require.NoError(t, b.Upload(context.Background(), "probe", bytes.NewReader([]byte("x"))))
		_, err := os.Stat(filepath.Join(dir, fmt.Sprintf("cluster-%d", n.Load()), "probe"))
		require.NoError(t, err, "object not under the prefix")
		require.NoError(t, b.Delete(context.Background(), "probe"))
		return b, reg
	}, suiteOptions{atomicUploads: true})
}

func openBucket(t *testing.T, c Config) (objstore.Bucket, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	b, err := New(c, "test", reg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b, reg
}

func retriesTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == "weft_bucket_retries_total" {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func readAll(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func list(t *testing.T, b objstore.Bucket, dir string, opts ...objstore.IterOption) []string {
	t.Helper()
	got := []string{}
	require.NoError(t, b.Iter(context.Background(), dir, func(name string) error {
		got = append(got, name)
		return nil
	}, opts...))
	return got
}

// runStorageSuite checks what weft relies on from a bucket, whatever the
// backend.
func runStorageSuite(t *testing.T, open openFunc, opts suiteOptions) {
	ctx := context.Background()

	t.Run("upload get range exists attributes", func(t *testing.T) {
		b, reg := open(t)
		data := []byte("0123456789abcdefghij")
		before := time.Now().Add(-time.Minute)
		require.NoError(t, b.Upload(ctx, "tenant/block/index", bytes.NewReader(data)))

		rc, err := b.Get(ctx, "tenant/block/index")
		require.Equal(t, data, readAll(t, rc, err))

		f := func(off, length int64, want string) {
			t.Helper()
			rc, err := b.GetRange(ctx, "tenant/block/index", off, length)
			require.Equal(t, want, string(readAll(t, rc, err)), "range %d+%d", off, length)
		}
		f(0, 3, "012")
		f(5, 5, "56789")
		f(15, -1, "fghij") // -1: to the end
		f(18, 100, "ij")   // past the end: what there is

		ok, err := b.Exists(ctx, "tenant/block/index")
		require.NoError(t, err)
		require.True(t, ok)

		attrs, err := b.Attributes(ctx, "tenant/block/index")
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), attrs.Size)
		require.True(t, attrs.LastModified.After(before), "last modified %s", attrs.LastModified)

		// Overwrite: the last upload wins.
		require.NoError(t, b.Upload(ctx, "tenant/block/index", bytes.NewReader([]byte("v2"))))
		rc, err = b.Get(ctx, "tenant/block/index")
		require.Equal(t, "v2", string(readAll(t, rc, err)))

		// An empty object is an object.
		require.NoError(t, b.Upload(ctx, "tenant/empty", bytes.NewReader(nil)))
		rc, err = b.Get(ctx, "tenant/empty")
		require.Empty(t, readAll(t, rc, err))
		require.Zero(t, retriesTotal(t, reg))
	})

	t.Run("not found", func(t *testing.T) {
		b, reg := open(t)
		require.NoError(t, b.Upload(ctx, "tenant/present", bytes.NewReader([]byte("x"))))

		_, err := b.Get(ctx, "tenant/missing")
		require.Error(t, err)
		require.True(t, b.IsObjNotFoundErr(err), "Get: %v", err)

		_, err = b.GetRange(ctx, "tenant/missing", 0, 1)
		require.Error(t, err)
		require.True(t, b.IsObjNotFoundErr(err), "GetRange: %v", err)

		_, err = b.Attributes(ctx, "tenant/missing")
		require.Error(t, err)
		require.True(t, b.IsObjNotFoundErr(err), "Attributes: %v", err)

		ok, err := b.Exists(ctx, "tenant/missing")
		require.NoError(t, err)
		require.False(t, ok)

		// S3 deletes a missing key without complaint; others say not found.
		if err := b.Delete(ctx, "tenant/missing"); err != nil {
			require.True(t, b.IsObjNotFoundErr(err), "Delete: %v", err)
		}
		require.False(t, b.IsObjNotFoundErr(errors.New("connection refused")))

		require.Empty(t, list(t, b, "no/such/dir"))
		// Nothing above deserved a retry.
		require.Zero(t, retriesTotal(t, reg))
	})

	t.Run("iter", func(t *testing.T) {
		b, _ := open(t)
		for _, name := range []string{"dir/a", "dir/b", "dir/sub/c", "dir/sub/deeper/d", "dir-sibling", "other"} {
			require.NoError(t, b.Upload(ctx, name, bytes.NewReader([]byte(name))))
		}
		require.Equal(t, []string{"dir/a", "dir/b", "dir/sub/"}, list(t, b, "dir"))
		require.Equal(t, []string{"dir/a", "dir/b", "dir/sub/"}, list(t, b, "dir/"))
		require.Equal(t, []string{"dir/a", "dir/b", "dir/sub/c", "dir/sub/deeper/d"}, list(t, b, "dir", objstore.WithRecursiveIter()))
		top := list(t, b, "")
		sort.Strings(top)
		require.Equal(t, []string{"dir-sibling", "dir/", "other"}, top)
		all := list(t, b, "", objstore.WithRecursiveIter())
		sort.Strings(all)
		require.Equal(t, []string{"dir-sibling", "dir/a", "dir/b", "dir/sub/c", "dir/sub/deeper/d", "other"}, all)

		// An error of the callback stops the listing and comes back as is.
		stop := errors.New("enough")
		calls := 0
		err := b.Iter(ctx, "dir", func(string) error { calls++; return stop })
		require.ErrorIs(t, err, stop)
		require.Equal(t, 1, calls)

		var names []string
		require.NoError(t, b.IterWithAttributes(ctx, "dir/sub", func(a objstore.IterObjectAttributes) error {
			names = append(names, a.Name)
			return nil
		}, objstore.WithRecursiveIter()))
		require.Equal(t, []string{"dir/sub/c", "dir/sub/deeper/d"}, names)
	})

	t.Run("delete", func(t *testing.T) {
		b, _ := open(t)
		require.NoError(t, b.Upload(ctx, "t/b/chunks/000001", bytes.NewReader([]byte("c"))))
		require.NoError(t, b.Upload(ctx, "t/b/meta.json", bytes.NewReader([]byte("{}"))))
		require.NoError(t, b.Delete(ctx, "t/b/chunks/000001"))
		ok, err := b.Exists(ctx, "t/b/chunks/000001")
		require.NoError(t, err)
		require.False(t, ok)
		_, err = b.Get(ctx, "t/b/chunks/000001")
		require.True(t, b.IsObjNotFoundErr(err), "%v", err)
		require.Equal(t, []string{"t/b/meta.json"}, list(t, b, "t", objstore.WithRecursiveIter()))
	})

	t.Run("large object from a file", func(t *testing.T) {
		b, _ := open(t)
		data := randomBytes(t, 20<<20)
		p := filepath.Join(t.TempDir(), "chunks")
		require.NoError(t, os.WriteFile(p, data, 0o644))
		f, err := os.Open(p)
		require.NoError(t, err)
		defer f.Close()
		require.NoError(t, b.Upload(ctx, "t/b/chunks/000001", f)) // *os.File, as the ingester passes

		attrs, err := b.Attributes(ctx, "t/b/chunks/000001")
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), attrs.Size)
		rc, err := b.Get(ctx, "t/b/chunks/000001")
		require.True(t, bytes.Equal(data, readAll(t, rc, err)), "content differs")
		rc, err = b.GetRange(ctx, "t/b/chunks/000001", 17<<20, 1<<20)
		require.True(t, bytes.Equal(data[17<<20:18<<20], readAll(t, rc, err)), "range differs")
	})

	t.Run("concurrent uploads", func(t *testing.T) {
		b, _ := open(t)
		const n = 32
		objs := make([][]byte, n)
		for i := range objs {
			objs[i] = randomBytes(t, 64<<10+i)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = b.Upload(ctx, fmt.Sprintf("t/obj-%02d", i), bytes.NewReader(objs[i]))
				if errs[i] == nil && opts.atomicUploads {
					errs[i] = b.Upload(ctx, "t/shared", bytes.NewReader(objs[i]))
				}
			})
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		for i := range n {
			rc, err := b.Get(ctx, fmt.Sprintf("t/obj-%02d", i))
			require.True(t, bytes.Equal(objs[i], readAll(t, rc, err)), "object %d", i)
		}
		if !opts.atomicUploads {
			require.Len(t, list(t, b, "t"), n)
			return
		}
		// The shared name holds exactly one of the uploads, never a mix.
		rc, err := b.Get(ctx, "t/shared")
		shared := readAll(t, rc, err)
		found := false
		for i := range n {
			found = found || bytes.Equal(objs[i], shared)
		}
		require.True(t, found, "t/shared is not one of the uploads (%d bytes)", len(shared))
		require.Len(t, list(t, b, "t"), n+1)
	})

	t.Run("objstore metrics", func(t *testing.T) {
		b, reg := open(t)
		require.NoError(t, b.Upload(ctx, "x", bytes.NewReader([]byte("x"))))
		n, err := testutil.GatherAndCount(reg, "weft_objstore_bucket_operations_total", "weft_bucket_retries_total")
		require.NoError(t, err)
		require.Positive(t, n)
	})
}
