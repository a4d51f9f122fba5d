package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
)

// tempPrefix starts the name of the temporary file of an upload in
// progress. No object weft writes has a base name starting with a dot, and
// Upload refuses such names, so a temporary file never collides with an
// object and listings can leave temporary files out by name alone.
const tempPrefix = ".weft-upload-"

// isTempName reports whether an object name (as listings give it: "/"
// separated, directories ending with "/") is a temporary upload file.
func isTempName(name string) bool {
	return !strings.HasSuffix(name, "/") && strings.HasPrefix(path.Base(name), tempPrefix)
}

// atomicFilesystem is objstore's filesystem bucket with atomic uploads.
// objstore's own Upload writes straight into the object's file, so a
// reader (or a crash) can see a partial object; here an upload writes a
// temporary file in the object's directory, fsyncs it, renames it over the
// object and fsyncs the directory (and the parents of the directories it
// created), so that a reader sees the old object or the new one, whole,
// and a crash leaves one of them. Listings never report temporary files.
type atomicFilesystem struct {
	*filesystem.Bucket
	root string // absolute, as objstore's bucket resolves it
}

var _ objstore.Bucket = (*atomicFilesystem)(nil)

// newFilesystemBucket opens the filesystem bucket rooted at dir.
func newFilesystemBucket(dir string) (objstore.Bucket, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve the bucket directory %q: %w", dir, err)
	}
	b, err := filesystem.NewBucket(root)
	if err != nil {
		return nil, err
	}
	return &atomicFilesystem{Bucket: b, root: root}, nil
}

// tempAttempts bounds how often Upload re-creates the object's directory
// when a concurrent Delete (which removes directories it empties) or a
// failed upload's cleanup removed it before the temporary file was made.
const tempAttempts = 3

// Upload implements objstore.Bucket. On error, nothing of the upload stays:
// neither its temporary file nor the directories it created; an object
// already under name is left as it was. ctx is checked before the upload
// starts and again before the new object replaces the old one.
func (b *atomicFilesystem) Upload(ctx context.Context, name string, r io.Reader, _ ...objstore.ObjectUploadOption) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if isTempName(name) {
		return fmt.Errorf("cannot upload %q: object names starting with %q are reserved for uploads in progress", name, tempPrefix)
	}
	dst := filepath.Join(b.root, filepath.FromSlash(name))
	if rel, err := filepath.Rel(b.root, dst); err != nil || rel == "." || rel == ".." ||
		strings.HasPrefix(rel, ".."+string(filepath.Separator)) || strings.HasSuffix(name, "/") {
		return fmt.Errorf("cannot upload %q: not the name of an object inside the bucket", name)
	}
	dir := filepath.Dir(dst)

	var (
		f       *os.File
		created = map[string]bool{} // directories missing when the upload began
	)
	defer func() {
		if err == nil {
			return
		}
		if f != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
		removeEmptyDirs(created)
	}()
	for attempt := 1; ; attempt++ {
		for _, d := range missingDirs(dir, b.root) {
			created[d] = true
		}
		if err = os.MkdirAll(dir, 0o777); err == nil {
			f, err = createTemp(dir)
		}
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == tempAttempts {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("cannot create the temporary file of %q: %w", name, err)
	}

	if _, err = io.Copy(f, r); err != nil {
		return fmt.Errorf("cannot write %q: %w", name, err)
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %q: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("cannot close %q: %w", name, err)
	}
	if err = os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("cannot rename the temporary file of %q into place: %w", name, err)
	}
	f = nil // renamed: nothing to clean up from here on
	// The rename, and the entries of new directories in their parents,
	// are durable only once the directories holding them are synced.
	toSync := map[string]bool{dir: true}
	for d := range created {
		toSync[filepath.Dir(d)] = true
	}
	for d := range toSync {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("cannot sync the directory of %q: %w", name, err)
		}
	}
	return nil
}

// missingDirs returns dir and those of its parents below root that do not
// exist.
func missingDirs(dir, root string) []string {
	var out []string
	for d := dir; d != root && len(d) > len(root); d = filepath.Dir(d) {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		out = append(out, d)
	}
	return out
}

// createTemp creates a new temporary upload file in dir, with the
// permissions os.Create gives (as objstore's Upload does).
func createTemp(dir string) (*os.File, error) {
	for range 100 {
		p := filepath.Join(dir, tempPrefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("cannot find an unused temporary file name in %s", dir)
}

// removeEmptyDirs removes the directories of dirs that are empty, deepest
// first, like objstore's Delete does: an empty directory left behind would
// still show in listings of its parent.
func removeEmptyDirs(dirs map[string]bool) {
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	for _, d := range list {
		_ = os.Remove(d) // fails, as it should, when not empty
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Iter implements objstore.Bucket; it leaves out temporary upload files.
func (b *atomicFilesystem) Iter(ctx context.Context, dir string, f func(string) error, opts ...objstore.IterOption) error {
	return b.Bucket.Iter(ctx, dir, func(name string) error {
		if isTempName(name) {
			return nil
		}
		return f(name)
	}, opts...)
}

// IterWithAttributes implements objstore.Bucket; it leaves out temporary
// upload files.
func (b *atomicFilesystem) IterWithAttributes(ctx context.Context, dir string, f func(objstore.IterObjectAttributes) error, opts ...objstore.IterOption) error {
	return b.Bucket.IterWithAttributes(ctx, dir, func(a objstore.IterObjectAttributes) error {
		if isTempName(a.Name) {
			return nil
		}
		return f(a)
	}, opts...)
}
