package ring

import (
	"net/http/httptest"
	"testing"
	"time"

	dsring "github.com/grafana/dskit/ring"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// Distributors register ACTIVE at once, and each counts the healthy ones;
// one that leaves no longer counts.
func TestDistributorRingCountsHealthyDistributors(t *testing.T) {
	k := newInMemoryKV(t)
	cfg := defaults(t).Ring.Distributor
	cfg.HeartbeatPeriod = 100 * time.Millisecond
	cfg.InstanceAddr = "127.0.0.1:9095"

	r, err := NewDistributorRing(cfg, k, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	startService(t, r)
	require.Equal(t, 1, r.HealthyInstances(), "an empty ring counts this distributor")

	var lcs []*IngesterLifecycler
	for _, id := range []string{"d1", "d2"} {
		c := cfg
		c.InstanceID = id
		l, err := NewDistributorLifecycler(c, k, prometheus.NewRegistry(), nil)
		require.NoError(t, err)
		startService(t, l)
		require.Equal(t, dsring.ACTIVE, l.GetState())
		lcs = append(lcs, l)
	}
	// The count is kept for a second.
	require.Eventually(t, func() bool { return r.HealthyInstances() == 2 }, 10*time.Second, 50*time.Millisecond)

	stopService(t, lcs[1])
	require.Eventually(t, func() bool { return r.HealthyInstances() == 1 }, 10*time.Second, 50*time.Millisecond)
	srv := httptest.NewServer(r)
	defer srv.Close()
	st := getRingStatus(t, srv.URL+"?format=json")
	require.Len(t, st.Instances, 1)
	require.Equal(t, "d1", st.Instances[0].ID)
	require.Contains(t, get(t, srv.URL, ""), "d1", "the HTML page")
}
