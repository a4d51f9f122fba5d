package ingester

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/weft-io/weft/pkg/wire"
)

// metadataLogName is the tenant's metadata log, in its TSDB directory.
//
// Metadata is kept per metric family, and a remote-write 1.0 sender sends
// it apart from any series, so the TSDB's per-series metadata WAL records
// (which the head forgets with the series, and which need a series to
// hang on) do not fit. The log holds one JSON record per line, appended
// only when a family's metadata changes, so its cost per push is a map
// lookup. A record is written with one write(2) before the push returns:
// it is in the kernel's page cache, which a kill -9 of the process does
// not lose; like the TSDB's WAL, whose segments are synced only when
// full, it is fsynced when it is rewritten and closed, not on each write.
const metadataLogName = "weft-metadata.log"

// metadataLogSlack is how many superseded records the log may hold beyond
// the live ones before it is rewritten with only those.
const metadataLogSlack = 1000

// metadataRecord is one line of the metadata log, and the JSON form of a
// family's metadata wherever weft writes it down.
type metadataRecord struct {
	Metric string `json:"metric"`
	Type   string `json:"type,omitempty"`
	Help   string `json:"help,omitempty"`
	Unit   string `json:"unit,omitempty"`
}

// metadataStore is a tenant's metric metadata: in memory, and in the log
// that rebuilds it when the ingester restarts.
type metadataStore struct {
	path string
	now  func() time.Time

	mu     sync.RWMutex
	byName map[string]wire.Metadata // guarded by mu
	// seen is when each family's metadata was last pushed (unix seconds),
	// changed or not; replayed families count as seen at open. Guarded
	// by mu.
	seen    map[string]int64
	f       *os.File // the log, open for appending; guarded by mu
	records int      // lines in the log; guarded by mu
	buf     []byte   // guarded by mu
	err     error    // the last write error, reported once; guarded by mu
}

// openMetadataStore replays the log in dir, if there is one, and opens it
// for appending. A last line cut short by a crash is dropped.
func openMetadataStore(dir string) (*metadataStore, error) {
	s := &metadataStore{path: filepath.Join(dir, metadataLogName), now: time.Now, byName: map[string]wire.Metadata{}, seen: map[string]int64{}}
	b, err := os.ReadFile(s.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot read %s: %w", s.path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for sc.Scan() {
		var r metadataRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Metric == "" {
			// Only the last line can be torn (a crash in its write); a
			// bad line elsewhere is skipped too rather than losing the
			// rest of the tenant's metadata.
			continue
		}
		s.records++
		s.byName[r.Metric] = wire.Metadata{MetricFamily: r.Metric, Type: r.Type, Help: r.Help, Unit: r.Unit}
	}
	// Replayed families get a fresh lease: how long they went unseen
	// before the restart is not recorded.
	now := s.now().Unix()
	for name := range s.byName {
		s.seen[name] = now
	}
	if len(b) > 0 && b[len(b)-1] != '\n' || s.records > 2*len(s.byName)+metadataLogSlack {
		// A torn last line would glue itself to the next record: rewrite.
		if err := s.rewriteLocked(); err != nil {
			return nil, err
		}
		return s, nil
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", s.path, err)
	}
	s.f = f
	return s, nil
}

// set records md, keeping at most maxMetadataFamilies families; what
// changed is appended to the log. An error says the log could not be
// written: the metadata is still served, but would not survive a restart.
func (s *metadataStore) set(md []wire.Metadata) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = s.buf[:0]
	now := s.now().Unix()
	for _, m := range md {
		old, ok := s.byName[m.MetricFamily]
		if ok && old == m {
			s.seen[m.MetricFamily] = now
			continue
		}
		if !ok && len(s.byName) >= maxMetadataFamilies {
			continue
		}
		s.byName[m.MetricFamily] = m
		s.seen[m.MetricFamily] = now
		s.buf = appendMetadataRecord(s.buf, m)
		s.records++
	}
	if len(s.buf) == 0 {
		return nil
	}
	if s.records > 2*len(s.byName)+metadataLogSlack {
		return s.reportLocked(s.rewriteLocked())
	}
	if s.f == nil {
		return s.reportLocked(errors.New("the log is closed"))
	}
	_, err := s.f.Write(s.buf)
	return s.reportLocked(err)
}

// reportLocked turns a write error into the error set returns, once per
// run of failures, so that a full disk is logged but not on every push.
func (s *metadataStore) reportLocked(err error) error {
	prev := s.err
	s.err = err
	if err == nil || prev != nil {
		return nil
	}
	return fmt.Errorf("cannot write %s: %w", s.path, err)
}

func appendMetadataRecord(b []byte, m wire.Metadata) []byte {
	line, _ := json.Marshal(metadataRecord{Metric: m.MetricFamily, Type: m.Type, Help: m.Help, Unit: m.Unit})
	b = append(b, line...)
	return append(b, '\n')
}

// rewriteLocked writes the live records to a new log, synced, and
// renames it over the old one.
func (s *metadataStore) rewriteLocked() error {
	var b []byte
	for _, m := range s.sortedLocked() {
		b = appendMetadataRecord(b, m)
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", tmp, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cannot rewrite %s: %w", s.path, err)
	}
	if s.f != nil {
		_ = s.f.Close()
	}
	s.f, err = os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", s.path, err)
	}
	s.records = len(s.byName)
	return nil
}

func (s *metadataStore) sortedLocked() []wire.Metadata {
	out := make([]wire.Metadata, 0, len(s.byName))
	for _, m := range s.byName {
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].MetricFamily < out[b].MetricFamily })
	return out
}

// prune forgets the families whose metadata was not pushed since before,
// and rewrites the log without them. Senders push the metadata of the
// families they still have again and again (Prometheus every minute, or
// with every series in remote write 2.0), so what is not pushed for long
// is gone; without this, a tenant whose families churn would fill its
// maxMetadataFamilies for good. What is forgotten here stays beside the
// blocks in the bucket. It returns how many families it forgot.
func (s *metadataStore) prune(before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := before.Unix()
	n := 0
	for name, t := range s.seen {
		if t < cut {
			delete(s.seen, name)
			delete(s.byName, name)
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, s.rewriteLocked()
}

// get returns the metadata of metric when not empty, else of every family
// sorted by name, at most limit when limit > 0.
func (s *metadataStore) get(metric string, limit int) []wire.Metadata {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if metric != "" {
		if m, ok := s.byName[metric]; ok {
			return []wire.Metadata{m}
		}
		return nil
	}
	out := s.sortedLocked()
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// of returns the metadata of the given families that are known, sorted.
func (s *metadataStore) of(names []string) []wire.Metadata {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []wire.Metadata
	for _, n := range names {
		if m, ok := s.byName[n]; ok {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].MetricFamily < out[b].MetricFamily })
	return out
}

// close syncs and closes the log; safe twice.
func (s *metadataStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := errors.Join(s.f.Sync(), s.f.Close())
	s.f = nil
	if err != nil {
		return fmt.Errorf("cannot close %s: %w", s.path, err)
	}
	return nil
}
