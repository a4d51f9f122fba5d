package ring

import (
	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// sep separates the tenant, names and values in TokenFor; 0xff never occurs
// in UTF-8, so no two distinct inputs give the same byte stream.
const sep = "\xff"

// TokenFor returns the ring token of a series: where on the ring the
// series of tenant with label set lset lives. It is xxhash64 (seed 0) over
// tenant, 0xff, then for each label in lset's (sorted) order name, 0xff,
// value, 0xff; the 64-bit sum folded to 32 bits by XOR of its halves.
//
// The token decides which ingesters hold a series: it must never change,
// neither the algorithm nor the byte stream, or every series of every
// tenant moves to other ingesters at the next upgrade (TestTokenForIsStable
// pins it). It does not allocate.
func TokenFor(tenant string, lset labels.Labels) uint32 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(tenant)
	_, _ = d.WriteString(sep)
	lset.Range(func(l labels.Label) {
		_, _ = d.WriteString(l.Name)
		_, _ = d.WriteString(sep)
		_, _ = d.WriteString(l.Value)
		_, _ = d.WriteString(sep)
	})
	h := d.Sum64()
	return uint32(h) ^ uint32(h>>32)
}
