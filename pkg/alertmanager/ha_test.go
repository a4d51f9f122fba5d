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
	return startClusterWith(t, bkt, &memTransport{peers: map[string]*Alertmanager{}})
}

func startClusterWith(t *testing.T, bkt objstore.Bucket, tr *memTransport) []*server {
	t.Helper()
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
	// A ruler sends the alert to one replica; it goes to all.
	rs[2].pushAlert(t, "a", "Boom")
	for _, r := range rs {
		require.Equal(t, []string{"Boom"}, r.alertNames(t, "a"))
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
	rs[1].pushAlert(t, "a", "Second")
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

// An alertmanager that does not run a tenant passes its requests to the
// replicas that do: alerts to all of them, the rest to the first that
// answers.
func TestForwardToReplicas(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	tr := &memTransport{peers: map[string]*Alertmanager{}}
	rs := startClusterWith(t, bkt, tr)
	other := startAM(t, bkt, defaultLimits(), nil, tr, []string{"r0", "r1", "r2"}, -1)
	rs[0].upload(t, "a", yamlBody(simpleAM, nil))
	for _, r := range append(rs[1:], other) {
		require.NoError(t, r.am.sync(context.Background()))
	}
	require.Nil(t, other.am.instance("a"), "not a replica of the tenant")
	other.pushAlert(t, "a", "ViaOther")
	for _, r := range rs {
		require.Equal(t, []string{"ViaOther"}, r.alertNames(t, "a"))
	}
	require.Equal(t, []string{"ViaOther"}, other.alertNames(t, "a"))
	id := other.addSilence(t, "a", "ViaOther")
	for _, r := range rs {
		require.Eventually(t, func() bool { return len(r.silenceIDs(t, "a")) == 1 }, 5*time.Second, 20*time.Millisecond)
	}
	require.Equal(t, []string{id}, other.silenceIDs(t, "a"))
	// With the first replica down, the next answers.
	rs[0].stop(t)
	require.Equal(t, []string{id}, other.silenceIDs(t, "a"))
}
