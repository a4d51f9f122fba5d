package alertmanager

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

// startCluster starts three replicas of every tenant over bkt.
func startCluster(t *testing.T, bkt objstore.Bucket) []*server {
	t.Helper()
	tr := &memTransport{peers: map[string]*Alertmanager{}}
	addrs := []string{"r0", "r1", "r2"}
	var out []*server
	for i := range addrs {
		out = append(out, startAM(t, bkt, defaultLimits(), nil, tr, addrs, i))
	}
	return out
}

// TestHighAvailability runs a tenant's Alertmanager on three replicas in
// one process: they notify once, share silences, keep notifying when the
// first one is down, and keep their state across a restart of all of them
// through the bucket.
func TestHighAvailability(t *testing.T) {
	h := newHook(t)
	bkt := objstore.NewInMemBucket()
	rs := startCluster(t, bkt)
	rs[0].upload(t, "a", hookConfig(h.srv.URL))
	// The others take it at their next poll.
	for _, r := range rs[1:] {
		require.NoError(t, r.am.sync(context.Background()))
	}
	// Rulers send each alert to every replica.
	for _, r := range rs {
		r.pushAlert(t, "a", "Boom")
	}
	require.Eventually(t, func() bool { return h.count() >= 1 }, 10*time.Second, 50*time.Millisecond)
	// The others wait one and two peer timeouts, then find the
	// notification in the log they share.
	time.Sleep(3 * time.Second)
	require.Equal(t, 1, h.count(), "one notification from three replicas")

	// A silence made on one holds on all.
	id := rs[1].addSilence(t, "a", "Muted")
	for _, r := range rs {
		require.Eventually(t, func() bool { return len(r.silenceIDs(t, "a")) == 1 }, 5*time.Second, 50*time.Millisecond)
		require.Equal(t, []string{id}, r.silenceIDs(t, "a"))
	}
	for _, r := range rs {
		r.pushAlert(t, "a", "Muted")
	}
	time.Sleep(3 * time.Second)
	require.Equal(t, 1, h.count(), "the silenced alert is not notified by any replica")

	// The first replica goes away: the second notifies, once.
	rs[0].stop(t)
	for _, r := range rs[1:] {
		r.pushAlert(t, "a", "Second")
	}
	require.Eventually(t, func() bool { return h.count() == 2 }, 10*time.Second, 50*time.Millisecond)
	time.Sleep(3 * time.Second)
	require.Equal(t, 2, h.count())

	// Every replica restarts; the state comes back from the bucket.
	for _, r := range rs {
		r.stop(t)
	}
	rs = startCluster(t, bkt)
	for _, r := range rs {
		require.NoError(t, r.am.sync(context.Background()))
		require.Equal(t, []string{id}, r.silenceIDs(t, "a"), "the silence survives the restart of every replica")
	}
	for _, r := range rs {
		r.pushAlert(t, "a", "Boom")
		r.pushAlert(t, "a", "Second")
	}
	time.Sleep(4 * time.Second)
	require.Equal(t, 2, h.count(), "the notification log survives too: nothing is sent again within the repeat interval")
}
