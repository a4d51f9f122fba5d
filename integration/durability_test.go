package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// metricKey is the key RawSamples uses for a series.
func metricKey(ls []prompb.Label) string {
	m := model.Metric{}
	for _, l := range ls {
		m[model.LabelName(l.Name)] = model.LabelValue(l.Value)
	}
	return m.String()
}

// killPusher pushes one sample for each of its series per request, with
// increasing timestamps, and remembers which requests weft acknowledged.
type killPusher struct {
	id     int
	c      *apiClient
	series [][]prompb.Label
	base   int64 // timestamp of round 0, ms
	step   int64 // ms between rounds

	inflight atomic.Int32
	// gate is held for reading by each push and for writing by a check,
	// so that a check sees no push in progress.
	gate     *sync.RWMutex
	mu       sync.Mutex
	acked    []int // rounds answered 2xx, guarded by mu
	next     int   // next round to push, guarded by mu
	failures int   // pushes that got no 2xx, guarded by mu
}

const (
	killSeriesPerPusher = 200
	killStep            = 100 // ms between rounds
	killMaxRounds       = 15000
)

func (p *killPusher) ts(round int) int64 { return p.base + int64(round)*p.step }

// value is a pure function of (pusher, series, round), exact in float64.
func (p *killPusher) value(series, round int) float64 {
	return float64(round)*1000 + float64(series) + float64(p.id)/4
}

func (p *killPusher) request(round int) *prompb.WriteRequest {
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, len(p.series))}
	for i, ls := range p.series {
		req.Timeseries[i] = prompb.TimeSeries{
			Labels:  ls,
			Samples: []prompb.Sample{{Timestamp: p.ts(round), Value: p.value(i, round)}},
		}
	}
	return req
}

// run pushes until stop is closed, at most one request every interval.
func (p *killPusher) run(stop <-chan struct{}, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		p.gate.RLock()
		p.mu.Lock()
		round := p.next
		p.next++
		p.mu.Unlock()
		if round >= killMaxRounds {
			p.gate.RUnlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p.inflight.Add(1)
		err := p.c.Push(ctx, p.request(round))
		p.inflight.Add(-1)
		cancel()
		p.mu.Lock()
		if err == nil {
			p.acked = append(p.acked, round)
		} else {
			p.failures++
		}
		p.mu.Unlock()
		p.gate.RUnlock()
	}
}

// snapshot returns the acknowledged rounds and the next round so far.
func (p *killPusher) snapshot() ([]int, int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.acked...), p.next, p.failures
}

// verify checks that every acknowledged sample is stored with its exact
// value and timestamp, and that nothing stored differs from what was sent.
// It returns the numbers of acknowledged samples, of those found, and of
// samples found from pushes that were not acknowledged.
func (p *killPusher) verify(ctx context.Context, c *apiClient) (acked, found, extra int, errs []string) {
	rounds, next, _ := p.snapshot()
	if len(rounds) == 0 {
		return 0, 0, 0, nil
	}
	// Rounds from next on may be pushed while we read: read up to next-1.
	got, err := c.RawSamples(ctx, fmt.Sprintf(`kill_test{pusher="%d"}`, p.id), p.base, p.ts(next-1))
	if err != nil {
		return 0, 0, 0, []string{fmt.Sprintf("pusher %d: cannot read samples back: %v", p.id, err)}
	}
	ackedSet := make(map[int]bool, len(rounds))
	for _, r := range rounds {
		ackedSet[r] = true
	}
	report := func(format string, args ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	for i, ls := range p.series {
		pts := got[metricKey(ls)]
		for _, r := range rounds {
			acked++
			v, ok := pts[p.ts(r)]
			switch {
			case !ok:
				report("pusher %d series %d: acknowledged sample of round %d at %d is missing", p.id, i, r, p.ts(r))
			case v != p.value(i, r):
				report("pusher %d series %d: round %d at %d has value %v, want %v", p.id, i, r, p.ts(r), v, p.value(i, r))
			default:
				found++
			}
		}
		for ts, v := range pts {
			r := int((ts - p.base) / p.step)
			if (ts-p.base)%p.step != 0 || r < 0 || r >= next || v != p.value(i, r) {
				report("pusher %d series %d: unexpected sample %v at %d", p.id, i, v, ts)
				continue
			}
			if !ackedSet[r] {
				extra++
			}
		}
	}
	if len(got) > len(p.series) {
		report("pusher %d: %d series stored, %d pushed", p.id, len(got), len(p.series))
	}
	return acked, found, extra, errs
}

// TestKill9LosesNothingAcknowledged pushes continuously from two pushers
// and kills weft with SIGKILL three times while pushes are in flight. After
// each restart every sample whose push was answered 2xx must be readable
// with its exact timestamp and value: an acknowledgement means the samples
// are in the WAL, not just in memory. The third run syncs the WAL before
// acknowledging (-ingester.wal-sync-before-ack), which a kill -9 must not
// break either (what the sync adds, surviving a power loss, no test here
// can show: docs/durability.md).
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	w := startWeft(t, weftOptions{})
	ctx := testContext(t, 3*time.Minute)
	c := w.Client("kill-tenant")

	base := time.Now().Add(-40 * time.Minute).Truncate(time.Second).UnixMilli()
	var gate sync.RWMutex
	pushers := make([]*killPusher, 2)
	for p := range pushers {
		kp := &killPusher{id: p, c: w.Client("kill-tenant"), base: base, step: killStep, gate: &gate}
		for i := 0; i < killSeriesPerPusher; i++ {
			kp.series = append(kp.series, lbls("kill_test", "pusher", strconv.Itoa(p), "series", strconv.Itoa(i), "job", "kill"))
		}
		pushers[p] = kp
	}
	bg := startBackground(t)
	for _, kp := range pushers {
		bg.Go(func(stop <-chan struct{}) { kp.run(stop, 5*time.Millisecond) })
	}
	stopPushers := bg.Stop

	ackedTotal := func() int {
		n := 0
		for _, kp := range pushers {
			r, _, _ := kp.snapshot()
			n += len(r)
		}
		return n
	}
	verifyAll := func(when string) {
		t.Helper()
		// Pause the pushers: a push answered during the check would look
		// like a stored but unacknowledged one.
		gate.Lock()
		defer gate.Unlock()
		var acked, found, extra int
		var errs []string
		for _, kp := range pushers {
			a, f, e, es := kp.verify(ctx, c)
			acked, found, extra = acked+a, found+f, extra+e
			errs = append(errs, es...)
		}
		// Extra samples come from a push in flight at the kill: stored, but
		// its answer never arrived. That is allowed (the client retries).
		t.Logf("%s: %d samples acknowledged, %d of them found; %d more found from pushes that got no answer", when, acked, found, extra)
		if len(errs) > 0 || found != acked {
			t.Fatalf("%s: acknowledged samples lost or changed (%d acknowledged, %d found):\n%s", when, acked, found, strings.Join(errs, "\n"))
		}
	}

	pushSome := func() {
		t.Helper()
		before := ackedTotal()
		eventually(t, 30*time.Second, 20*time.Millisecond, "pushes acknowledged", func() error {
			if n := ackedTotal() - before; n < 200 {
				return fmt.Errorf("%d pushes acknowledged since the last restart", n)
			}
			return nil
		})
	}
	const kills = 3
	for k := 1; k <= kills; k++ {
		// Push for a while, then kill while a push is in flight.
		pushSome()
		time.Sleep(2 * time.Second) // push steadily for a while (not a readiness wait)
		deadline := time.Now().Add(2 * time.Second)
		for pushers[0].inflight.Load()+pushers[1].inflight.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		inflight := pushers[0].inflight.Load() + pushers[1].inflight.Load()
		if k == kills {
			// The last run had -ingester.wal-sync-before-ack: its pushes
			// waited for syncs, and a kill loses nothing either.
			syncs, err := metricValue(ctx, w, "weft_ingester_wal_syncs_total")
			if err != nil || syncs == 0 {
				t.Fatalf("the WAL was not synced before acknowledgements (%v syncs, err %v)", syncs, err)
			}
		}
		w.Kill()
		t.Logf("kill %d: SIGKILL with %d pushes in flight", k, inflight)
		if k == kills-1 {
			w.args = append(w.args, "-ingester.wal-sync-before-ack")
		}
		w.Restart()
		verifyAll(fmt.Sprintf("after kill %d", k))
	}
	pushSome()
	stopPushers()
	verifyAll("after the last push")
	for _, kp := range pushers {
		r, next, failures := kp.snapshot()
		t.Logf("pusher %d: %d requests, %d acknowledged, %d failed", kp.id, next, len(r), failures)
	}
	w.Stop()
}

// TestGracefulShutdownKeepsData pushes, stops weft with SIGTERM (exit status
// 0, a clean shutdown in the log), restarts it on the same data directory
// and reads every sample back.
func TestGracefulShutdownKeepsData(t *testing.T) {
	t.Parallel()
	w := startWeft(t, weftOptions{})
	ctx := testContext(t, 2*time.Minute)
	c := w.Client("graceful")

	const nSeries, nSamples = 50, 120
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UnixMilli()
	var series [][]prompb.Label
	for i := 0; i < nSeries; i++ {
		series = append(series, lbls("graceful_test", "series", strconv.Itoa(i)))
	}
	value := func(i, j int) float64 { return float64(i)*1e6 + float64(j)*0.5 }
	for j0 := 0; j0 < nSamples; j0 += 30 {
		req := &prompb.WriteRequest{}
		for i, ls := range series {
			ts := prompb.TimeSeries{Labels: ls}
			for j := j0; j < j0+30; j++ {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: base + int64(j)*1000, Value: value(i, j)})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		if err := c.Push(ctx, req); err != nil {
			t.Fatalf("cannot push: %v", err)
		}
	}
	check := func(when string) {
		t.Helper()
		got, err := c.RawSamples(ctx, "graceful_test", base, base+nSamples*1000)
		if err != nil {
			t.Fatalf("%s: cannot read samples: %v", when, err)
		}
		if len(got) != nSeries {
			t.Fatalf("%s: %d series, want %d", when, len(got), nSeries)
		}
		for i, ls := range series {
			pts := got[metricKey(ls)]
			if len(pts) != nSamples {
				t.Fatalf("%s: series %d has %d samples, want %d", when, i, len(pts), nSamples)
			}
			for j := 0; j < nSamples; j++ {
				if v, ok := pts[base+int64(j)*1000]; !ok || v != value(i, j) {
					t.Fatalf("%s: series %d sample %d = %v (present %v), want %v", when, i, j, v, ok, value(i, j))
				}
			}
		}
	}
	check("before shutdown")

	// SIGTERM while a pusher pushes without pause: every push answered 2xx
	// before the process exits must survive the restart.
	var gate sync.RWMutex
	kp := &killPusher{id: 0, c: c, base: base - 30*60_000, step: killStep, gate: &gate}
	for i := 0; i < killSeriesPerPusher; i++ {
		kp.series = append(kp.series, lbls("kill_test", "pusher", "0", "series", strconv.Itoa(i)))
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		kp.run(stop, time.Millisecond)
	}()
	eventually(t, 30*time.Second, 10*time.Millisecond, "pushes acknowledged", func() error {
		if r, _, _ := kp.snapshot(); len(r) < 100 {
			return fmt.Errorf("%d pushes acknowledged", len(r))
		}
		return nil
	})
	inflight := kp.inflight.Load()
	w.Stop()
	close(stop)
	<-done
	rounds, next, failures := kp.snapshot()
	t.Logf("SIGTERM with %d pushes in flight; %d pushes, %d acknowledged, %d refused or cut off", inflight, next, len(rounds), failures)
	log := w.Log()
	for _, want := range []string{"shutting down", "shutdown complete"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log of a SIGTERM shutdown does not contain %q", want)
		}
	}
	for _, bad := range []string{"level=ERROR", "panic:"} {
		if strings.Contains(log, bad) {
			t.Errorf("the log of a clean run and shutdown contains %q", bad)
		}
	}
	w.Restart()
	check("after restart")
	acked, found, extra, errs := kp.verify(ctx, c)
	t.Logf("after restart: %d samples pushed during shutdown acknowledged, %d of them found; %d more found from pushes that got no answer", acked, found, extra)
	if len(errs) > 0 || found != acked {
		t.Errorf("acknowledged samples lost across a SIGTERM shutdown (%d acknowledged, %d found):\n%s", acked, found, strings.Join(errs, "\n"))
	}
	// The restarted process must accept new samples for the same series.
	req := &prompb.WriteRequest{}
	for i, ls := range series {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Timestamp: base + nSamples*1000, Value: value(i, nSamples)}}})
	}
	if err := c.Push(ctx, req); err != nil {
		t.Fatalf("cannot push after restart: %v", err)
	}
	w.Stop()
}

// blockMeta is the part of a shipped meta.json the test checks.
type blockMeta struct {
	ULID    string `json:"ulid"`
	MinTime int64  `json:"minTime"`
	MaxTime int64  `json:"maxTime"`
	Stats   struct {
		NumSamples uint64 `json:"numSamples"`
		NumSeries  uint64 `json:"numSeries"`
	} `json:"stats"`
	Weft *struct {
		Tenant   string `json:"tenant"`
		Ingester string `json:"ingester"`
	} `json:"weft"`
}

// shippedBlocks reads the meta.json of every complete block of tenant in
// the filesystem bucket, oldest first.
func shippedBlocks(bucketDir, tenant string) ([]blockMeta, error) {
	entries, err := os.ReadDir(filepath.Join(bucketDir, tenant))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []blockMeta
	for _, e := range entries {
		if _, err := ulid.ParseStrict(e.Name()); err != nil || !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(bucketDir, tenant, e.Name(), "meta.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue // meta.json goes last: the block is still uploading
		}
		if err != nil {
			return nil, err
		}
		var m blockMeta
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("cannot parse meta.json of %s: %w: %s", e.Name(), err, b)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MinTime < out[j].MinTime })
	return out, nil
}

// TestBlocksShippedToBucket runs weft with one-minute blocks, pushes five
// minutes of samples, and waits until the head is cut into blocks that are
// uploaded to <bucket>/<tenant>/<ULID>/. Each shipped block must carry the
// "weft" section in its meta.json, cover whole minutes, and hold exactly the
// samples that were pushed for its range (read back with the TSDB's own
// block reader); after the head is truncated the old range must still be
// queryable.
func TestBlocksShippedToBucket(t *testing.T) {
	t.Parallel()
	const (
		tenant     = "shipper"
		instanceID = "it-ingester-1"
		nSeries    = 20
		spanMin    = 5
		stepMs     = 1000
	)
	w := startWeft(t, weftOptions{Args: []string{
		"-ingester.tsdb.block-ranges-period=1m",
		"-ingester.tsdb.head-compaction-interval=1s",
		"-ingester.tsdb.ship-interval=1s",
		"-ingester.ring.instance-id=" + instanceID,
	}})
	ctx := testContext(t, 3*time.Minute)
	c := w.Client(tenant)

	end := time.Now().Truncate(time.Second).UnixMilli()
	start := end - spanMin*60*1000
	nSamples := int((end-start)/stepMs) + 1
	var series [][]prompb.Label
	for i := 0; i < nSeries; i++ {
		series = append(series, lbls("ship_test", "series", strconv.Itoa(i)))
	}
	value := func(i int, ts int64) float64 { return float64(ts-start)/1000 + float64(i)*1e6 }
	// Push in time order across all series so that every request is newer
	// than everything the head already has (the head of a 1m-block TSDB
	// refuses samples older than 30s before its newest one).
	for j0 := 0; j0 < nSamples; j0 += 20 {
		req := &prompb.WriteRequest{}
		for i, ls := range series {
			ts := prompb.TimeSeries{Labels: ls}
			for j := j0; j < j0+20 && j < nSamples; j++ {
				t := start + int64(j)*stepMs
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: t, Value: value(i, t)})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		if err := c.Push(ctx, req); err != nil {
			t.Fatalf("cannot push samples from %d: %v", start+int64(j0)*stepMs, err)
		}
	}

	// The head spans 5 minutes; it keeps at most 1.5 block ranges, so at
	// least three one-minute blocks must be cut and shipped.
	var metas []blockMeta
	eventually(t, 90*time.Second, 200*time.Millisecond, "three blocks in the bucket", func() error {
		var err error
		metas, err = shippedBlocks(w.BucketDir, tenant)
		if err != nil {
			return err
		}
		if len(metas) < 3 {
			return fmt.Errorf("%d blocks shipped", len(metas))
		}
		return nil
	})
	var shippedSamples uint64
	for k, m := range metas {
		if m.Weft == nil {
			t.Errorf("block %s: meta.json has no \"weft\" section", m.ULID)
		} else if m.Weft.Tenant != tenant || m.Weft.Ingester != instanceID {
			t.Errorf("block %s: weft section is tenant %q ingester %q, want %q and %q", m.ULID, m.Weft.Tenant, m.Weft.Ingester, tenant, instanceID)
		}
		if m.MaxTime%60000 != 0 || m.MaxTime <= m.MinTime || m.MaxTime-m.MinTime > 60000 {
			t.Errorf("block %s: [%d, %d) is not within one whole minute", m.ULID, m.MinTime, m.MaxTime)
		}
		if m.MinTime < start || m.MaxTime > end+1 {
			t.Errorf("block %s: [%d, %d) is outside the pushed range [%d, %d]", m.ULID, m.MinTime, m.MaxTime, start, end)
		}
		if k > 0 && m.MinTime < metas[k-1].MaxTime {
			t.Errorf("blocks %s and %s overlap", metas[k-1].ULID, m.ULID)
		}
		if m.Stats.NumSeries != nSeries {
			t.Errorf("block %s: %d series, want %d", m.ULID, m.Stats.NumSeries, nSeries)
		}
		shippedSamples += m.Stats.NumSamples
		checkBlockSamples(t, filepath.Join(w.BucketDir, tenant, m.ULID), m, func(i string, ts int64) float64 {
			n, _ := strconv.Atoi(i)
			return value(n, ts)
		}, start, stepMs)
	}
	if metas[0].MinTime != start {
		t.Errorf("the oldest block starts at %d, want the first sample at %d", metas[0].MinTime, start)
	}
	t.Logf("%d blocks shipped with %d samples, first [%d, %d), last [%d, %d)", len(metas), shippedSamples,
		metas[0].MinTime, metas[0].MaxTime, metas[len(metas)-1].MinTime, metas[len(metas)-1].MaxTime)

	// The head no longer holds the shipped range ...
	eventually(t, 30*time.Second, 200*time.Millisecond, "the head truncated", func() error {
		v, err := headMinTime(ctx, w, tenant)
		if err != nil {
			return err
		}
		if v < metas[len(metas)-1].MaxTime {
			return fmt.Errorf("head min time %d is before the end of the last shipped block %d", v, metas[len(metas)-1].MaxTime)
		}
		return nil
	})
	// ... but every sample is still queryable, old range included, also
	// after a restart (blocks on local disk plus the WAL of the head).
	checkAll := func(when string) {
		t.Helper()
		got, err := c.RawSamples(ctx, "ship_test", start, end)
		if err != nil {
			t.Fatalf("%s: cannot query: %v", when, err)
		}
		if len(got) != nSeries {
			t.Fatalf("%s: %d series queryable, want %d", when, len(got), nSeries)
		}
		for i, ls := range series {
			pts := got[metricKey(ls)]
			if len(pts) != nSamples {
				t.Errorf("%s: series %d: %d samples queryable, want %d", when, i, len(pts), nSamples)
				continue
			}
			for j := 0; j < nSamples; j++ {
				ts := start + int64(j)*stepMs
				if v, ok := pts[ts]; !ok || v != value(i, ts) {
					t.Errorf("%s: series %d at %d: %v (present %v), want %v", when, i, ts, v, ok, value(i, ts))
					break
				}
			}
		}
	}
	checkAll("after the head was truncated")
	w.Stop()
	w.Restart()
	checkAll("after a restart")
	// A restart ships nothing twice: the blocks in the bucket are the same.
	again, err := shippedBlocks(w.BucketDir, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) < len(metas) {
		t.Errorf("%d blocks in the bucket after a restart, %d before", len(again), len(metas))
	}
	for _, m := range again {
		if m.MinTime < metas[len(metas)-1].MaxTime && !slicesContainsULID(metas, m.ULID) {
			t.Errorf("block %s [%d, %d) appeared after a restart over a range already shipped", m.ULID, m.MinTime, m.MaxTime)
		}
	}
	w.Stop()
}

func slicesContainsULID(metas []blockMeta, id string) bool {
	for _, m := range metas {
		if m.ULID == id {
			return true
		}
	}
	return false
}

// headMinTime reads prometheus_tsdb_head_min_time of tenant from weft's
// /metrics, where the ingester re-exports each tenant's TSDB metrics.
func headMinTime(ctx context.Context, w *weftProcess, tenant string) (int64, error) {
	body, err := httpGet(ctx, w.URL()+"/metrics")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "prometheus_tsdb_head_min_time{") && strings.Contains(line, `tenant="`+tenant+`"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return 0, fmt.Errorf("cannot parse %q: %w", line, err)
			}
			return int64(v), nil
		}
	}
	return 0, fmt.Errorf("no prometheus_tsdb_head_min_time for tenant %s in /metrics", tenant)
}

// checkBlockSamples opens a shipped block with the TSDB's block reader and
// checks that it holds exactly the pushed samples of its time range.
func checkBlockSamples(t *testing.T, dir string, m blockMeta, want func(series string, ts int64) float64, start, stepMs int64) {
	t.Helper()
	b, err := tsdb.OpenBlock(slog.New(slog.DiscardHandler), dir, nil, nil)
	if err != nil {
		t.Errorf("block %s: cannot open the shipped block: %v", m.ULID, err)
		return
	}
	defer b.Close()
	q, err := tsdb.NewBlockQuerier(b, math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Errorf("block %s: cannot query: %v", m.ULID, err)
		return
	}
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "ship_test"))
	var n uint64
	var it chunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		name := s.Labels().Get("series")
		it = s.Iterator(it)
		expectTS := m.MinTime + (stepMs-(m.MinTime-start)%stepMs)%stepMs
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			if ts != expectTS || v != want(name, ts) {
				t.Errorf("block %s series %s: sample %v at %d, want %v at %d", m.ULID, name, v, ts, want(name, expectTS), expectTS)
				return
			}
			expectTS += stepMs
			n++
		}
		if expectTS < m.MaxTime {
			t.Errorf("block %s series %s: samples end at %d, block ends at %d", m.ULID, name, expectTS-stepMs, m.MaxTime)
		}
	}
	if err := ss.Err(); err != nil {
		t.Errorf("block %s: %v", m.ULID, err)
	}
	if n != m.Stats.NumSamples {
		t.Errorf("block %s: read %d samples, meta.json says %d", m.ULID, n, m.Stats.NumSamples)
	}
}
