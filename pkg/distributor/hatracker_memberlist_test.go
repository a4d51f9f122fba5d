package distributor

import (
	"context"
	"flag"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/ring"
)

// newGossipKV starts a memberlist node on loopback, with the HA codec, that
// joins the given members.
func newGossipKV(t *testing.T, join ...string) *ring.KV {
	t.Helper()
	var cfg ring.Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	cfg.Ring.Store = ring.StoreMemberlist
	cfg.Memberlist.BindAddr = ring.StringList{"127.0.0.1"}
	cfg.Memberlist.BindPort = 0
	cfg.Memberlist.Join = join
	cfg.Memberlist.LeaveTimeout = time.Second
	k, err := ring.NewKV(cfg, prometheus.NewRegistry(), nil, HACodec())
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), k))
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), k) })
	return k
}

// Two distributors on two memberlist nodes agree on the elected replica:
// the gossiped descriptions merge to the same winner on both.
func TestHATrackerOverMemberlist(t *testing.T) {
	k1 := newGossipKV(t)
	k2 := newGossipKV(t, "127.0.0.1:"+strconv.Itoa(k1.GossipPort()))
	c1, err := k1.NewClient("ha-tracker", HACodec())
	require.NoError(t, err)
	c2, err := k2.NewClient("ha-tracker", HACodec())
	require.NoError(t, err)
	clock := &fakeClock{t: time.Now()}
	a := newHASetup(t, haLimits(t, nil), c1, clock)
	b := newHASetup(t, haLimits(t, nil), c2, clock)

	code, _ := a.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code)
	// b learns the election by gossip.
	require.Eventually(t, func() bool {
		el := b.tracker.Elections()
		return len(el) == 1 && el[0].Replica == "r1"
	}, 20*time.Second, 20*time.Millisecond)
	code, _ = b.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusAccepted, code)

	// r1 stops: r2 takes over through b, and a learns it.
	clock.advance(14 * time.Second) // the failover timeout and the update interval
	code, _ = b.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusNoContent, code)
	require.Eventually(t, func() bool {
		el := a.tracker.Elections()
		return len(el) == 1 && el[0].Replica == "r2"
	}, 20*time.Second, 20*time.Millisecond)
	code, _ = a.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, a.tracker.Elections(), b.tracker.Elections())

	// A cluster silent for the cleanup period is deleted, and a replica
	// that comes back later is elected anew.
	clock.advance(31 * time.Minute)
	a.tracker.cleanup(context.Background())
	b.tracker.cleanup(context.Background())
	require.Empty(t, a.tracker.Elections())
	require.Empty(t, b.tracker.Elections())
	code, _ = a.push(t, "team", "c1", "r1")
	require.Equal(t, http.StatusNoContent, code)
	require.Eventually(t, func() bool {
		el := b.tracker.Elections()
		return len(el) == 1 && el[0].Replica == "r1"
	}, 20*time.Second, 20*time.Millisecond)
	code, _ = b.push(t, "team", "c1", "r2")
	require.Equal(t, http.StatusAccepted, code)
}
