package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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

// TestInflightPushBytesLimit: slow senders hold bytes of the distributor's
// in-flight budget (their declared lengths, counted before their bodies
// arrive); a concurrent burst of pushes that would go over it is refused
// with 503 and the limit's ID, each one counted, and the same burst passes
// once the slow senders are gone.
func TestInflightPushBytesLimit(t *testing.T) {
	const (
		limit = 20000
		held  = 6000 // declared by each of 3 slow senders
	)
	ctx := testContext(t, time.Minute)
	w := startWeft(t, weftOptions{Args: []string{"-distributor.instance-limits.max-inflight-push-requests-bytes=" + strconv.Itoa(limit)}})

	req := &prompb.WriteRequest{}
	now := time.Now().UnixMilli()
	for i := 0; i < 60; i++ {
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "burst"}, {Name: "id", Value: hex.EncodeToString(h[:])}},
			Samples: []prompb.Sample{{Timestamp: now, Value: 1}},
		})
	}
	body := encodeWriteRequest(req)
	if len(body) <= limit-3*held || len(body) > limit {
		t.Fatalf("the burst's body is %d bytes: it must not fit beside the slow senders' %d, and fit alone in %d", len(body), 3*held, limit)
	}

	var slow []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", w.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /api/v1/push HTTP/1.1\r\nHost: weft\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Scope-OrgID: slow\r\nContent-Length: %d\r\n\r\n", held)
		slow = append(slow, c)
	}
	const inflightBytes = "weft_distributor_inflight_push_requests_bytes"
	eventually(t, 20*time.Second, 50*time.Millisecond, "the slow senders' bytes in flight", func() error {
		v, err := metricValue(ctx, w, inflightBytes)
		if err != nil || v != 3*held {
			return fmt.Errorf("%s = %v (%v), want %d", inflightBytes, v, err, 3*held)
		}
		return nil
	})

	burst := func(n int) []pushAnswer {
		out := make([]pushAnswer, n)
		var wg sync.WaitGroup
		for i := range out {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = w.Client("burst").pushAnswer(t, body, nil)
			}()
		}
		wg.Wait()
		return out
	}
	for _, a := range burst(8) {
		wantPushError(t, a, 503, "unavailable", "err-weft-distributor-max-inflight-push-bytes", "-distributor.instance-limits.max-inflight-push-requests-bytes")
	}
	const rejections = `weft_distributor_instance_limit_rejections_total{limit="max_inflight_push_requests_bytes"}`
	if v, err := metricValue(ctx, w, rejections); err != nil || v != 8 {
		t.Errorf("%s = %v (%v), want 8", rejections, v, err)
	}

	// The slow senders go away: their bytes drain.
	for _, c := range slow {
		_ = c.Close()
	}
	eventually(t, 20*time.Second, 50*time.Millisecond, "the bytes in flight drained", func() error {
		v, err := metricValue(ctx, w, inflightBytes)
		if err != nil || v != 0 {
			return fmt.Errorf("%s = %v (%v), want 0", inflightBytes, v, err)
		}
		return nil
	})
	// As many at once as fit in the limit.
	for i, a := range burst(limit / len(body)) {
		if a.code != 204 {
			t.Errorf("push %d of the burst after the drain: HTTP %d %v", i, a.code, a.err)
		}
	}
}
