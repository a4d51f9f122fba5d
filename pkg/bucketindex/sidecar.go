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
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"
)

// Names of the files that weft keeps beside a block's TSDB files, in the
// block's directory: they are uploaded with the block (before meta.json),
// merged by the compactor with the blocks, and deleted with them.
const (
	// MetadataName holds the metric metadata of the families that have
	// series in the block.
	MetadataName = "weft-metadata.json"
	// ExemplarsName holds the exemplars of the block's time range that
	// the ingester's exemplar storage held when the block was shipped.
	ExemplarsName = "weft-exemplars.json.gz"
)

// SidecarVersion is the version of the metadata and exemplars files.
const SidecarVersion = 1

// MetricMetadata is the metadata of one metric family.
type MetricMetadata struct {
	Metric string `json:"metric"`
	Type   string `json:"type,omitempty"`
	Help   string `json:"help,omitempty"`
	Unit   string `json:"unit,omitempty"`
}

type metadataFile struct {
	Version  int              `json:"version"`
	Metadata []MetricMetadata `json:"metadata"`
}

// exemplarsFile is the JSON in ExemplarsName. Values are strings, as in
// Prometheus' API, because JSON has no NaN nor infinities.
type exemplarsFile struct {
	Version int              `json:"version"`
	Series  []seriesExemplar `json:"series"`
}

type seriesExemplar struct {
	Labels    labels.Labels  `json:"labels"`
	Exemplars []exemplarJSON `json:"exemplars"`
}

type exemplarJSON struct {
	Labels labels.Labels `json:"labels"`
	Value  string        `json:"value"`
	TS     int64         `json:"timestamp"`
}

// WriteLocalMetadata writes md into the block directory dir; nothing is
// written when md is empty (a block without the file has no metadata).
func WriteLocalMetadata(dir string, md []MetricMetadata) error {
	if len(md) == 0 {
		return nil
	}
	b, err := json.Marshal(metadataFile{Version: SidecarVersion, Metadata: MergeMetadata(md)})
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, MetadataName), b)
}

// ReadLocalMetadata reads the metadata file of the block directory dir;
// a block without one has none.
func ReadLocalMetadata(dir string) ([]MetricMetadata, error) {
	b, err := os.ReadFile(filepath.Join(dir, MetadataName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeMetadata(b)
}

// ReadMetadata reads the metadata file of a block in the bucket; a block
// without one (shipped by an older weft) has none.
func ReadMetadata(ctx context.Context, bkt objstore.BucketReader, tenant string, id ulid.ULID) ([]MetricMetadata, error) {
	b, err := getOptional(ctx, bkt, path.Join(BlockPath(tenant, id), MetadataName))
	if err != nil || b == nil {
		return nil, err
	}
	return decodeMetadata(b)
}

func decodeMetadata(b []byte) ([]MetricMetadata, error) {
	var f metadataFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", MetadataName, err)
	}
	if f.Version != SidecarVersion {
		return nil, fmt.Errorf("cannot read %s: unknown version %d", MetadataName, f.Version)
	}
	return f.Metadata, nil
}

// MergeMetadata merges lists of metadata, oldest first: a family that
// several lists describe keeps the description of the last one. The
// result is sorted by family.
func MergeMetadata(lists ...[]MetricMetadata) []MetricMetadata {
	byName := map[string]MetricMetadata{}
	for _, l := range lists {
		for _, m := range l {
			byName[m.Metric] = m
		}
	}
	out := make([]MetricMetadata, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metric < out[j].Metric })
	return out
}

// FamilyCandidates returns the metric family names that series of metric
// name may belong to: the name itself, and the name without the suffix
// that the exposition formats add to a family's series (a histogram
// "x" has series x_bucket, x_sum and x_count, for example).
func FamilyCandidates(name string) []string {
	out := []string{name}
	for _, s := range []string{"_bucket", "_sum", "_count", "_total", "_created", "_info", "_gsum", "_gcount"} {
		if len(name) > len(s) && name[len(name)-len(s):] == s {
			out = append(out, name[:len(name)-len(s)])
		}
	}
	return out
}

// WriteLocalExemplars writes the exemplars of res into the block
// directory dir; nothing is written when there are none.
func WriteLocalExemplars(dir string, res []exemplar.QueryResult) error {
	f := exemplarsFile{Version: SidecarVersion}
	for _, r := range MergeExemplars(0, res) {
		s := seriesExemplar{Labels: r.SeriesLabels, Exemplars: make([]exemplarJSON, len(r.Exemplars))}
		for i, e := range r.Exemplars {
			s.Exemplars[i] = exemplarJSON{Labels: e.Labels, Value: strconv.FormatFloat(e.Value, 'g', -1, 64), TS: e.Ts}
		}
		f.Series = append(f.Series, s)
	}
	if len(f.Series) == 0 {
		return nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(f); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ExemplarsName), buf.Bytes())
}

// ReadLocalExemplars reads the exemplars file of the block directory dir;
// a block without one has none.
func ReadLocalExemplars(dir string) ([]exemplar.QueryResult, error) {
	b, err := os.ReadFile(filepath.Join(dir, ExemplarsName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeExemplars(b)
}

// ReadExemplars reads the exemplars file of a block in the bucket; a
// block without one has none.
func ReadExemplars(ctx context.Context, bkt objstore.BucketReader, tenant string, id ulid.ULID) ([]exemplar.QueryResult, error) {
	b, err := getOptional(ctx, bkt, path.Join(BlockPath(tenant, id), ExemplarsName))
	if err != nil || b == nil {
		return nil, err
	}
	return decodeExemplars(b)
}

func decodeExemplars(b []byte) ([]exemplar.QueryResult, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", ExemplarsName, err)
	}
	var f exemplarsFile
	if err := json.NewDecoder(zr).Decode(&f); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", ExemplarsName, err)
	}
	if f.Version != SidecarVersion {
		return nil, fmt.Errorf("cannot read %s: unknown version %d", ExemplarsName, f.Version)
	}
	out := make([]exemplar.QueryResult, 0, len(f.Series))
	for _, s := range f.Series {
		r := exemplar.QueryResult{SeriesLabels: s.Labels, Exemplars: make([]exemplar.Exemplar, len(s.Exemplars))}
		for i, e := range s.Exemplars {
			v, err := strconv.ParseFloat(e.Value, 64)
			if err != nil {
				return nil, fmt.Errorf("cannot parse %s: bad value %q", ExemplarsName, e.Value)
			}
			r.Exemplars[i] = exemplar.Exemplar{Labels: e.Labels, Value: v, Ts: e.TS, HasTs: true}
		}
		out = append(out, r)
	}
	return out, nil
}

// MergeExemplars merges lists of exemplars (the RF copies of a block, or
// the blocks a compaction merges, or the answers of replicas): the
// exemplars of a series are sorted by time, and an exemplar that several
// lists hold is kept once. With limit > 0, only the newest limit
// exemplars are kept, so that a compacted block's file stays as small as
// one exemplar storage. The result is sorted by series.
func MergeExemplars(limit int, lists ...[]exemplar.QueryResult) []exemplar.QueryResult {
	bySeries := map[string]*exemplar.QueryResult{}
	for _, l := range lists {
		for _, r := range l {
			k := r.SeriesLabels.String()
			cur, ok := bySeries[k]
			if !ok {
				cur = &exemplar.QueryResult{SeriesLabels: r.SeriesLabels}
				bySeries[k] = cur
			}
			cur.Exemplars = append(cur.Exemplars, r.Exemplars...)
		}
	}
	total := 0
	for _, r := range bySeries {
		slices.SortFunc(r.Exemplars, compareExemplars)
		r.Exemplars = slices.CompactFunc(r.Exemplars, func(a, b exemplar.Exemplar) bool { return compareExemplars(a, b) == 0 })
		total += len(r.Exemplars)
	}
	if limit > 0 && total > limit {
		// Keep the exemplars at or after the cut: the limit-th newest.
		all := make([]int64, 0, total)
		for _, r := range bySeries {
			for _, e := range r.Exemplars {
				all = append(all, e.Ts)
			}
		}
		slices.Sort(all)
		cut := all[total-limit]
		keep := limit - countAfter(all, cut) // how many exemplars at exactly cut survive
		for _, k := range sortedKeys(bySeries) {
			r := bySeries[k]
			r.Exemplars = slices.DeleteFunc(r.Exemplars, func(e exemplar.Exemplar) bool {
				if e.Ts > cut {
					return false
				}
				if e.Ts == cut && keep > 0 {
					keep--
					return false
				}
				return true
			})
		}
	}
	out := make([]exemplar.QueryResult, 0, len(bySeries))
	for _, k := range sortedKeys(bySeries) {
		if r := bySeries[k]; len(r.Exemplars) > 0 {
			out = append(out, *r)
		}
	}
	return out
}

func countAfter(sorted []int64, t int64) int {
	i, _ := slices.BinarySearch(sorted, t+1)
	return len(sorted) - i
}

func sortedKeys(m map[string]*exemplar.QueryResult) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compareExemplars orders exemplars by time, then value, then labels;
// two that compare equal are the same exemplar.
func compareExemplars(a, b exemplar.Exemplar) int {
	switch {
	case a.Ts != b.Ts:
		if a.Ts < b.Ts {
			return -1
		}
		return 1
	case a.Value != b.Value && !(math.IsNaN(a.Value) && math.IsNaN(b.Value)):
		if a.Value < b.Value || math.IsNaN(a.Value) {
			return -1
		}
		return 1
	}
	return labels.Compare(a.Labels, b.Labels)
}

// FilterExemplars returns the exemplars of res in [start, end] whose series
// match one of the matcher sets (every series when there is none).
func FilterExemplars(res []exemplar.QueryResult, start, end int64, matchers ...[]*labels.Matcher) []exemplar.QueryResult {
	var out []exemplar.QueryResult
	for _, r := range res {
		if len(matchers) > 0 && !MatchesAny(r.SeriesLabels, matchers) {
			continue
		}
		var keep []exemplar.Exemplar
		for _, e := range r.Exemplars {
			if e.Ts >= start && e.Ts <= end {
				keep = append(keep, e)
			}
		}
		if len(keep) > 0 {
			out = append(out, exemplar.QueryResult{SeriesLabels: r.SeriesLabels, Exemplars: keep})
		}
	}
	return out
}

// MatchesAny reports whether ls matches every matcher of at least one of
// the sets (the match[] selectors of a query, a deletion's selectors).
func MatchesAny(ls labels.Labels, sets [][]*labels.Matcher) bool {
	for _, ms := range sets {
		ok := true
		for _, m := range ms {
			if !m.Matches(ls.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// getOptional reads a whole object, or returns nil when there is none.
func getOptional(ctx context.Context, bkt objstore.BucketReader, name string) ([]byte, error) {
	r, err := bkt.Get(ctx, name)
	if bkt.IsObjNotFoundErr(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, err)
	}
	return b, nil
}

// writeFileAtomic writes b to p through a temporary file and a rename, so
// that a crash leaves the old file or the new one, never half of one.
func writeFileAtomic(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
