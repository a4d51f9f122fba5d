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

// Each tenant's Alertmanager runs on the replication factor's
// alertmanagers, listed in the same order by every one of them, each
// finding itself at a different position; one leaving, the others keep it.
func TestTenantReplicas(t *testing.T) {
	k := newInMemoryKV(t)
	var cfg ShardRingConfig
	cfg.RegisterFlagsWithPrefix(flagSetFor(t), "alertmanager", 3)
	cfg.HeartbeatPeriod = time.Second
	var lifes []*IngesterLifecycler
	for i := 0; i < 4; i++ {
		c := cfg
		c.InstanceID = fmt.Sprintf("am-%d", i)
		c.InstanceAddr = fmt.Sprintf("127.0.0.1:%d", 11000+i)
		l, err := NewAlertmanagerLifecycler(c, k, nil, nil)
		require.NoError(t, err)
		startService(t, l)
		require.NoError(t, l.Activate(context.Background()))
		lifes = append(lifes, l)
	}
	r, err := NewAlertmanagerRing(cfg, k, nil, nil)
	require.NoError(t, err)
	startService(t, r)
	require.Eventually(t, func() bool {
		rs, err := r.GetAllHealthy(dsring.Read)
		return err == nil && len(rs.Instances) == 4
	}, 5*time.Second, 10*time.Millisecond)

	replicas := func(tenant string, n int) []string {
		var addrs []string
		positions := map[int]bool{}
		for i := 0; i < n; i++ {
			a, self, err := TenantReplicas(r, tenant, fmt.Sprintf("am-%d", i))
			require.NoError(t, err)
			if addrs != nil {
				require.Equal(t, addrs, a, "every replica sees the same list")
			}
			addrs = a
			if self >= 0 {
				require.Equal(t, fmt.Sprintf("127.0.0.1:%d", 11000+i), a[self])
				positions[self] = true
			}
		}
		require.Len(t, addrs, 3)
		require.Len(t, positions, 3, "three owners, each at its own position")
		return addrs
	}
	for i := 0; i < 20; i++ {
		replicas(fmt.Sprintf("tenant-%d", i), 4)
	}
	stopService(t, lifes[3])
	require.Eventually(t, func() bool {
		rs, err := r.GetAllHealthy(dsring.Read)
		return err == nil && len(rs.Instances) == 3
	}, 5*time.Second, 10*time.Millisecond)
	for i := 0; i < 20; i++ {
		require.NotContains(t, replicas(fmt.Sprintf("tenant-%d", i), 3), "127.0.0.1:11003")
	}
}
