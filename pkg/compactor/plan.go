package compactor

import (
	"slices"

	"github.com/oklog/ulid/v2"
)

// jobKind says why blocks are compacted together.
type jobKind string

const (
	// jobVertical merges overlapping blocks (the RF copies of one range,
	// or a late block overlapping a compacted one) into one deduplicated
	// block.
	jobVertical jobKind = "vertical"
	// jobHorizontal merges adjacent blocks of one aligned window of a
	// larger range.
	jobHorizontal jobKind = "horizontal"
	// jobRewrite rewrites one block alone to apply delete requests.
	jobRewrite jobKind = "rewrite"
)

// job is one compaction: its sources, sorted by MinTime.
type job struct {
	kind   jobKind
	blocks []*block
}

// planRedundant returns the blocks whose data is entirely in another
// block: every one of their sources is a source of the other block (which
// is newer when the two have the same sources). This happens when the
// compactor stopped between uploading a block and marking its sources.
func planRedundant(blocks []*block) []*block {
	var out []*block
	for _, a := range blocks {
		for _, b := range blocks {
			if a == b {
				continue
			}
			sub, equal := isSubset(sourcesOf(a), sourcesOf(b))
			if sub && (!equal || a.id().Compare(b.id()) < 0) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

func sourcesOf(b *block) []ulid.ULID {
	if len(b.meta.Compaction.Sources) == 0 {
		return []ulid.ULID{b.id()}
	}
	return b.meta.Compaction.Sources
}

// isSubset reports whether every element of a is in b, and whether the two
// sets are equal.
func isSubset(a, b []ulid.ULID) (sub, equal bool) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false, false
		}
	}
	n := 0
	for _, x := range b {
		if slices.Contains(a, x) {
			n++
		}
	}
	return true, n == len(b)
}

// plan returns the next set of disjoint jobs over blocks (complete, not
// marked, old enough; sorted by MinTime), in this order of precedence —
// the first kind that has any job is returned, and the caller plans again
// after running them:
//
//  1. vertical: every group of overlapping blocks becomes one job;
//  2. horizontal, for each range after the first, smallest first: the
//     blocks that fit in one aligned window [t0, t0+r) and are shorter than
//     r, when there are at least two and either the window is complete
//     (every ranges[0]-slot of it holds data) or the window lies before the
//     start of the tenant's newest block (no more data will come for it, as
//     in Prometheus' own planner);
//  3. rewrite: each block with a pending delete request, alone.
//
// Horizontal and rewrite jobs also apply pending delete requests to their
// sources, so a block due for compaction is never rewritten twice.
func plan(blocks []*block, ranges []int64, pending func(*block) bool) []job {
	if jobs := planVertical(blocks); len(jobs) > 0 {
		return jobs
	}
	if jobs := planHorizontal(blocks, ranges); len(jobs) > 0 {
		return jobs
	}
	var jobs []job
	for _, b := range blocks {
		if pending(b) {
			jobs = append(jobs, job{kind: jobRewrite, blocks: []*block{b}})
		}
	}
	return jobs
}

func planVertical(blocks []*block) []job {
	var jobs []job
	var group []*block
	var groupMax int64
	flush := func() {
		if len(group) > 1 {
			jobs = append(jobs, job{kind: jobVertical, blocks: group})
		}
		group = nil
	}
	for _, b := range blocks {
		if len(group) > 0 && b.meta.MinTime < groupMax {
			group = append(group, b)
			groupMax = max(groupMax, b.meta.MaxTime)
			continue
		}
		flush()
		group = []*block{b}
		groupMax = b.meta.MaxTime
	}
	flush()
	return jobs
}

func planHorizontal(blocks []*block, ranges []int64) []job {
	if len(blocks) == 0 || len(ranges) < 2 {
		return nil
	}
	var newest int64 = blocks[0].meta.MinTime
	for _, b := range blocks {
		newest = max(newest, b.meta.MinTime)
	}
	for _, r := range ranges[1:] {
		var jobs []job
		windows := map[int64][]*block{}
		var starts []int64
		for _, b := range blocks {
			if b.meta.MaxTime-b.meta.MinTime >= r {
				continue
			}
			t0 := alignDown(b.meta.MinTime, r)
			if b.meta.MaxTime > t0+r {
				continue // straddles two windows: it stays as it is
			}
			if _, ok := windows[t0]; !ok {
				starts = append(starts, t0)
			}
			windows[t0] = append(windows[t0], b)
		}
		slices.Sort(starts)
		for _, t0 := range starts {
			group := windows[t0]
			if len(group) < 2 {
				continue
			}
			if t0+r <= newest || windowComplete(group, t0, r, ranges[0]) {
				jobs = append(jobs, job{kind: jobHorizontal, blocks: group})
			}
		}
		if len(jobs) > 0 {
			return jobs
		}
	}
	return nil
}

// windowComplete reports whether every slot of size base of [t0, t0+r)
// overlaps one of the blocks.
func windowComplete(group []*block, t0, r, base int64) bool {
	for s := t0; s < t0+r; s += base {
		found := false
		for _, b := range group {
			if b.meta.MinTime < s+base && b.meta.MaxTime > s {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// alignDown returns the start of the window of size r holding t.
func alignDown(t, r int64) int64 {
	if t >= 0 {
		return r * (t / r)
	}
	return r * ((t - r + 1) / r)
}
