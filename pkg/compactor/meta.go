package compactor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// SourceCompactor is the "source" of the blocks the compactor uploads.
const SourceCompactor = "compactor"

// MetaExtension is the "weft" section of a block's meta.json. The ingester
// writes {tenant, ingester, source: "ingester"}; the compactor writes
// {tenant, source: "compactor"} and the delete requests already applied.
type MetaExtension struct {
	Tenant   string `json:"tenant"`
	Ingester string `json:"ingester,omitempty"`
	Source   string `json:"source"`
	// DeletesApplied are the IDs of the delete requests whose series are
	// already gone from this block.
	DeletesApplied []string `json:"deletes_applied,omitempty"`
}

// blockMeta is a block's meta.json: the TSDB's fields plus the "weft"
// section (the TSDB ignores fields it does not know).
type blockMeta struct {
	tsdb.BlockMeta
	Weft *MetaExtension `json:"weft,omitempty"`
}

func (m *blockMeta) applied(id string) bool {
	return m.Weft != nil && slices.Contains(m.Weft.DeletesApplied, id)
}

// block is a complete block of a tenant as the compactor sees it.
type block struct {
	meta      blockMeta
	mark      *bucketindex.DeletionMark  // nil if not marked
	noCompact *bucketindex.NoCompactMark // nil if it may be compacted
}

func (b *block) id() ulid.ULID { return b.meta.ULID }

// tenantState is what one listing of a tenant's prefix found.
type tenantState struct {
	blocks []*block
	// deleting are block prefixes without meta.json that carry a deletion
	// mark: blocks whose deletion was interrupted.
	deleting map[ulid.ULID]*bucketindex.DeletionMark
	// partial are block prefixes with neither meta.json nor a mark:
	// uploads in progress, or abandoned (deletePartial).
	partial []ulid.ULID
	// corrupt are blocks whose meta.json does not parse (or names another
	// block), without a deletion mark; mark is their no-compact mark, nil
	// until processTenant writes it.
	corrupt    []corruptMeta
	hasIndex   bool
	tenantMark *TenantDeletionMark
}

// corruptMeta is a block whose meta.json does not parse.
type corruptMeta struct {
	id   ulid.ULID
	err  *corruptBlockError
	mark *bucketindex.NoCompactMark
}

// discover lists the tenant's prefix and reads each block's meta.json and
// deletion mark. meta.json is immutable, so it is read once per process.
func (c *Compactor) discover(ctx context.Context, tenant string) (*tenantState, error) {
	st := &tenantState{deleting: map[ulid.ULID]*bucketindex.DeletionMark{}}
	var ids []ulid.ULID
	err := c.bkt.Iter(ctx, tenant+"/", func(name string) error {
		base := strings.TrimSuffix(strings.TrimPrefix(name, tenant+"/"), "/")
		switch {
		case base == bucketindex.IndexName:
			st.hasIndex = true
		case strings.HasSuffix(name, "/"):
			if id, err := ulid.ParseStrict(base); err == nil {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list blocks of tenant %s: %w", tenant, err)
	}
	if st.tenantMark, err = readTenantDeletionMark(ctx, c.bkt, tenant); err != nil {
		return nil, err
	}
	for _, id := range ids {
		meta, metaErr := c.readMeta(ctx, tenant, id)
		var corrupt *corruptBlockError
		if metaErr != nil && !errors.As(metaErr, &corrupt) {
			return nil, metaErr
		}
		mark, err := bucketindex.ReadDeletionMark(ctx, c.bkt, tenant, id)
		if err != nil {
			return nil, fmt.Errorf("cannot read deletion mark of block %s of tenant %s: %w", id, tenant, err)
		}
		var noCompact *bucketindex.NoCompactMark
		if meta != nil || corrupt != nil {
			if noCompact, err = bucketindex.ReadNoCompactMark(ctx, c.bkt, tenant, id); err != nil {
				return nil, err
			}
		}
		switch {
		case corrupt != nil && mark == nil:
			st.corrupt = append(st.corrupt, corruptMeta{id: id, err: corrupt, mark: noCompact})
			continue
		case meta != nil:
			if meta.Weft != nil && meta.Weft.Tenant != "" && meta.Weft.Tenant != tenant {
				// Never mix tenants: a block of another tenant stored under
				// this prefix is left alone and not indexed.
				c.logger.Warn("block belongs to another tenant, ignoring it", "tenant", tenant, "block", id.String(), "block_tenant", meta.Weft.Tenant)
				continue
			}
			st.blocks = append(st.blocks, &block{meta: *meta, mark: mark, noCompact: noCompact})
		case mark != nil:
			st.deleting[id] = mark
		default:
			st.partial = append(st.partial, id)
		}
	}
	slices.SortFunc(st.blocks, func(a, b *block) int {
		if a.meta.MinTime != b.meta.MinTime {
			return cmpInt(a.meta.MinTime, b.meta.MinTime)
		}
		return a.id().Compare(b.id())
	})
	return st, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readMeta returns the block's meta.json, or nil when it has none (an
// upload in progress or a deletion in progress). A meta.json that does not
// parse, or names another block, is a *corruptBlockError: the block is
// complete (meta.json is uploaded last) but unusable.
func (c *Compactor) readMeta(ctx context.Context, tenant string, id ulid.ULID) (*blockMeta, error) {
	key := tenant + "/" + id.String()
	c.metaMu.Lock()
	m, ok := c.metaCache[key]
	c.metaMu.Unlock()
	if ok {
		// The meta of a block being deleted disappears first: check it.
		if exists, err := c.bkt.Exists(ctx, path.Join(key, bucketindex.MetaName)); err != nil || !exists {
			c.forgetMeta(tenant, id)
			return nil, err
		}
		return m, nil
	}
	r, err := c.bkt.Get(ctx, path.Join(key, bucketindex.MetaName))
	if err != nil {
		if c.bkt.IsObjNotFoundErr(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot read meta.json of block %s of tenant %s: %w", id, tenant, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("cannot read meta.json of block %s of tenant %s: %w", id, tenant, err)
	}
	m = &blockMeta{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, &corruptBlockError{id: id, reason: bucketindex.NoCompactCorruptMeta, err: fmt.Errorf("cannot parse meta.json: %w", err)}
	}
	if m.ULID != id {
		return nil, &corruptBlockError{id: id, reason: bucketindex.NoCompactCorruptMeta, err: fmt.Errorf("meta.json names block %s", m.ULID)}
	}
	c.metaMu.Lock()
	c.metaCache[key] = m
	c.metaMu.Unlock()
	return m, nil
}

func (c *Compactor) forgetMeta(tenant string, id ulid.ULID) {
	c.metaMu.Lock()
	delete(c.metaCache, tenant+"/"+id.String())
	c.metaMu.Unlock()
}

func (c *Compactor) forgetTenant(tenant string) {
	c.metaMu.Lock()
	for k := range c.metaCache {
		if strings.HasPrefix(k, tenant+"/") {
			delete(c.metaCache, k)
		}
	}
	c.metaMu.Unlock()
}

// readLocalMeta reads the meta.json of a block directory.
func readLocalMeta(dir string) (*blockMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, bucketindex.MetaName))
	if err != nil {
		return nil, err
	}
	m := &blockMeta{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", filepath.Join(dir, bucketindex.MetaName), err)
	}
	return m, nil
}

// writeLocalMeta replaces the meta.json of a block directory.
func writeLocalMeta(dir string, m *blockMeta) error {
	b, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return err
	}
	p := filepath.Join(dir, bucketindex.MetaName)
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(p+".tmp", p)
}

// TenantDeletionMark says a tenant is to be deleted: the compactor stops
// compacting it and deletes all its objects TenantDeletionDelay later.
type TenantDeletionMark struct {
	DeletionTime int64 `json:"deletion_time"` // unix seconds
}

// TenantDeletionMarkName is the tenant deletion mark, under the tenant's
// prefix.
const TenantDeletionMarkName = "tenant-deletion-mark.json"

func readTenantDeletionMark(ctx context.Context, bkt interface {
	Get(context.Context, string) (io.ReadCloser, error)
	IsObjNotFoundErr(error) bool
}, tenant string) (*TenantDeletionMark, error) {
	r, err := bkt.Get(ctx, path.Join(tenant, TenantDeletionMarkName))
	if err != nil {
		if bkt.IsObjNotFoundErr(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot read the deletion mark of tenant %s: %w", tenant, err)
	}
	defer r.Close()
	var m TenantDeletionMark
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("cannot parse the deletion mark of tenant %s: %w", tenant, err)
	}
	return &m, nil
}

func marshalTenantDeletionMark(now time.Time) *bytes.Reader {
	b, _ := json.Marshal(TenantDeletionMark{DeletionTime: now.Unix()})
	return bytes.NewReader(b)
}
