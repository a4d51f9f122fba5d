package frontend

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"

	"github.com/prometheus/common/model"
)

// extent is a cached answer of the query for the grid points [Start, End]
// (ms, inclusive) of one split part.
type extent struct {
	Start  int64        `json:"start"`
	End    int64        `json:"end"`
	Matrix model.Matrix `json:"-"`
}

// partKey is the cache key of one split part of a query: every input of
// the answer (tenant, generation, query, step and the grid's offset
// within it, split interval and the part's interval) hashed, as memcached
// keys are short and ASCII.
func partKey(tenantID, gen, query string, step, offset, interval, index int64) string {
	h := sha256.New()
	var b [8]byte
	for _, s := range []string{tenantID, gen, query} {
		binary.BigEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		h.Write([]byte(s))
	}
	for _, n := range []int64{step, offset, interval, index} {
		binary.BigEndian.PutUint64(b[:], uint64(n))
		h.Write(b[:])
	}
	return "weft:fe1:" + hex.EncodeToString(h.Sum(nil))
}

// gaps returns the ranges of grid points of [start, end] (step apart) not
// covered by es, which are sorted and disjoint.
func gaps(start, end, step int64, es []extent) [][2]int64 {
	var out [][2]int64
	next := start
	for _, e := range es {
		if e.End < next {
			continue
		}
		if e.Start > end {
			break
		}
		if e.Start > next {
			// The last grid point before the extent.
			out = append(out, [2]int64{next, min(end, next+(e.Start-1-next)/step*step)})
		}
		// The first grid point after the extent.
		next = max(next, next+((e.End-next)/step+1)*step)
	}
	if next <= end {
		out = append(out, [2]int64{next, end})
	}
	return out
}

// mergeExtents returns the extents of es joined where they overlap or
// touch (one ends one step before the next starts), sorted by start.
func mergeExtents(es []extent, step int64) []extent {
	slices.SortFunc(es, func(a, b extent) int { return cmpInt(a.Start, b.Start) })
	var out []extent
	for _, e := range es {
		if n := len(out); n > 0 && e.Start <= out[n-1].End+step {
			last := &out[n-1]
			if e.End > last.End {
				later := trimMatrix(e.Matrix, last.End+1, e.End)
				last.Matrix = mergeResults([]*Result{{Matrix: last.Matrix}, {Matrix: later}}).Matrix
				last.End = e.End
			}
			continue
		}
		out = append(out, e)
	}
	return out
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
