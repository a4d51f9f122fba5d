package ring

import (
	"testing"
	"time"

	gokitlog "github.com/go-kit/log"
	dsring "github.com/grafana/dskit/ring"
	"github.com/stretchr/testify/require"
)

// nopDelegate is the end of a delegate chain.
type nopDelegate struct{}

func (nopDelegate) OnRingInstanceRegister(_ *dsring.BasicLifecycler, _ dsring.Desc, _ bool, _ string, d dsring.InstanceDesc) (dsring.InstanceState, dsring.Tokens) {
	return d.State, d.Tokens
}
func (nopDelegate) OnRingInstanceTokens(*dsring.BasicLifecycler, dsring.Tokens) {}
func (nopDelegate) OnRingInstanceStopping(*dsring.BasicLifecycler)              {}
func (nopDelegate) OnRingInstanceHeartbeat(*dsring.BasicLifecycler, *dsring.Desc, *dsring.InstanceDesc) {
}

// A process whose own last heartbeat is older than the forget period was
// paused: its view of every other heartbeat is as stale, so it forgets no
// one until a forget period has passed; a dead instance is forgotten
// after that, and at once by a process that was not paused.
func TestNoForgettingOnAStaleView(t *testing.T) {
	const period = 6 * time.Second
	now := time.Now()
	ring := func(self, other time.Time) (*dsring.Desc, *dsring.InstanceDesc) {
		d := dsring.NewDesc()
		d.AddIngester("self", "a:1", "", []uint32{1}, dsring.ACTIVE, now.Add(-time.Hour), false, time.Time{}, nil)
		d.AddIngester("other", "a:2", "", []uint32{2}, dsring.ACTIVE, now.Add(-time.Hour), false, time.Time{}, nil)
		s, o := d.Ingesters["self"], d.Ingesters["other"]
		s.Timestamp, o.Timestamp = self.Unix(), other.Unix()
		d.Ingesters["self"], d.Ingesters["other"] = s, o
		return d, &s
	}
	newForget := func() *freshViewForget {
		return &freshViewForget{BasicLifecyclerDelegate: nopDelegate{}, period: period,
			forget: dsring.NewAutoForgetDelegate(period, nopDelegate{}, gokitlog.NewNopLogger()), logger: ringLogger(nil, "test")}
	}

	// Paused for 15s: the other looks as old as this process's own heartbeat.
	f := newForget()
	d, self := ring(now.Add(-15*time.Second), now.Add(-15*time.Second))
	f.OnRingInstanceHeartbeat(nil, d, self)
	require.Contains(t, d.Ingesters, "other", "forgotten on the view of a paused process")
	// The next heartbeat: this process is fresh, but the other's heartbeat
	// has not come through gossip yet.
	d, self = ring(now.Add(-2*time.Second), now.Add(-15*time.Second))
	f.OnRingInstanceHeartbeat(nil, d, self)
	require.Contains(t, d.Ingesters, "other", "forgotten within a forget period of the pause")
	// A forget period later the other is really dead.
	f.holdUntil.Store(time.Now().Add(-time.Second).UnixNano())
	d, self = ring(now.Add(-2*time.Second), now.Add(-30*time.Second))
	f.OnRingInstanceHeartbeat(nil, d, self)
	require.NotContains(t, d.Ingesters, "other", "a dead instance is forgotten once the view is fresh")

	// A process that was not paused forgets a dead instance at once.
	f = newForget()
	d, self = ring(now.Add(-2*time.Second), now.Add(-10*time.Second))
	f.OnRingInstanceHeartbeat(nil, d, self)
	require.NotContains(t, d.Ingesters, "other")
}
