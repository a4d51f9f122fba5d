package notebook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
)

// Dir is the directory of a tenant's notebooks under the tenant's prefix.
const Dir = "notebooks"

// Stable IDs of the limit errors.
const (
	errIDMaxNotebooks     = "err-weft-max-notebooks-per-tenant"
	errIDMaxNotebookBytes = "err-weft-max-notebook-bytes"
)

// versionDigits is the width of the zero-padded version of an object's
// name, so that names sort as versions do.
const versionDigits = 10

// errNotFound means the notebook (or the version) is not stored for the
// tenant: unknown, deleted, pruned, or another tenant's.
var errNotFound = httpapi.Errorf(http.StatusNotFound, "notebook not found")

// store keeps the tenants' notebooks in the bucket, one immutable object
// per version.
//
// Writes to one notebook are serialised in the process (locks), and an
// update is refused unless it names the latest stored version. objstore
// offers no conditional write, so two processes of the ui role that update
// the same notebook at the same instant can both find version n latest and
// both write version n+1: the last upload wins. Each writer reads its
// version back after the upload and answers 409 when it finds the other's,
// which narrows the race to the two read-backs both following both
// uploads; in that case one of the two updates is lost although both were
// answered 200. Run one ui process, or accept that, until the bucket
// client offers If-None-Match uploads.
type store struct {
	bkt    objstore.Bucket
	limits *limits.Overrides
	now    func() time.Time
	locks  keyedLocks
	// summaries caches what a listing needs of each stored version, by
	// object name: versions are immutable, so it is never stale, only
	// pruned when a notebook is deleted or grows too large.
	mu        sync.Mutex
	summaries map[string]Summary
}

// maxCachedSummaries bounds the summaries cache; it is emptied when full.
const maxCachedSummaries = 100000

func newStore(bkt objstore.Bucket, lim *limits.Overrides) *store {
	return &store{bkt: bkt, limits: lim, now: time.Now, summaries: map[string]Summary{}}
}

// Summary describes one notebook in a listing, or one of its versions.
type Summary struct {
	ID      string `json:"id,omitempty"`
	Title   string `json:"title"`
	Version int    `json:"version"`
	Updated string `json:"updated"`
	Cells   *int   `json:"cells,omitempty"`
}

func tenantDir(tenantID string) string { return path.Join(tenantID, Dir) + "/" }

func notebookDir(tenantID, id string) string { return path.Join(tenantID, Dir, id) + "/" }

func versionPath(tenantID, id string, v int) string {
	return path.Join(tenantID, Dir, id, fmt.Sprintf("%0*d.json", versionDigits, v))
}

// parseID returns the canonical form of a notebook ID from a URL, or
// errNotFound: only ULIDs name notebooks, so no path can escape the
// tenant's directory.
func parseID(s string) (string, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil {
		return "", errNotFound
	}
	return id.String(), nil
}

// ids lists the tenant's notebooks.
func (s *store) ids(ctx context.Context, tenantID string) ([]string, error) {
	var out []string
	err := s.bkt.Iter(ctx, tenantDir(tenantID), func(name string) error {
		if !strings.HasSuffix(name, "/") {
			return nil
		}
		if id, err := ulid.ParseStrict(path.Base(name)); err == nil {
			out = append(out, id.String())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the notebooks of tenant %s: %w", tenantID, err)
	}
	return out, nil
}

// versions lists the stored versions of a notebook, oldest first.
func (s *store) versions(ctx context.Context, tenantID, id string) ([]int, error) {
	var out []int
	err := s.bkt.Iter(ctx, notebookDir(tenantID, id), func(name string) error {
		if v, ok := parseVersion(path.Base(name)); ok {
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the versions of notebook %s: %w", id, err)
	}
	slices.Sort(out)
	return out, nil
}

// get reads one version.
func (s *store) get(ctx context.Context, tenantID, id string, v int) (*Notebook, error) {
	name := versionPath(tenantID, id, v)
	r, err := s.bkt.Get(ctx, name)
	if err != nil {
		if s.bkt.IsObjNotFoundErr(err) {
			return nil, errNotFound
		}
		return nil, fmt.Errorf("cannot read notebook %s: %w", id, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("cannot read notebook %s: %w", id, err)
	}
	var n Notebook
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("cannot parse stored notebook %s version %d: %w", id, v, err)
	}
	s.remember(name, &n)
	return &n, nil
}

// latest reads the latest version of a notebook.
func (s *store) latest(ctx context.Context, tenantID, id string) (*Notebook, error) {
	vs, err := s.versions(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, errNotFound
	}
	return s.get(ctx, tenantID, id, vs[len(vs)-1])
}

// summary returns what a listing shows of one version, from the cache.
func (s *store) summary(ctx context.Context, tenantID, id string, v int) (Summary, error) {
	name := versionPath(tenantID, id, v)
	s.mu.Lock()
	sum, ok := s.summaries[name]
	s.mu.Unlock()
	if ok {
		return sum, nil
	}
	n, err := s.get(ctx, tenantID, id, v)
	if err != nil {
		return Summary{}, err
	}
	return summarize(n), nil
}

func summarize(n *Notebook) Summary {
	cells := len(n.Cells)
	return Summary{ID: n.ID, Title: n.Title, Version: n.Version, Updated: n.Updated, Cells: &cells}
}

func (s *store) remember(name string, n *Notebook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.summaries) >= maxCachedSummaries {
		clear(s.summaries)
	}
	s.summaries[name] = summarize(n)
}

func (s *store) forget(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		delete(s.summaries, name)
	}
}

// list returns a summary of the latest version of each of the tenant's
// notebooks, the most recently updated first. One recursive listing finds
// every version; only latest versions not read before are read.
func (s *store) list(ctx context.Context, tenantID string) ([]Summary, error) {
	latest := map[string]int{}
	prefix := tenantDir(tenantID)
	err := s.bkt.Iter(ctx, prefix, func(name string) error {
		idStr, file, ok := strings.Cut(strings.TrimPrefix(name, prefix), "/")
		if !ok {
			return nil
		}
		id, err := ulid.ParseStrict(idStr)
		if err != nil {
			return nil
		}
		if v, ok := parseVersion(file); ok && v > latest[id.String()] {
			latest[id.String()] = v
		}
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		return nil, fmt.Errorf("cannot list the notebooks of tenant %s: %w", tenantID, err)
	}
	out := make([]Summary, 0, len(latest))
	for id, v := range latest {
		sum, err := s.summary(ctx, tenantID, id, v)
		if errors.Is(err, errNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		return cmp.Or(strings.Compare(b.Updated, a.Updated), strings.Compare(b.ID, a.ID))
	})
	return out, nil
}

// parseVersion returns the version of an object's base name.
func parseVersion(base string) (int, bool) {
	digits, ok := strings.CutSuffix(base, ".json")
	if !ok || len(digits) != versionDigits {
		return 0, false
	}
	v, err := strconv.Atoi(digits)
	return v, err == nil && v > 0
}

// history returns a summary of each kept version, newest first.
func (s *store) history(ctx context.Context, tenantID, id string) ([]Summary, error) {
	vs, err := s.versions(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, errNotFound
	}
	out := make([]Summary, 0, len(vs))
	for _, v := range slices.Backward(vs) {
		sum, err := s.summary(ctx, tenantID, id, v)
		if errors.Is(err, errNotFound) {
			continue // pruned since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Summary{Title: sum.Title, Version: sum.Version, Updated: sum.Updated})
	}
	return out, nil
}

// create stores a new notebook as version 1 under a new ID.
func (s *store) create(ctx context.Context, tenantID string, n *Notebook) (*Notebook, error) {
	// Serialise the tenant's creations, so that the count below holds
	// until the new notebook is stored (in this process).
	unlock := s.locks.lock(tenantID)
	defer unlock()
	if max := s.limits.For(tenantID).MaxNotebooksPerTenant; max > 0 {
		ids, err := s.ids(ctx, tenantID)
		if err != nil {
			return nil, err
		}
		if len(ids) >= max {
			return nil, httpapi.Errorf(http.StatusTooManyRequests, "tenant %s has %d notebooks, the limit is %d (delete notebooks, or raise max_notebooks_per_tenant / -ui.max-notebooks-per-tenant) (%s)", tenantID, len(ids), max, errIDMaxNotebooks)
		}
	}
	now := s.now().UTC().Format(timeFormat)
	n.ID, n.Version, n.Created, n.Updated = ulid.Make().String(), 1, now, now
	if err := s.write(ctx, tenantID, n); err != nil {
		return nil, err
	}
	return n, nil
}

// update stores n as the version after base, which must be the latest.
// content, given the latest version, returns the new content: the
// client's (update) or an older version's (restore).
func (s *store) update(ctx context.Context, tenantID, id string, base int, content func(ctx context.Context, latest *Notebook) (*Notebook, error)) (*Notebook, error) {
	unlock := s.locks.lock(tenantID + "/" + id)
	defer unlock()
	latest, err := s.latest(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if base != latest.Version {
		return nil, httpapi.Errorf(http.StatusConflict, "notebook %s is at version %d, not %d: it was saved since it was read; reload it and apply the change again", id, latest.Version, base)
	}
	n, err := content(ctx, latest)
	if err != nil {
		return nil, err
	}
	n.ID, n.Version, n.Created, n.Updated = id, latest.Version+1, latest.Created, s.now().UTC().Format(timeFormat)
	if err := s.write(ctx, tenantID, n); err != nil {
		return nil, err
	}
	s.prune(ctx, tenantID, id)
	return n, nil
}

// write uploads one version after checking its size, then reads it back:
// another process that wrote the same version meanwhile makes it a 409.
func (s *store) write(ctx context.Context, tenantID string, n *Notebook) error {
	b, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("cannot encode notebook %s: %w", n.ID, err)
	}
	if max := s.limits.For(tenantID).MaxNotebookBytes; max > 0 && len(b) > max {
		return tooLarge(tenantID, len(b), max)
	}
	name := versionPath(tenantID, n.ID, n.Version)
	if err := s.bkt.Upload(ctx, name, bytes.NewReader(b), objstore.WithContentType("application/json")); err != nil {
		return fmt.Errorf("cannot store notebook %s: %w", n.ID, err)
	}
	r, err := s.bkt.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("cannot read back notebook %s: %w", n.ID, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("cannot read back notebook %s: %w", n.ID, err)
	}
	if !bytes.Equal(got, b) {
		s.forget(name)
		return httpapi.Errorf(http.StatusConflict, "notebook %s version %d was saved by another request at the same time; reload it and apply the change again", n.ID, n.Version)
	}
	s.remember(name, n)
	return nil
}

func tooLarge(tenantID string, size, max int) error {
	return httpapi.Errorf(http.StatusBadRequest, "the notebook is %d bytes, over tenant %s's limit of %d (make it smaller, or raise max_notebook_bytes / -ui.max-notebook-bytes) (%s)", size, tenantID, max, errIDMaxNotebookBytes)
}

// prune deletes the versions beyond the tenant's notebook_versions_kept,
// oldest first. A failure leaves extra versions, deleted by the next save.
func (s *store) prune(ctx context.Context, tenantID, id string) {
	keep := max(s.limits.For(tenantID).NotebookVersionsKept, 1)
	vs, err := s.versions(ctx, tenantID, id)
	if err != nil || len(vs) <= keep {
		return
	}
	for _, v := range vs[:len(vs)-keep] {
		name := versionPath(tenantID, id, v)
		if err := s.bkt.Delete(ctx, name); err != nil && !s.bkt.IsObjNotFoundErr(err) {
			return
		}
		s.forget(name)
	}
}

// remove deletes every version of a notebook, oldest first: a deletion
// that fails half way leaves the latest version visible, and a retry
// finishes it.
func (s *store) remove(ctx context.Context, tenantID, id string) error {
	unlock := s.locks.lock(tenantID + "/" + id)
	defer unlock()
	vs, err := s.versions(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return errNotFound
	}
	for _, v := range vs {
		name := versionPath(tenantID, id, v)
		if err := s.bkt.Delete(ctx, name); err != nil && !s.bkt.IsObjNotFoundErr(err) {
			return fmt.Errorf("cannot delete notebook %s: %w", id, err)
		}
		s.forget(name)
	}
	return nil
}

// keyedLocks serialises work by key; an entry lives while it is held or
// awaited.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

// lock takes the lock of key and returns its release.
func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
