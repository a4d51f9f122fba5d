package ring

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	dsring "github.com/grafana/dskit/ring"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// Each tenant is owned by exactly one of the compactors, the tenants are
// spread over all of them, and a compactor that leaves hands its tenants
// to the others.
func TestOwnsGivesEachTenantOneCompactor(t *testing.T) {
	k := newInMemoryKV(t)
	var cfg ShardRingConfig
	cfg.RegisterFlagsWithPrefix(flagSetFor(t), "compactor", 0)
	cfg.HeartbeatPeriod = time.Second
	var lifes []*IngesterLifecycler
	for i := 0; i < 3; i++ {
		c := cfg
		c.InstanceID = fmt.Sprintf("compactor-%d", i)
		c.InstanceAddr = fmt.Sprintf("127.0.0.1:%d", 10000+i)
		l, err := NewCompactorLifecycler(c, k, nil, nil)
		require.NoError(t, err)
		startService(t, l)
		require.NoError(t, l.Activate(context.Background()))
		lifes = append(lifes, l)
	}
	r, err := NewCompactorRing(cfg, k, nil, nil)
	require.NoError(t, err)
	startService(t, r)
	require.Eventually(t, func() bool {
		rs, err := r.GetAllHealthy(dsring.Read)
		return err == nil && len(rs.Instances) == 3
	}, 5*time.Second, 10*time.Millisecond)

	owners := func(n int) map[string]int {
		perOwner := map[string]int{}
		for i := 0; i < 60; i++ {
			tok := TokenFor(fmt.Sprintf("tenant-%d", i), labels.EmptyLabels())
			count := 0
			for j := 0; j < n; j++ {
				id := fmt.Sprintf("compactor-%d", j)
				if Owns(r, tok, id) {
					count++
					perOwner[id]++
				}
			}
			require.Equal(t, 1, count, "tenant-%d has exactly one compactor", i)
		}
		return perOwner
	}
	require.Len(t, owners(3), 3, "tenants spread over every compactor")

	stopService(t, lifes[2])
	require.Eventually(t, func() bool {
		rs, err := r.GetAllHealthy(dsring.Read)
		return err == nil && len(rs.Instances) == 2
	}, 5*time.Second, 10*time.Millisecond)
	require.Len(t, owners(2), 2, "the leaving compactor's tenants moved to the others")
}

func flagSetFor(t *testing.T) *flag.FlagSet { return flag.NewFlagSet(t.Name(), flag.ContinueOnError) }
