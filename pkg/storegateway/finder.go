package storegateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// ReadIndex returns the blocks of a tenant: its bucket index when the
// compactor has written one, otherwise an index built by listing
// "<tenant>/" and reading each block's meta.json, where blocks without a
// meta.json (uploads in progress) and blocks with a deletion mark are left
// out. A tenant with nothing in the bucket has an empty index.
func ReadIndex(ctx context.Context, bkt objstore.BucketReader, tenant string) (*bucketindex.Index, error) {
	idx, err := bucketindex.Read(ctx, bkt, tenant)
	if err == nil {
		return idx, nil
	}
	if !errors.Is(err, bucketindex.ErrNotFound) {
		return nil, err
	}
	return listIndex(ctx, bkt, tenant)
}

// listConcurrency bounds the meta.json reads of one listing.
const listConcurrency = 16

func listIndex(ctx context.Context, bkt objstore.BucketReader, tenant string) (*bucketindex.Index, error) {
	var ids []ulid.ULID
	err := bkt.Iter(ctx, tenant+"/", func(name string) error {
		id, err := ulid.Parse(strings.TrimSuffix(path.Base(name), "/"))
		if err == nil && strings.HasSuffix(name, "/") {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list the blocks of tenant %s: %w", tenant, err)
	}
	var (
		mu     sync.Mutex
		blocks []bucketindex.Block
		errs   []error
		wg     sync.WaitGroup
		sem    = make(chan struct{}, listConcurrency)
	)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			b, ok, err := readBlock(ctx, bkt, tenant, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case ok:
				blocks = append(blocks, b)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].MinTime < blocks[j].MinTime })
	return &bucketindex.Index{Version: bucketindex.Version, Blocks: blocks, UpdatedAt: time.Now().Unix()}, nil
}

// readBlock reads a block's meta.json; ok is false when the block has no
// meta.json or has a deletion mark.
func readBlock(ctx context.Context, bkt objstore.BucketReader, tenant string, id ulid.ULID) (bucketindex.Block, bool, error) {
	mark, err := bucketindex.ReadDeletionMark(ctx, bkt, tenant, id)
	if err != nil {
		return bucketindex.Block{}, false, fmt.Errorf("cannot read the deletion mark of block %s of tenant %s: %w", id, tenant, err)
	}
	if mark != nil {
		return bucketindex.Block{}, false, nil
	}
	r, err := bkt.Get(ctx, path.Join(bucketindex.BlockPath(tenant, id), bucketindex.MetaName))
	if err != nil {
		if bkt.IsObjNotFoundErr(err) {
			return bucketindex.Block{}, false, nil
		}
		return bucketindex.Block{}, false, fmt.Errorf("cannot read meta.json of block %s of tenant %s: %w", id, tenant, err)
	}
	defer r.Close()
	raw, err := io.ReadAll(r)
	if err != nil {
		return bucketindex.Block{}, false, fmt.Errorf("cannot read meta.json of block %s of tenant %s: %w", id, tenant, err)
	}
	var meta tsdb.BlockMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return bucketindex.Block{}, false, fmt.Errorf("cannot parse meta.json of block %s of tenant %s: %w", id, tenant, err)
	}
	if meta.ULID != id {
		return bucketindex.Block{}, false, fmt.Errorf("meta.json of block %s of tenant %s names block %s", id, tenant, meta.ULID)
	}
	return bucketindex.Block{
		ID:      id,
		MinTime: meta.MinTime,
		MaxTime: meta.MaxTime,
		Level:   meta.Compaction.Level,
		Sources: meta.Compaction.Sources,
		// Without an index the upload time is unknown; the block's ULID
		// time (when it was written) is the closest known bound.
		UploadedAt: int64(id.Time() / 1000),
	}, true, nil
}

// Finder keeps the block list of each tenant it was asked about, re-read
// from the bucket once older than its TTL. It is what the store-gateway
// uses to find blocks and what the querier uses for its consistency check
// (BlocksFor), so both see the bucket the same way. It is safe for
// concurrent use.
type Finder struct {
	bkt                      objstore.BucketReader
	ttl                      time.Duration
	ignoreDeletionMarksDelay time.Duration
	now                      func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantIndex // guarded by mu
}

type tenantIndex struct {
	mu       sync.Mutex // guards the fields below but lastUsed
	idx      *bucketindex.Index
	fetched  time.Time
	lastUsed time.Time // guarded by Finder.mu
	// reading is closed when the read of the index in flight ends; nil
	// when none is. readErr is the error of the last read that ended.
	reading chan struct{}
	readErr error
}

// staleWait is how long a query waits for a re-read of an index older than
// the TTL before it uses the copy it has. A read takes milliseconds when
// the bucket is well; when it is down, the read retries for as long as
// -bucket.retry-max-time allows, in the background, and queries go on
// with the last copy: at once while the last read failed, after staleWait
// for the first of them. No block can be added to a bucket that cannot be
// written, and a query that needs a block of it fails anyway; but a query
// of recent data, which only the ingesters hold, still works.
const staleWait = 2 * time.Second

// readTimeout bounds one read of a tenant's index in the background.
const readTimeout = 5 * time.Minute

// NewFinder returns a finder over bkt that re-reads a tenant's blocks once
// its copy is older than ttl and leaves out blocks marked for deletion
// longer ago than ignoreDeletionMarksDelay.
func NewFinder(bkt objstore.BucketReader, ttl, ignoreDeletionMarksDelay time.Duration) *Finder {
	return &Finder{bkt: bkt, ttl: ttl, ignoreDeletionMarksDelay: ignoreDeletionMarksDelay, now: time.Now, tenants: map[string]*tenantIndex{}}
}

// tenant returns the state of a tenant; touch records a use by a query
// (the sync loop's refreshes do not keep a tenant known).
func (f *Finder) tenant(tenant string, touch bool) *tenantIndex {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenants[tenant]
	if t == nil {
		t = &tenantIndex{lastUsed: f.now()}
		f.tenants[tenant] = t
	}
	if touch {
		t.lastUsed = f.now()
	}
	return t
}

// index returns the tenant's block list, re-read when the copy is older
// than the TTL or refresh is set (the sync loop). The index must not be
// modified.
//
// A query (refresh unset) that finds its copy too old starts a re-read, or
// joins the one in flight, and waits for it; when it has a copy, it waits
// at most staleWait, and not at all while the last read failed, and then
// uses the copy if the read failed or is still running. Without a copy it
// waits for the read (or its ctx) and gets its error.
// The sync loop waits for its read and gets its error, the copy staying.
func (f *Finder) index(ctx context.Context, tenant string, refresh bool) (*bucketindex.Index, error) {
	t := f.tenant(tenant, !refresh)
	t.mu.Lock()
	if t.idx != nil && !refresh && f.now().Sub(t.fetched) < f.ttl {
		idx := t.idx
		t.mu.Unlock()
		return idx, nil
	}
	done := t.reading
	if done == nil {
		done = make(chan struct{})
		t.reading = done
		go f.read(t, tenant, done)
	}
	stale, failing := t.idx, t.readErr != nil
	t.mu.Unlock()

	if stale != nil && !refresh && failing {
		return stale, nil
	}
	var timeout <-chan time.Time
	if stale != nil && !refresh {
		timer := time.NewTimer(staleWait)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-done:
	case <-timeout:
		return stale, nil
	case <-ctx.Done():
		if stale != nil && !refresh {
			return stale, nil
		}
		return nil, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.readErr != nil && (refresh || t.idx == nil) {
		return nil, t.readErr
	}
	return t.idx, nil
}

// read re-reads the tenant's index into t, in the background of the
// queries that wait for it, and closes done.
func (f *Finder) read(t *tenantIndex, tenant string, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	idx, err := ReadIndex(ctx, f.bkt, tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.idx, t.fetched = idx, f.now()
	}
	t.readErr = err
	t.reading = nil
	close(done)
}

// BlocksFor returns the blocks that a query of [mint, maxt] of the tenant
// must read: those of the index overlapping the range, minus those marked
// for deletion longer ago than the delay.
func (f *Finder) BlocksFor(ctx context.Context, tenant string, mint, maxt int64) ([]bucketindex.Block, error) {
	idx, err := f.index(ctx, tenant, false)
	if err != nil {
		return nil, err
	}
	return idx.Queryable(mint, maxt, f.ignoreDeletionMarksDelay, f.now()), nil
}

// RequiredBlocks returns the blocks that the store-gateways must have read
// to answer a query of [mint, maxt] of the tenant: those of BlocksFor,
// except blocks uploaded within the last one and a half TTLs. The TTL is
// the store-gateways' sync interval, so such a block may not be known to
// them yet; its data is still in the ingesters, which answer for a range
// (-querier.query-ingesters-within) much longer than that. The querier's
// block check requires these blocks (querier.NewCheckedStoreReader).
func (f *Finder) RequiredBlocks(ctx context.Context, tenant string, mint, maxt int64) ([]ulid.ULID, error) {
	blocks, err := f.BlocksFor(ctx, tenant, mint, maxt)
	if err != nil {
		return nil, err
	}
	cutoff := f.now().Add(-(f.ttl + f.ttl/2)).Unix()
	var ids []ulid.ULID
	for _, b := range blocks {
		if b.UploadedAt <= cutoff {
			ids = append(ids, b.ID)
		}
	}
	return ids, nil
}

// known returns the tenants asked about since before, forgetting those not
// asked about for longer than forget.
func (f *Finder) known(forget time.Duration) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	out := make([]string, 0, len(f.tenants))
	for id, t := range f.tenants {
		if now.Sub(t.lastUsed) > forget {
			delete(f.tenants, id)
			continue
		}
		out = append(out, id)
	}
	return out
}

// live returns the blocks of the tenant that may still be queried at all
// (any time range), re-reading the index.
func (f *Finder) live(ctx context.Context, tenant string) (map[ulid.ULID]bool, error) {
	idx, err := f.index(ctx, tenant, true)
	if err != nil {
		return nil, err
	}
	out := map[ulid.ULID]bool{}
	for _, b := range idx.Queryable(minInt64, maxInt64, f.ignoreDeletionMarksDelay, f.now()) {
		out[b.ID] = true
	}
	return out, nil
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)
