package storegateway

import (
	"github.com/cespare/xxhash/v2"
	dsring "github.com/grafana/dskit/ring"
	"github.com/oklog/ulid/v2"
)

// BlockToken returns the ring token of a block: xxhash64 (seed 0) of
// "<tenant>/<ULID>" (the block's bucket prefix), folded to 32 bits by XOR
// of its halves. The block is owned by the store-gateways that the ring
// gives for this token. It must never change, or every block moves to
// other store-gateways at the next upgrade.
func BlockToken(tenant string, id ulid.ULID) uint32 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(tenant)
	_, _ = d.WriteString("/")
	_, _ = d.WriteString(id.String())
	h := d.Sum64()
	return uint32(h) ^ uint32(h>>32)
}

// RingOp is the ring operation that picks the owners of a block: the
// replication factor's instances among JOINING, ACTIVE and LEAVING ones,
// extended by one more for each that is not ACTIVE, so that a block keeps
// RF ACTIVE owners while the ring changes. Store-gateways (RingShardFilter)
// and the querier (choosing whom to ask) must use the same operation.
var RingOp = dsring.NewOp(
	[]dsring.InstanceState{dsring.JOINING, dsring.ACTIVE, dsring.LEAVING},
	func(s dsring.InstanceState) bool { return s != dsring.ACTIVE },
)

// RingShardFilter returns the owns function of New that accepts the blocks whose
// token (BlockToken) the ring r replicates to the instance instanceID.
// When the ring cannot answer (empty, too few healthy instances) the block
// is not owned; the querier's consistency check then reports it.
func RingShardFilter(r dsring.ReadRing, instanceID string) func(tenant string, id ulid.ULID) bool {
	return func(tenant string, id ulid.ULID) bool {
		var bufDescs [5]dsring.InstanceDesc
		var bufHosts, bufZones [5]string
		rs, err := r.Get(BlockToken(tenant, id), RingOp, bufDescs[:0], bufHosts[:0], bufZones[:0])
		if err != nil {
			return false
		}
		for _, inst := range rs.Instances {
			if inst.Id == instanceID {
				return true
			}
		}
		return false
	}
}
