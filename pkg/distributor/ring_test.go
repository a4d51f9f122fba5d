package distributor

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	dsring "github.com/grafana/dskit/ring"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/wire"
)

// staticRing is a ring of three instances that each hold every key (RF 3,
// at most one error), enough of dsring.ReadRing for RingPusher.
type staticRing struct {
	dsring.ReadRing // the methods RingPusher does not call panic
	instances       []dsring.InstanceDesc
}

func (r *staticRing) ShuffleShard(string, int) dsring.ReadRing { return r }
func (r *staticRing) ReplicationFactor() int                   { return len(r.instances) }
func (r *staticRing) InstancesCount() int                      { return len(r.instances) }
func (r *staticRing) Get(uint32, dsring.Operation, []dsring.InstanceDesc, []string, []string) (dsring.ReplicationSet, error) {
	return dsring.ReplicationSet{Instances: r.instances, MaxErrors: (len(r.instances) - 1) / 2}, nil
}

// answerPusher answers every push at once, with err.
type answerPusher struct{ err error }

func (p answerPusher) Push(context.Context, string, *wire.PushRequest) (wire.PushResult, error) {
	return wire.PushResult{}, p.err
}

// TestRingPusherAnswersAfterEveryReplica: replicas that all answer before
// the push looks at their answers (here at once, in production when the
// distributor's goroutine is descheduled on a busy machine) decide the
// push. Its own timeout context, cancelled once the last replica is done,
// once made some such pushes fail with a bare "context canceled" (seen as
// a 503 in a rolling restart, with a quorum up).
func TestRingPusherAnswersAfterEveryReplica(t *testing.T) {
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	lim := limits.NewOverrides(l, nil)
	r := &staticRing{}
	for i := range 3 {
		r.instances = append(r.instances, dsring.InstanceDesc{Id: fmt.Sprintf("ing-%d", i), Addr: fmt.Sprintf("ing-%d", i), State: dsring.ACTIVE})
	}
	down := wire.Errorf(wire.KindUnavailable, "", "ingester is not running (starting or shutting down)")
	for _, tc := range []struct {
		name    string
		answers map[string]error
		want    func(error) bool
	}{
		{"all up", map[string]error{}, func(err error) bool { return err == nil }},
		{"one down", map[string]error{"ing-1": down}, func(err error) bool { return err == nil }},
		{"two down", map[string]error{"ing-0": down, "ing-1": down}, func(err error) bool { return wire.KindOf(err) == wire.KindUnavailable && errors.Is(err, down) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewRingPusher(r, func(addr string) (wire.Pusher, error) { return answerPusher{tc.answers[addr]}, nil }, lim, time.Minute)
			req := &wire.PushRequest{Series: []wire.Series{{Labels: labels.FromStrings("__name__", "up"), Samples: []wire.Sample{{T: 1, V: 1}}}}}
			const pushes = 20000
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				errs = map[string]int{}
			)
			for w := range 4 {
				wg.Go(func() {
					for range pushes / 4 {
						_, err := p.Push(context.Background(), fmt.Sprintf("t%d", w), req)
						if !tc.want(err) {
							mu.Lock()
							errs[fmt.Sprint(err)]++
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			require.Empty(t, errs, "pushes of %d with unexpected answers, by answer", pushes)
		})
	}
}
