package app

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dsring "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/ruler"
	"github.com/weft-io/weft/pkg/tenant"
)

// keepInRing is a ruler lifecycler that does not leave on stop: stopping
// the ruler and its lifecycler then looks, to the others, like a crash.
type keepInRing struct{ *ring.IngesterLifecycler }

func (keepInRing) Leave(context.Context) error { return nil }

// Two rulers share the groups by the ruler ring: each group is evaluated
// by exactly one of them, and a dead ruler's groups move to the other
// within the heartbeat timeout.
func TestRulerRingShardsGroups(t *testing.T) {
	lim := testLimits(t)
	var rcfg ring.Config
	rcfg.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	rcfg.Ring.Store = ring.StoreInMemory
	kv, err := ring.NewKV(rcfg, nil, nil)
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), kv))
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), kv) })

	ing := startIngester(t, testIngesterConfig(t, promqlIngesterArgs...), lim, nil)
	var qcfg querier.Config
	qcfg.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	var cfg ruler.Config
	cfg.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
	cfg.PollInterval = 200 * time.Millisecond
	bkt := objstore.NewInMemBucket()

	type instance struct {
		r    *ruler.Ruler
		reg  *prometheus.Registry
		life *ring.IngesterLifecycler
	}
	var rulers []instance
	for i := range 2 {
		sc := rcfg.Ring.Ruler
		sc.InstanceID = fmt.Sprintf("ruler-%d", i)
		sc.InstanceAddr = fmt.Sprintf("127.0.0.1:%d", 20000+i)
		sc.HeartbeatPeriod = 500 * time.Millisecond
		sc.HeartbeatTimeout = 3 * time.Second
		sc.TokensFilePath = ""
		life, err := ring.NewRulerLifecycler(sc, kv, nil, nil)
		require.NoError(t, err)
		life.SetKeepInstanceInTheRingOnShutdown(true)
		rr, err := ring.NewRulerRing(sc, kv, nil, nil)
		require.NoError(t, err)
		for _, s := range []services.Service{life, rr} {
			require.NoError(t, services.StartAndAwaitRunning(context.Background(), s))
			t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), s) })
		}
		reg := prometheus.NewRegistry()
		r, err := ruler.New(cfg, bkt, lim, ing, querier.NewQueryable(ing, lim), querier.NewEngine(qcfg, lim, nil, nil), reg, nil,
			ruler.WithRing(rulerOwns(rr, sc.InstanceID), keepInRing{life}))
		require.NoError(t, err)
		rulers = append(rulers, instance{r, reg, life})
	}

	// 16 groups of two tenants, uploaded through the first ruler's API.
	srv := httptest.NewServer(rulers[0].r.ConfigHandler(tenant.Resolver{MultiTenancy: true}.FromRequest))
	defer srv.Close()
	var keys []string
	for i := range 16 {
		id, ns, g := fmt.Sprintf("tenant-%d", i%2), fmt.Sprintf("ns-%d", i%3), fmt.Sprintf("group-%d", i)
		req, err := http.NewRequest(http.MethodPost, srv.URL+ruler.ConfigPrefix+"/"+ns, strings.NewReader("name: "+g+"\ninterval: 1s\nrules:\n  - record: one\n    expr: vector(1)\n"))
		require.NoError(t, err)
		req.Header.Set(tenant.Header, id)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		keys = append(keys, id+"/"+ns+"/"+g)
	}
	for _, in := range rulers {
		require.NoError(t, services.StartAndAwaitRunning(context.Background(), in.r))
		t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), in.r) })
	}

	// evaluations returns, by group, how often each ruler evaluated it.
	evaluations := func() map[string][]float64 {
		out := map[string][]float64{}
		for i, in := range rulers {
			mfs, err := in.reg.Gather()
			require.NoError(t, err)
			for _, mf := range mfs {
				if mf.GetName() != "weft_ruler_group_evaluations_total" {
					continue
				}
				for _, m := range mf.GetMetric() {
					k := label(m, "tenant") + "/" + label(m, "namespace") + "/" + label(m, "group")
					if out[k] == nil {
						out[k] = make([]float64, len(rulers))
					}
					out[k][i] = m.GetCounter().GetValue()
				}
			}
		}
		return out
	}
	owners := func(e map[string][]float64) map[string][]int {
		out := map[string][]int{}
		for k, counts := range e {
			for i, c := range counts {
				if c > 0 {
					out[k] = append(out[k], i)
				}
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(owners(evaluations())) == len(keys) }, 10*time.Second, 100*time.Millisecond)
	before := evaluations()
	time.Sleep(3 * time.Second)
	after := evaluations()
	perRuler := make([]int, len(rulers))
	for _, k := range keys {
		var evaluated []int
		total := 0.0
		for i := range rulers {
			if d := after[k][i] - before[k][i]; d > 0 {
				evaluated = append(evaluated, i)
				total += d
				perRuler[i]++
			}
		}
		require.Len(t, evaluated, 1, "group %s is evaluated by exactly one ruler: %v -> %v", k, before[k], after[k])
		// Each ruler evaluates at every 1s tick; one ruler, not two.
		require.LessOrEqual(t, total, 4.0, "group %s evaluated at most once per interval", k)
	}
	require.Positive(t, perRuler[0], "groups are spread over both rulers")
	require.Positive(t, perRuler[1], "groups are spread over both rulers")

	// Ruler 1 dies: it stops evaluating and heartbeating, and stays in the
	// ring. Once its heartbeat times out, ruler 0 owns every group.
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), rulers[1].r))
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), rulers[1].life))
	// A crash leaves the instance ACTIVE in the ring with its last
	// heartbeat; a clean stop marks it LEAVING, so put that back.
	client, err := kv.NewClient("test", dsring.GetCodec())
	require.NoError(t, err)
	died := time.Now()
	require.NoError(t, client.CAS(context.Background(), ring.RulerRingKey, func(in any) (any, bool, error) {
		desc := in.(*dsring.Desc)
		inst := desc.Ingesters["ruler-1"]
		inst.State = dsring.ACTIVE
		inst.Timestamp = died.Unix()
		desc.Ingesters["ruler-1"] = inst
		return desc, true, nil
	}))
	owned := func() int {
		n := 0
		for _, id := range []string{"tenant-0", "tenant-1"} {
			if m := rulers[0].r.Manager(id); m != nil {
				n += len(m.RuleGroups())
			}
		}
		return n
	}
	// Until the heartbeat times out, ruler 1 still owns its groups.
	time.Sleep(time.Second)
	require.Less(t, owned(), len(keys))
	require.Eventually(t, func() bool { return owned() == len(keys) }, 15*time.Second, 100*time.Millisecond)
	t.Logf("ruler 1's groups moved %s after it died (heartbeat timeout 3s)", time.Since(died).Round(100*time.Millisecond))
	require.Greater(t, time.Since(died), 1500*time.Millisecond, "the groups moved only when the heartbeat timed out (heartbeats are in whole seconds)")
	require.Less(t, time.Since(died), 3*time.Second+2*cfg.PollInterval+2*time.Second)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
