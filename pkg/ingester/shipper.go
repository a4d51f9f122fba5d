package ingester

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/weft-io/weft/pkg/bucketindex"
)

// shippedFileName lists, in the tenant's TSDB directory, the blocks whose
// upload the bucket confirmed; it survives restarts so nothing is shipped
// twice and nothing unshipped is deleted.
const shippedFileName = "weft-shipped.json"

// MetaExtension is the "weft" section that the ingester adds to the
// meta.json of every block it ships: who made the block, for whom.
type MetaExtension struct {
	Tenant   string `json:"tenant"`
	Ingester string `json:"ingester"`
	Source   string `json:"source"`
}

type shippedFile struct {
	path string
	mu   sync.Mutex
	set  map[ulid.ULID]struct{} // guarded by mu
}

func loadShipped(dir string) (*shippedFile, error) {
	s := &shippedFile{path: filepath.Join(dir, shippedFileName), set: map[ulid.ULID]struct{}{}}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", s.path, err)
	}
	var doc struct {
		Uploaded []ulid.ULID `json:"uploaded"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", s.path, err)
	}
	for _, id := range doc.Uploaded {
		s.set[id] = struct{}{}
	}
	return s, nil
}

func (s *shippedFile) has(id ulid.ULID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[id]
	return ok
}

// add records id and persists the list atomically (write + rename).
func (s *shippedFile) add(id ulid.ULID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set[id] = struct{}{}
	doc := struct {
		Uploaded []ulid.ULID `json:"uploaded"`
	}{}
	for u := range s.set {
		doc.Uploaded = append(doc.Uploaded, u)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

// unshipped returns how many of the tenant's local blocks are not
// confirmed in the bucket yet, and their size on disk.
func (t *tenantDB) unshipped() (n int, bytes int64) {
	for _, b := range t.db.Blocks() {
		if !t.shipped.has(b.Meta().ULID) {
			n++
			bytes += b.Size()
		}
	}
	return n, bytes
}

// ship uploads the tenant's blocks that are not yet in the bucket. Each
// block's files go first and its meta.json last, so a reader that sees a
// meta.json sees a complete block.
func (t *tenantDB) ship(ctx context.Context) error {
	t.shipMu.Lock()
	defer t.shipMu.Unlock()
	var errs []error
	for _, b := range t.db.Blocks() {
		m := b.Meta()
		if t.shipped.has(m.ULID) {
			continue
		}
		start := time.Now()
		if err := t.writeSidecars(ctx, b); err != nil {
			// The block is still shipped: its samples matter more than
			// its metadata and exemplars.
			t.ing.logger.Warn("cannot write the metadata and exemplars of a block; shipping it without", "tenant", t.id, "block", m.ULID.String(), "err", err)
		}
		if err := t.uploadBlock(ctx, b.Dir(), m.ULID); err != nil {
			t.ing.m.shipFailures.WithLabelValues(t.id).Inc()
			errs = append(errs, fmt.Errorf("cannot upload block %s: %w", m.ULID, err))
			continue
		}
		if err := t.shipped.add(m.ULID); err != nil {
			errs = append(errs, fmt.Errorf("cannot record upload of block %s: %w", m.ULID, err))
			continue
		}
		t.ing.m.shipped.WithLabelValues(t.id).Inc()
		t.ing.logger.Info("shipped block", "tenant", t.id, "block", m.ULID.String(),
			"mint", formatTS(m.MinTime), "maxt", formatTS(m.MaxTime), "samples", m.Stats.NumSamples, "duration", time.Since(start))
	}
	return errors.Join(errs...)
}

// uploadBlock ships one block with the "weft" section added to its
// meta.json. The bucket retries each upload with backoff (pkg/bucket); a
// block that still fails is shipped again by the next round of the loop.
func (t *tenantDB) uploadBlock(ctx context.Context, dir string, id ulid.ULID) error {
	meta, err := t.metaWithExtension(filepath.Join(dir, bucketindex.MetaName))
	if err != nil {
		return err
	}
	return bucketindex.UploadBlock(ctx, t.ing.bucket, t.id, dir, id, meta)
}

// metaWithExtension returns the block's meta.json with the "weft" section.
func (t *tenantDB) metaWithExtension(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", p, err)
	}
	doc["weft"] = MetaExtension{Tenant: t.id, Ingester: t.ing.cfg.InstanceID, Source: "ingester"}
	return json.MarshalIndent(doc, "", "\t")
}

// writeSidecars writes, into the block's directory, the files that keep
// beside it in the bucket what the TSDB does not: the metadata of the
// metric families that have series in the block, and the exemplars of its
// time range that the exemplar storage holds (bucketindex.MetadataName and
// ExemplarsName). They are written at the first attempt to ship the
// block, soon after it is cut, and kept for the retries: by then the
// exemplar storage, a circular buffer, may have moved on.
func (t *tenantDB) writeSidecars(ctx context.Context, b *tsdb.Block) error {
	dir, m := b.Dir(), b.Meta()
	if _, err := os.Stat(filepath.Join(dir, bucketindex.MetadataName)); errors.Is(err, fs.ErrNotExist) {
		ir, err := b.Index()
		if err != nil {
			return err
		}
		names, err := ir.SortedLabelValues(ctx, labels.MetricName, nil)
		_ = ir.Close()
		if err != nil {
			return fmt.Errorf("cannot list the metric names of the block: %w", err)
		}
		var families []string
		for _, n := range names {
			families = append(families, bucketindex.FamilyCandidates(n)...)
		}
		var md []bucketindex.MetricMetadata
		for _, x := range t.meta.of(families) {
			md = append(md, bucketindex.MetricMetadata{Metric: x.MetricFamily, Type: x.Type, Help: x.Help, Unit: x.Unit})
		}
		if err := bucketindex.WriteLocalMetadata(dir, md); err != nil {
			return fmt.Errorf("cannot write the metadata of the block: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, bucketindex.ExemplarsName)); errors.Is(err, fs.ErrNotExist) {
		eq, err := t.db.ExemplarQuerier(ctx)
		if err != nil {
			return err
		}
		// A block's MaxTime is exclusive, Select's end inclusive.
		res, err := eq.Select(m.MinTime, m.MaxTime-1, []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+")})
		if err != nil {
			return fmt.Errorf("cannot read the exemplars of the block: %w", err)
		}
		if err := bucketindex.WriteLocalExemplars(dir, res); err != nil {
			return fmt.Errorf("cannot write the exemplars of the block: %w", err)
		}
	}
	return nil
}
