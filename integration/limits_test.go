package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
)

// TestGlobalIngestionRate: a tenant's ingestion_rate is a figure for the
// whole cluster. One distributor alone accepts about the rate; two
// distributors, pushed through at once, accept about the same rate between
// them (each enforces half), not twice it. Pushers offer many times the
// rate, so the accepted count over a window is the limit's, whatever the
// machine's speed; the bounds leave wide margins.
func TestGlobalIngestionRate(t *testing.T) {
	const (
		rate   = 2000 // samples/s, cluster-wide
		burst  = 2000
		batch  = 200 // samples per push
		window = 8 * time.Second
	)
	ctx := testContext(t, 2*time.Minute)
	c := newCluster(t, 3,
		"-distributor.replication-factor=1",
		"-auth.multitenancy-enabled=true",
		"-ingester.ring.heartbeat-period=1s",
		"-distributor.ring.heartbeat-period=1s",
		"-distributor.ring.heartbeat-timeout=10s",
		"-distributor.ingestion-rate-limit="+strconv.Itoa(rate),
		"-distributor.ingestion-burst-size="+strconv.Itoa(burst),
	)
	ing := c.startIngester("ing-1")
	d1 := c.start("dist-1", "distributor")
	waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), ing, d1)

	// push offers batch-sample requests through each of dists from two
	// pushers each, every 20ms, for window, and returns the samples
	// accepted and the duration.
	round := 0
	push := func(dists ...*weftProcess) (int64, time.Duration, *apiError) {
		round++
		var (
			accepted atomic.Int64
			wg       sync.WaitGroup
			mu       sync.Mutex
			refusal  *apiError
		)
		start := time.Now()
		for di, d := range dists {
			for p := 0; p < 2; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cl := d.Client("noisy")
					name := fmt.Sprintf("r%d-d%d-p%d", round, di, p)
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for i := 0; time.Since(start) < window; i++ {
						req := &prompb.WriteRequest{}
						ts := time.Now().UnixMilli()
						for s := 0; s < batch; s++ {
							req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
								Labels:  []prompb.Label{{Name: "__name__", Value: "load"}, {Name: "pusher", Value: name}, {Name: "s", Value: strconv.Itoa(s)}},
								Samples: []prompb.Sample{{Timestamp: ts, Value: float64(i)}},
							})
						}
						err := cl.Push(ctx, req)
						var ae *apiError
						switch {
						case err == nil:
							accepted.Add(batch)
						case errors.As(err, &ae) && ae.StatusCode == 429:
							mu.Lock()
							refusal = ae
							mu.Unlock()
						default:
							t.Errorf("push through %s: %v", d.name, err)
							return
						}
						select {
						case <-tick.C:
						case <-ctx.Done():
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		return accepted.Load(), time.Since(start), refusal
	}
	// within checks an accepted count against the rate over d plus the
	// burst, with wide margins: the machine may be slow (fewer offered
	// samples get through in time), and token buckets start full.
	within := func(what string, got int64, d time.Duration) {
		t.Helper()
		want := rate*d.Seconds() + burst
		t.Logf("%s: %d samples accepted in %s (%.0f/s); the limit allows %.0f", what, got, d.Round(time.Millisecond), float64(got)/d.Seconds(), want)
		if float64(got) > 1.3*want {
			t.Errorf("%s: %d samples accepted, over the cluster-wide limit's %.0f (+30%%)", what, got, want)
		}
		if float64(got) < 0.5*want {
			t.Errorf("%s: only %d samples accepted, under half the limit's %.0f: the limit refuses too much", what, got, want)
		}
	}

	got, d, refusal := push(d1)
	within("one distributor", got, d)
	if refusal == nil {
		t.Fatal("one distributor: no push was refused; the pushers offer too little")
	}

	d2 := c.start("dist-2", "distributor")
	// Each distributor counts both, and the count it keeps (a second old
	// at most) has caught up.
	eventually(t, 30*time.Second, 200*time.Millisecond, "both distributors in the distributor ring", func() error {
		for _, w := range []*weftProcess{d1, d2} {
			s, err := fetchRingPage(ctx, w, "/distributor/ring")
			if err != nil {
				return err
			}
			if n := healthyCount(s); n != 2 {
				return fmt.Errorf("%s sees %d healthy distributors: %s", w.name, n, s)
			}
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	// The buckets refill while nothing pushes: start both from full.
	time.Sleep(time.Duration(float64(burst)/rate*float64(time.Second)) + time.Second)

	got, d, refusal = push(d1, d2)
	within("two distributors together", got, d)
	if refusal == nil {
		t.Fatal("two distributors: no push was refused")
	}
	if refusal.ErrorType != "too_many_requests" || !strings.Contains(refusal.Message, "err-weft-ingestion-rate-limited") ||
		!strings.Contains(refusal.Message, "cluster-wide ingestion rate limit of 2000 samples/s") || !strings.Contains(refusal.Message, "shared by 2 distributors") {
		t.Errorf("the refusal does not name the cluster-wide limit: %s: %s", refusal.ErrorType, refusal.Message)
	}
	t.Logf("refusal: HTTP %d %s", refusal.StatusCode, refusal.Message)
}

// fetchRingPage reads the JSON of a ring status page (path) of w.
func fetchRingPage(ctx context.Context, w *weftProcess, path string) (ringStatus, error) {
	body, err := httpGetWith(ctx, w.httpClient(0), w.URL()+path+"?format=json")
	if err != nil {
		return ringStatus{}, err
	}
	var s ringStatus
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return ringStatus{}, fmt.Errorf("cannot decode %s of %s: %w: %.300s", path, w.name, err, body)
	}
	return s, nil
}

func healthyCount(s ringStatus) int {
	n := 0
	for _, in := range s.Instances {
		if in.Healthy && in.State == "ACTIVE" {
			n++
		}
	}
	return n
}
