package wire

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// millis is a timestamp in milliseconds: int64 under another name, only so
// that go vet does not take rangeIterator.Seek for a wrong io.Seeker (the
// alias leaves the method chunkenc.Iterator's Seek).
type millis = int64

// rangeIterator iterates the samples of a series' chunks that lie in
// [mint, maxt], skipping the others without re-encoding a chunk. Chunks
// that do not overlap are read one after the other, each with its own
// iterator, so that every histogram keeps the counter-reset hint its chunk
// gives it, as through the TSDB's own Querier: Prometheus' chain iterator,
// which merges chunks, marks the first sample after every Seek "unknown"
// (and the first after each switch of chunk, which the TSDB's chunks
// answer "unknown" anyway). Chunks that overlap (out-of-order data) are
// merged by the chain iterator.
type rangeIterator struct {
	chks       []chunks.Meta
	mint, maxt int64
	next       int  // index in chks of the next chunk to open
	opened     int  // index in chks of the open chunk, -1 for the chain
	open       bool // cur is positioned or may be; false once exhausted
	done       bool // no more samples
	started    bool
	vt         chunkenc.ValueType // the type of the current sample
	cur        chunkenc.Iterator  // the open chunk's (or the chain's) iterator, kept for reuse
	iterables  []chunkenc.Iterable
	err        error
}

func (it *rangeIterator) reset(chks []chunks.Meta, mint, maxt int64) {
	it.chks, it.mint, it.maxt = chks, mint, maxt
	it.next, it.opened = 0, 0
	it.open, it.done, it.started = false, false, false
	it.vt, it.err = chunkenc.ValNone, nil
	for i := 1; i < len(chks); i++ {
		if chks[i].MinTime <= chks[i-1].MaxTime {
			it.iterables = it.iterables[:0]
			for _, c := range chks {
				it.iterables = append(it.iterables, c.Chunk)
			}
			it.cur = storage.ChainSampleIteratorFromIterables(it.cur, it.iterables)
			it.next, it.opened, it.open = len(chks), -1, true
			return
		}
	}
}

// Next implements chunkenc.Iterator.
func (it *rangeIterator) Next() chunkenc.ValueType {
	if it.done {
		return chunkenc.ValNone
	}
	if !it.started {
		return it.from(it.mint)
	}
	if vt := it.cur.Next(); vt != chunkenc.ValNone {
		return it.at(vt)
	}
	if err := it.cur.Err(); err != nil {
		return it.fail(err)
	}
	it.open = false
	return it.from(it.mint)
}

// Seek implements chunkenc.Iterator. A chunk that ends before t is skipped
// without being decoded.
func (it *rangeIterator) Seek(t millis) chunkenc.ValueType {
	if it.done {
		return chunkenc.ValNone
	}
	t = max(t, it.mint)
	if it.started {
		if it.cur.AtT() >= t {
			return it.vt
		}
		if it.opened >= 0 && it.chks[it.opened].MaxTime < t {
			it.open = false
		}
	}
	return it.from(t)
}

// from moves to the first sample at or after t, from the open chunk on.
// A chunk iterator is never asked to seek once exhausted: the TSDB's
// answer a sample again then.
func (it *rangeIterator) from(t int64) chunkenc.ValueType {
	it.started = true
	for {
		if it.open {
			if vt := it.cur.Seek(t); vt != chunkenc.ValNone {
				return it.at(vt)
			}
			if err := it.cur.Err(); err != nil {
				return it.fail(err)
			}
			it.open = false
		}
		if !it.openNext(t) {
			return it.stop()
		}
	}
}

// openNext opens the next chunk that holds samples at or after t and not
// after maxt.
func (it *rangeIterator) openNext(t int64) bool {
	for it.next < len(it.chks) {
		c := it.chks[it.next]
		it.next++
		if c.MaxTime < t {
			continue
		}
		if c.MinTime > it.maxt {
			break
		}
		it.cur = c.Chunk.Iterator(it.cur)
		it.opened, it.open = it.next-1, true
		return true
	}
	it.next = len(it.chks)
	return false
}

// at makes the sample cur is on, of type vt, the current one if it lies in
// the range.
func (it *rangeIterator) at(vt chunkenc.ValueType) chunkenc.ValueType {
	t := it.cur.AtT()
	if t < it.mint {
		return it.from(it.mint) // the chain: a chunk that starts earlier
	}
	if t > it.maxt {
		return it.stop()
	}
	it.vt = vt
	return vt
}

func (it *rangeIterator) stop() chunkenc.ValueType {
	it.done, it.open, it.vt = true, false, chunkenc.ValNone
	return chunkenc.ValNone
}

func (it *rangeIterator) fail(err error) chunkenc.ValueType {
	it.err = err
	return it.stop()
}

// At implements chunkenc.Iterator.
func (it *rangeIterator) At() (int64, float64) { return it.cur.At() }

// AtHistogram implements chunkenc.Iterator.
func (it *rangeIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	return it.cur.AtHistogram(h)
}

// AtFloatHistogram implements chunkenc.Iterator.
func (it *rangeIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return it.cur.AtFloatHistogram(fh)
}

// AtT implements chunkenc.Iterator.
func (it *rangeIterator) AtT() int64 { return it.cur.AtT() }

// AtST implements chunkenc.Iterator.
func (it *rangeIterator) AtST() int64 { return it.cur.AtST() }

// Err implements chunkenc.Iterator.
func (it *rangeIterator) Err() error { return it.err }
