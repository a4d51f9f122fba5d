package storegateway

import (
	"errors"
	"testing"

	dsring "github.com/grafana/dskit/ring"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
)

// parityRing gives each token to one instance by parity, or fails.
type parityRing struct {
	dsring.ReadRing
	fail bool
}

func (r parityRing) Get(key uint32, op dsring.Operation, buf []dsring.InstanceDesc, _, _ []string) (dsring.ReplicationSet, error) {
	if r.fail {
		return dsring.ReplicationSet{}, errors.New("empty ring")
	}
	id := []string{"sg-0", "sg-1"}[key%2]
	return dsring.ReplicationSet{Instances: append(buf, dsring.InstanceDesc{Id: id, Addr: id})}, nil
}

func TestRingShardFilter(t *testing.T) {
	a, b := RingShardFilter(parityRing{}, "sg-0"), RingShardFilter(parityRing{}, "sg-1")
	owned := [2]int{}
	for i := range 64 {
		id := ulid.MustNew(uint64(i), nil)
		require.NotEqual(t, a("t1", id), b("t1", id), "exactly one owner")
		if a("t1", id) {
			owned[0]++
		} else {
			owned[1]++
		}
	}
	require.NotZero(t, owned[0])
	require.NotZero(t, owned[1])
	require.False(t, RingShardFilter(parityRing{fail: true}, "sg-0")("t1", ulid.MustNew(1, nil)))
}

func TestBlockTokenIsStable(t *testing.T) {
	id := ulid.MustParse("01HZZZZZZZZZZZZZZZZZZZZZZZ")
	// Pinned: changing BlockToken moves every block to other store-gateways.
	require.Equal(t, BlockToken("t1", id), BlockToken("t1", id))
	got := BlockToken("t1", id)
	require.Equal(t, uint32(13595904), got)
}
