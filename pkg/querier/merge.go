package querier

import (
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// mergeReplicas merges the replicas' answers into one set, each series and
// each sample once.
func mergeReplicas(sets []storage.SeriesSet) storage.SeriesSet {
	return storage.NewMergeSeriesSet(sets, 0, mergeReplicaSeries)
}

// mergeReplicaSeries is a storage.VerticalSeriesMergeFunc for copies of a
// series that hold the same samples where they overlap: the replicas'
// answers, or the ingesters' and the store-gateways' in the split
// reader's overlap. Unlike storage.ChainedSeriesMerge it keeps a
// native histogram's counter-reset hint, which the TSDB gives relative to
// the series' sample before: Prometheus' merge marks it unknown whenever
// the sample comes from another copy than the sample before, and after
// every Seek, which with equal replicas is nearly every sample.
func mergeReplicaSeries(series ...storage.Series) storage.Series {
	return &replicaSeries{series}
}

type replicaSeries struct{ series []storage.Series }

func (s *replicaSeries) Labels() labels.Labels { return s.series[0].Labels() }

func (s *replicaSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	m, ok := it.(*replicaIterator)
	if !ok {
		m = &replicaIterator{}
	}
	m.reset(s.series)
	return m
}

// replica is one copy's iterator and where it stands.
type replica struct {
	it chunkenc.Iterator
	vt chunkenc.ValueType // the type of its current sample; ValNone once exhausted
	t  int64              // the time of its current sample
	// follows: its current sample's predecessor in this copy is the
	// merge's current sample, so its hint is the merged series' too.
	follows bool
}

// replicaIterator iterates the union of the replicas' samples, each
// timestamp once. Of the copies of a sample it takes one whose history
// matches the merge's, preferring the copy that gave the sample before, so
// that it keeps to one replica while that replica has every sample.
//
// A histogram keeps its copy's counter-reset hint when that copy's
// previous sample is the merge's previous sample. At the start and after a
// Seek the merge has no previous sample to compare: the hint is kept when
// every replica is on that same sample with the same hint (the copy whose
// history is the longest, which is then among them, gives it too), and
// marked unknown otherwise.
type replicaIterator struct {
	reps    []replica
	cur     int   // index in reps of the current sample's copy, -1 before the first
	lastT   int64 // the time of the current sample
	started bool
	unknown bool // the current sample's hint is not known to hold
	err     error

	// alone: the current sample has no copy in the other replicas, whose
	// samples are all after it, the earliest at until. Until the current
	// copy reaches until, its samples are the merge's, each following
	// the one before: Next takes them without comparing the replicas.
	// It is the common case of the split reader, whose ingesters' and
	// store's copies of a series overlap for an hour of a day's query.
	alone bool
	until int64

	// Scratch histograms to read the replicas' hints into.
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

func (m *replicaIterator) reset(series []storage.Series) {
	if cap(m.reps) < len(series) {
		m.reps = append(m.reps[:cap(m.reps)], make([]replica, len(series)-cap(m.reps))...)
	}
	m.reps = m.reps[:len(series)]
	for i, s := range series {
		m.reps[i] = replica{it: s.Iterator(m.reps[i].it)}
	}
	m.cur, m.started, m.unknown, m.err, m.alone = -1, false, false, nil, false
}

// Next implements chunkenc.Iterator.
func (m *replicaIterator) Next() chunkenc.ValueType {
	if m.err != nil {
		return chunkenc.ValNone
	}
	if !m.started {
		m.started = true
		for i := range m.reps {
			if err := m.reps[i].next(); err != nil {
				return m.fail(err)
			}
		}
		return m.land()
	}
	if m.alone {
		r := &m.reps[m.cur]
		if err := r.next(); err != nil {
			return m.fail(err)
		}
		if r.vt != chunkenc.ValNone && r.t < m.until {
			r.follows = true
			m.lastT, m.unknown = r.t, false
			return r.vt
		}
		// It reached another copy's sample, or ended: as below, with
		// the current copy the only one that moved.
		for i := range m.reps {
			m.reps[i].follows = i == m.cur
		}
		return m.choose()
	}
	// The copies of the current sample move on; the others are behind
	// the merge's history (they lack the current sample).
	for i := range m.reps {
		r := &m.reps[i]
		if r.vt == chunkenc.ValNone {
			continue
		}
		r.follows = r.t == m.lastT
		if r.follows {
			if err := r.next(); err != nil {
				return m.fail(err)
			}
		}
	}
	return m.choose()
}

// choose makes the earliest of the replicas' samples the current one
// after the copies of the current sample moved on (follows set).
func (m *replicaIterator) choose() chunkenc.ValueType {
	best := -1
	next := int64(math.MaxInt64) // the earliest sample of the others
	for i := range m.reps {
		r := &m.reps[i]
		if r.vt == chunkenc.ValNone {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := &m.reps[best]
		if r.t < b.t || r.t == b.t && (r.follows && !b.follows || r.follows == b.follows && i == m.cur) {
			next = min(next, b.t)
			best = i
			continue
		}
		next = min(next, r.t)
	}
	if best < 0 {
		m.alone = false
		return chunkenc.ValNone
	}
	m.cur, m.lastT, m.unknown = best, m.reps[best].t, !m.reps[best].follows
	m.alone, m.until = next > m.lastT, next
	return m.reps[best].vt
}

// settle finds whether the current sample is alone, and until when.
func (m *replicaIterator) settle() {
	m.alone, m.until = true, math.MaxInt64
	for i := range m.reps {
		r := &m.reps[i]
		if i == m.cur || r.vt == chunkenc.ValNone {
			continue
		}
		if r.t <= m.lastT {
			m.alone = false
			return
		}
		m.until = min(m.until, r.t)
	}
}

// next moves r to its next sample.
func (r *replica) next() error {
	if r.vt = r.it.Next(); r.vt == chunkenc.ValNone {
		return r.it.Err()
	}
	r.t = r.it.AtT()
	return nil
}

// millis is a timestamp in milliseconds: int64 under another name, only so
// that go vet does not take replicaIterator.Seek for a wrong io.Seeker (the
// alias leaves the method chunkenc.Iterator's Seek).
type millis = int64

// Seek implements chunkenc.Iterator.
func (m *replicaIterator) Seek(t millis) chunkenc.ValueType {
	if m.err != nil {
		return chunkenc.ValNone
	}
	if m.started && m.cur >= 0 && m.reps[m.cur].vt != chunkenc.ValNone && m.lastT >= t {
		return m.reps[m.cur].vt
	}
	for i := range m.reps {
		r := &m.reps[i]
		// An exhausted iterator is not asked again: the TSDB's chunk
		// iterators answer their last sample to a Seek then.
		if m.started && (r.vt == chunkenc.ValNone || r.t >= t) {
			continue
		}
		if r.vt = r.it.Seek(t); r.vt == chunkenc.ValNone {
			if err := r.it.Err(); err != nil {
				return m.fail(err)
			}
			continue
		}
		r.t = r.it.AtT()
	}
	m.started = true
	return m.land()
}

// land makes the earliest of the replicas' samples the current one after
// they moved without the merge's history (at the start or a Seek).
func (m *replicaIterator) land() chunkenc.ValueType {
	best, same := -1, true
	for i := range m.reps {
		r := &m.reps[i]
		switch {
		case r.vt == chunkenc.ValNone:
			same = false
		case best < 0:
			best = i
		case r.t < m.reps[best].t:
			best, same = i, false
		case r.t > m.reps[best].t:
			same = false
		case i == m.cur:
			best = i
		}
	}
	if best < 0 {
		m.alone = false
		return chunkenc.ValNone
	}
	vt := m.reps[best].vt
	m.cur, m.lastT = best, m.reps[best].t
	m.unknown = !same || vt != chunkenc.ValFloat && !m.hintsAgree(vt)
	m.settle()
	return vt
}

// hintsAgree tells whether every replica's current sample is a histogram
// of type vt with the same counter-reset hint.
func (m *replicaIterator) hintsAgree(vt chunkenc.ValueType) bool {
	var want histogram.CounterResetHint
	for i := range m.reps {
		r := &m.reps[i]
		if r.vt != vt {
			return false
		}
		// The scratch histograms are never nil: a chunk iterator's
		// AtHistogram(nil) answers a histogram sharing its own buffers.
		var hint histogram.CounterResetHint
		switch vt {
		case chunkenc.ValHistogram:
			if m.h == nil {
				m.h = &histogram.Histogram{}
			}
			_, m.h = r.it.AtHistogram(m.h)
			hint = m.h.CounterResetHint
		case chunkenc.ValFloatHistogram:
			if m.fh == nil {
				m.fh = &histogram.FloatHistogram{}
			}
			_, m.fh = r.it.AtFloatHistogram(m.fh)
			hint = m.fh.CounterResetHint
		}
		if i == 0 {
			want = hint
		} else if hint != want {
			return false
		}
	}
	return true
}

func (m *replicaIterator) fail(err error) chunkenc.ValueType {
	m.err = err
	return chunkenc.ValNone
}

// At implements chunkenc.Iterator.
func (m *replicaIterator) At() (int64, float64) { return m.reps[m.cur].it.At() }

// AtHistogram implements chunkenc.Iterator.
func (m *replicaIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	t, h := m.reps[m.cur].it.AtHistogram(h)
	if m.unknown && h.CounterResetHint != histogram.GaugeType {
		h.CounterResetHint = histogram.UnknownCounterReset
	}
	return t, h
}

// AtFloatHistogram implements chunkenc.Iterator.
func (m *replicaIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	t, fh := m.reps[m.cur].it.AtFloatHistogram(fh)
	if m.unknown && fh.CounterResetHint != histogram.GaugeType {
		fh.CounterResetHint = histogram.UnknownCounterReset
	}
	return t, fh
}

// AtT implements chunkenc.Iterator.
func (m *replicaIterator) AtT() int64 { return m.lastT }

// AtST implements chunkenc.Iterator.
func (m *replicaIterator) AtST() int64 { return m.reps[m.cur].it.AtST() }

// Err implements chunkenc.Iterator.
func (m *replicaIterator) Err() error { return m.err }
