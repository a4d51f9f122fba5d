package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/weft-io/weft/internal/s3test"
)

// outageDurationEnv shortens (or lengthens) the outage of
// TestBucketOutage, as a Go duration; the default is the 5m.
const outageDurationEnv = "WEFT_OUTAGE_DURATION"

// TestBucketOutage runs the distributed setup on a real S3 server
// (versitygw, internal/s3test) and kills the server for 5 minutes
// (WEFT_OUTAGE_DURATION) while pushes, block cutting, shipping and
// compaction go on. Ingesters cut one-minute blocks and ship them every
// second; their local retention is one minute, so old blocks live only in
// the bucket; the querier asks ingesters for the last 2m only and the
// store-gateways for what is older than 90s.
//
//   - Before: 6 minutes of numbered samples are backfilled, shipped and
//     dropped by the ingesters, and read back from the bucket.
//   - During: every push is acknowledged; no ingester deletes a block that
//     it has not shipped, and it cuts new ones; a query of bucket-only data
//     answers a 5xx in Prometheus' error format, within a bounded time,
//     every time; a query of the last 30s (ingesters only) answers exactly.
//   - After: queries recover without any restart within a bounded time;
//     every acknowledged sample reads back once; the ingesters ship every
//     block they held and drop them; every block in the bucket is whole
//     (it opens as a TSDB block and holds the samples its meta.json says)
//     and the bucket index lists exactly the blocks in the bucket.
func TestBucketOutage(t *testing.T) {
	outage := 5 * time.Minute
	if s := os.Getenv(outageDurationEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive Go duration", outageDurationEnv, s)
		}
		outage = d
	}
	const (
		tenant     = "outage"
		bucketName = "weft-outage"
		blockRange = time.Minute
		// queryBound is how long any query may take to answer, success
		// or failure: a dead bucket must not hang the read path.
		queryBound = 20 * time.Second
		// recoverBound is how long after the server is back queries of
		// bucket data must answer again, with no weft restart.
		recoverBound = 90 * time.Second
	)
	began := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("[%6.1fs] "+format, append([]any{time.Since(began).Seconds()}, args...)...)
	}
	ctx := testContext(t, outage+8*time.Minute)

	srv := s3test.Start(t)
	srv.CreateBucket(t, bucketName)
	bucketDir := filepath.Join(srv.Root, bucketName) // versitygw posix: one file per object

	c := newCluster(t, 6,
		"-auth.multitenancy-enabled=true",
		"-distributor.replication-factor=1",
		"-ingester.ring.heartbeat-period=2s",
		"-store-gateway.sharding-replication-factor=1",
		"-store-gateway.sync-interval=1s",
		"-store-gateway.ignore-deletion-marks-delay=2s",
		"-bucket.backend=s3",
		"-bucket.s3.endpoint="+srv.Addr,
		"-bucket.s3.bucket-name="+bucketName,
		"-bucket.s3.access-key-id="+s3test.AccessKey,
		"-bucket.s3.secret-access-key="+s3test.SecretKey,
		"-bucket.s3.insecure=true",
	)
	ingIDs := []string{"ing-1", "ing-2"}
	var ings []*weftProcess
	for _, id := range ingIDs {
		ings = append(ings, c.startIngester(id,
			"-ingester.tsdb.block-ranges-period="+blockRange.String(),
			"-ingester.tsdb.ship-interval=1s",
			"-ingester.tsdb.head-compaction-interval=1s",
			"-ingester.tsdb.retention-period=1m",
		))
	}
	sg := c.start("store-gateway", "store-gateway", "-store-gateway.ring.instance-id=sg-1")
	comp := c.start("compactor", "compactor",
		"-compactor.block-ranges=1m,3m",
		"-compactor.compaction-interval=5s",
		"-compactor.cleanup-interval=2s",
		"-compactor.consistency-delay=0s",
		"-compactor.deletion-delay=10s",
	)
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier",
		"-querier.query-ingesters-within=2m",
		"-querier.query-store-after=90s",
	)
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ingIDs...), dist, qr)
	logf("S3 server on %s; 2 ingesters, store-gateway, compactor, distributor, querier up; outage of %s", srv.Addr, outage)

	// The data: 20 series, one sample every 2s, from 6 minutes ago.
	step := 2 * time.Second
	n := numbered{metric: "bucket_outage", nSeries: 20, base: time.Now().Truncate(time.Minute).Add(-6 * time.Minute).UnixMilli(), step: step.Milliseconds()}
	p := &outagePusher{n: n, c: dist.Client(tenant)}
	p.phase.set("backfill")
	backfilled := int(time.Since(time.UnixMilli(n.base)) / step)
	pushRounds(ctx, t, p.c, n, 0, backfilled)
	for r := 0; r < backfilled; r++ {
		p.acked = append(p.acked, r)
	}
	p.next = backfilled
	logf("backfilled rounds 0-%d (%s..%s)", backfilled-1, fmtMs(n.ts(0)), fmtMs(n.ts(backfilled-1)))
	p.phase.set("before the outage")
	stopPush := make(chan struct{})
	pushDone := make(chan struct{})
	go func() { defer close(pushDone); p.run(ctx, stopPush) }()
	defer func() {
		select {
		case <-stopPush:
		default:
			close(stopPush)
		}
		<-pushDone
	}()

	// The bucket-only range: the backfill's first three minutes.
	oldFrom, oldTo := n.ts(0), n.ts(0)+3*time.Minute.Milliseconds()-1
	oldRounds := int((oldTo-n.base)/n.step) + 1
	eventually(t, 90*time.Second, time.Second, "the backfill shipped and dropped by the ingesters", func() error {
		for i, w := range ings {
			local, err := localBlocks(w, tenant)
			if err != nil {
				return err
			}
			for _, b := range local {
				if b.MinTime <= oldTo {
					return fmt.Errorf("%s still holds block %s [%s, %s)", ingIDs[i], b.ID, fmtMs(b.MinTime), fmtMs(b.MaxTime))
				}
			}
		}
		return nil
	})
	logf("the ingesters hold nothing older than %s", fmtMs(oldTo))
	eventually(t, 60*time.Second, time.Second, "the bucket-only range reads back", func() error {
		return checkRounds(ctx, qr.Client(tenant), n, 0, oldRounds)
	})
	logf("rounds 0-%d (%s..%s) read back from the bucket", oldRounds-1, fmtMs(oldFrom), fmtMs(oldTo))

	// The outage.
	failuresBefore := make([]float64, len(ings))
	for i, w := range ings {
		failuresBefore[i], _ = metricValue(ctx, w, `weft_ingester_block_ship_failures_total{tenant="`+tenant+`"}`)
	}
	compFailedBefore, _ := metricValue(ctx, comp, "weft_compactor_runs_failed_total")
	p.phase.set("outage")
	srv.Stop()
	outageStart := time.Now()
	logf("S3 server killed")
	// everSeen holds every block any ingester held, by ingester; unshipped
	// what was not shipped at the last look.
	everSeen := make([]map[string]localBlock, len(ings))
	for i := range everSeen {
		everSeen[i] = map[string]localBlock{}
	}
	lookLocal := func(when string) (unshipped []int) {
		unshipped = make([]int, len(ings))
		for i, w := range ings {
			local, err := localBlocks(w, tenant)
			if err != nil {
				t.Errorf("%s: %s: %v", when, ingIDs[i], err)
				continue
			}
			shipped, err := shippedList(w, tenant)
			if err != nil {
				t.Errorf("%s: %s: %v", when, ingIDs[i], err)
				continue
			}
			now := map[string]bool{}
			for _, b := range local {
				now[b.ID] = true
				everSeen[i][b.ID] = b
				if !shipped[b.ID] {
					unshipped[i]++
				}
			}
			for id, b := range everSeen[i] {
				if !now[id] && !shipped[id] && !b.gone {
					t.Errorf("%s: %s deleted block %s [%s, %s) before its upload was confirmed", when, ingIDs[i], id, fmtMs(b.MinTime), fmtMs(b.MaxTime))
				}
				if !now[id] {
					b.gone = true
					everSeen[i][id] = b
				}
			}
		}
		return unshipped
	}
	var (
		oldFails    = map[string]int{}
		oldSlowest  time.Duration
		recentOK    int
		recentFails = map[string]int{}
		checks      int
		unshipped   []int
	)
	for time.Since(outageStart) < outage {
		checks++
		// A query that needs the bucket: a clear, retryable error.
		st := time.Now()
		err := checkRounds(ctx, qr.Client(tenant), n, 0, oldRounds)
		took := time.Since(st)
		oldSlowest = max(oldSlowest, took)
		var ae *apiError
		switch {
		case err == nil:
			oldFails["200 with every sample, from where?"]++
		case !errors.As(err, &ae):
			oldFails[failureReason(err)]++
		case ae.StatusCode/100 != 5 || ae.Status != "error" || ae.ErrorType == "" || ae.Message == "":
			oldFails[fmt.Sprintf("HTTP %d, not a 5xx in Prometheus' error format: %.200s", ae.StatusCode, ae.Body)]++
		case took > queryBound:
			oldFails[fmt.Sprintf("the 5xx took %s (more than %s)", took.Round(time.Second), queryBound)]++
		default:
			oldFails[""]++ // as wanted
		}
		if checks == 1 && err != nil {
			logf("a bucket-only query during the outage answers: %v", err)
		}
		// A query of the last 30s: the ingesters alone answer it.
		if err := p.checkRecent(ctx, qr.Client(tenant), 30*time.Second); err != nil {
			recentFails[failureReason(err)]++
		} else {
			recentOK++
		}
		unshipped = lookLocal("during the outage")
		time.Sleep(3 * time.Second)
	}
	logf("outage over after %s: %d checks; bucket-only queries: %v (slowest %s); recent queries: %d exact, failures %v; unshipped local blocks by ingester: %v",
		time.Since(outageStart).Round(time.Second), checks, oldFails, oldSlowest.Round(time.Millisecond), recentOK, recentFails, unshipped)
	for what, k := range oldFails {
		if what != "" {
			t.Errorf("during the outage, %d of %d bucket-only queries: %s", k, checks, what)
		}
	}
	for what, k := range recentFails {
		t.Errorf("during the outage, %d of %d queries of the last 30s (ingesters only) failed: %s", k, checks, what)
	}
	if outage >= 2*blockRange {
		for i, k := range unshipped {
			if k < int(outage/blockRange)-1 {
				t.Errorf("%s holds %d unshipped blocks at the end of a %s outage, want at least %d (one block cut per %s)", ingIDs[i], k, outage, int(outage/blockRange)-1, blockRange)
			}
		}
	}
	for i, w := range ings {
		f, _ := metricValue(ctx, w, `weft_ingester_block_ship_failures_total{tenant="`+tenant+`"}`)
		if outage >= 2*blockRange && f <= failuresBefore[i] {
			t.Errorf("%s: weft_ingester_block_ship_failures_total did not go up during the outage (%v)", ingIDs[i], f)
		}
	}
	if fails := p.failures(); len(fails) > 0 {
		t.Errorf("pushes failed: %v", fails)
	}
	var unshippedGauge []float64
	for _, w := range ings {
		v, _ := metricValue(ctx, w, `weft_ingester_unshipped_blocks{tenant="`+tenant+`"}`)
		unshippedGauge = append(unshippedGauge, v)
	}
	if outage >= 2*blockRange && slices.Contains(unshippedGauge, 0) {
		t.Errorf("weft_ingester_unshipped_blocks by ingester at the end of the outage: %v, want them all above 0", unshippedGauge)
	}
	compFailed, _ := metricValue(ctx, comp, "weft_compactor_runs_failed_total")
	if compFailed <= compFailedBefore {
		t.Errorf("weft_compactor_runs_failed_total did not go up during the outage (%v): did the compactor run?", compFailed)
	}
	logf("at the end of the outage: weft_ingester_unshipped_blocks %v; weft_compactor_runs_failed_total %v -> %v", unshippedGauge, compFailedBefore, compFailed)

	// The server comes back on the same data.
	p.phase.set("after the outage")
	srv.Restart(t)
	back := time.Now()
	logf("S3 server restarted")
	eventually(t, recoverBound, time.Second, "bucket-only queries recover by themselves", func() error {
		cctx, cancel := context.WithTimeout(ctx, queryBound)
		defer cancel()
		return checkRounds(cctx, qr.Client(tenant), n, 0, oldRounds)
	})
	logf("bucket-only queries answer exactly again %s after the restart", time.Since(back).Round(100*time.Millisecond))

	// The ingesters ship every block they held in the outage, and then
	// drop it (the blocks cut since come and go as usual: looked at too,
	// but not waited for).
	held := make([]map[string]bool, len(ings))
	for i := range ings {
		held[i] = map[string]bool{}
		for id, b := range everSeen[i] {
			if !b.gone {
				held[i][id] = true
			}
		}
	}
	eventually(t, 2*time.Minute, time.Second, "every block the ingesters held shipped and dropped", func() error {
		lookLocal("after the outage")
		for i := range ings {
			for id := range held[i] {
				if b := everSeen[i][id]; !b.gone {
					return fmt.Errorf("%s still holds block %s [%s, %s)", ingIDs[i], id, fmtMs(b.MinTime), fmtMs(b.MaxTime))
				}
			}
		}
		return nil
	})
	logf("every block the ingesters held in the outage is shipped and dropped (%s after the restart)", time.Since(back).Round(100*time.Millisecond))
	eventually(t, 30*time.Second, time.Second, "a compactor run succeeds after the outage", func() error {
		last, err := metricValue(ctx, comp, "weft_compactor_last_successful_run_timestamp_seconds")
		if err == nil && last < float64(back.Unix()) {
			err = fmt.Errorf("last successful run at %s", time.Unix(int64(last), 0).UTC().Format(time.RFC3339))
		}
		return err
	})

	close(stopPush)
	<-pushDone
	if fails := p.failures(); len(fails) > 0 {
		t.Errorf("pushes failed: %v", fails)
	}
	acked, next := p.snapshot()
	logf("pushes stopped: %d rounds acknowledged of %d", len(acked), next)

	// Every acknowledged sample once.
	eventually(t, 60*time.Second, time.Second, "every acknowledged sample reads back once", func() error {
		res := n.verify(ctx, qr.Client(tenant), acked, next)
		if len(res.errs) > 0 || res.found != res.acked {
			return fmt.Errorf("%d samples acknowledged, %d returned: %s", res.acked, res.found, strings.Join(res.errs, "; "))
		}
		return nil
	})
	logf("every acknowledged sample (%d) reads back exactly once", len(acked)*n.nSeries)

	// Every block whole, every ingester's block in the bucket (as such or
	// as a source of a compacted block), and the bucket index agreeing
	// with the listing once the compactor refreshed it.
	eventually(t, 60*time.Second, time.Second, "the bucket whole and indexed", func() error {
		return checkBucket(bucketDir, tenant, everSeen)
	})
	created, _ := metricValue(ctx, comp, "weft_compactor_blocks_created_total")
	logf("every block in the bucket is whole and the bucket index agrees with the listing (the compactor created %v blocks)", created)
	for _, w := range []*weftProcess{sg, comp, qr, dist} {
		if why, ok := crashReason(w); ok {
			t.Errorf("%s crashed: %s", w.name, why)
		}
	}
	for i, w := range ings {
		if why, ok := crashReason(w); ok {
			t.Errorf("%s crashed: %s", ingIDs[i], why)
		}
	}
	logf("done in %s", time.Since(began).Round(time.Second))
}

// outagePusher pushes the rounds of n as their time comes (one every
// step), and keeps which were acknowledged and why others failed, by
// phase.
type outagePusher struct {
	n     numbered
	c     *apiClient
	phase phaseLog

	mu    sync.Mutex
	next  int            // guarded by mu: the next round to push
	acked []int          // guarded by mu
	fails map[string]int // guarded by mu: by phase and reason
}

func (p *outagePusher) run(ctx context.Context, stop <-chan struct{}) {
	for {
		p.mu.Lock()
		r := p.next
		p.mu.Unlock()
		if d := time.Until(time.UnixMilli(p.n.ts(r))); d > 0 {
			select {
			case <-stop:
				return
			case <-time.After(d):
			}
		}
		select {
		case <-stop:
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := p.c.Push(pctx, p.n.request(r))
		cancel()
		p.mu.Lock()
		p.next = r + 1
		if err == nil {
			p.acked = append(p.acked, r)
		} else {
			if p.fails == nil {
				p.fails = map[string]int{}
			}
			p.fails[p.phase.current()+": "+failureReason(err)]++
		}
		p.mu.Unlock()
	}
}

func (p *outagePusher) snapshot() (acked []int, next int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.acked...), p.next
}

func (p *outagePusher) failures() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.fails {
		out[k] = v
	}
	return out
}

// checkRecent reads the acknowledged rounds of the last d back exactly.
func (p *outagePusher) checkRecent(ctx context.Context, c *apiClient, d time.Duration) error {
	acked, _ := p.snapshot()
	if len(acked) == 0 {
		return nil
	}
	last := acked[len(acked)-1]
	first := max(0, last-int(d.Milliseconds()/p.n.step))
	ackedSet := map[int]bool{}
	for _, r := range acked {
		ackedSet[r] = true
	}
	got, err := c.RawSamples(ctx, p.n.metric, p.n.ts(first), p.n.ts(last))
	if err != nil {
		return err
	}
	return compareRounds(p.n, got, first, last+1, ackedSet)
}

// checkRounds reads rounds [from, to) of n back, all acknowledged, and
// checks them exactly.
func checkRounds(ctx context.Context, c *apiClient, n numbered, from, to int) error {
	got, err := c.RawSamples(ctx, n.metric, n.ts(from), n.ts(to-1))
	if err != nil {
		return err
	}
	return compareRounds(n, got, from, to, nil)
}

// compareRounds checks that got holds, for each series of n, exactly the
// rounds of [from, to) that are in acked (every one when acked is nil),
// with their values; a round not in acked may be there or not.
func compareRounds(n numbered, got map[string]map[int64]float64, from, to int, acked map[int]bool) error {
	var errs []string
	if len(got) != n.nSeries {
		errs = append(errs, fmt.Sprintf("%d series, want %d", len(got), n.nSeries))
	}
	for i := 0; i < n.nSeries; i++ {
		key := fmt.Sprintf(`%s{job="distributed", series="%d"}`, n.metric, i)
		pts, ok := got[key]
		if !ok {
			continue // counted above
		}
		var missing []int
		for r := from; r < to; r++ {
			v, ok := pts[n.ts(r)]
			switch {
			case !ok && (acked == nil || acked[r]):
				missing = append(missing, r)
			case ok && v != n.value(i, r):
				errs = append(errs, fmt.Sprintf("series %d round %d: %v, want %v", i, r, v, n.value(i, r)))
			}
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Sprintf("series %d misses rounds %s", i, roundRanges(missing)))
		}
		if len(pts) > to-from {
			errs = append(errs, fmt.Sprintf("series %d has %d samples in %d rounds", i, len(pts), to-from))
		}
		if len(errs) > 5 {
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("rounds %d-%d: %s", from, to-1, strings.Join(errs, "; "))
	}
	return nil
}

// localBlock is a block in an ingester's TSDB directory.
type localBlock struct {
	ID               string
	MinTime, MaxTime int64
	gone             bool // no longer on disk (set by the test)
}

// localBlocks lists the blocks (directories with a meta.json) of tenant's
// TSDB on the ingester w.
func localBlocks(w *weftProcess, tenant string) ([]localBlock, error) {
	dir := filepath.Join(w.DataDir, "ingester", "tsdb", tenant)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []localBlock
	for _, e := range entries {
		if _, err := ulid.ParseStrict(e.Name()); err != nil || !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "meta.json"))
		if err != nil {
			continue // being written or deleted
		}
		var m blockMetaJSON
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("meta.json of local block %s: %w", e.Name(), err)
		}
		out = append(out, localBlock{ID: e.Name(), MinTime: m.MinTime, MaxTime: m.MaxTime})
	}
	return out, nil
}

// shippedList reads the blocks whose upload the ingester w recorded as
// confirmed (weft-shipped.json in the tenant's TSDB directory).
func shippedList(w *weftProcess, tenant string) (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(w.DataDir, "ingester", "tsdb", tenant, "weft-shipped.json"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	var doc struct {
		Uploaded []string `json:"uploaded"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("weft-shipped.json of %s: %w", w.name, err)
	}
	out := map[string]bool{}
	for _, id := range doc.Uploaded {
		out[id] = true
	}
	return out, nil
}

// checkBucket checks the tenant's prefix in the bucket directory (the
// posix backend's files): every block directory is a whole block (meta.json,
// index and chunks that open as a TSDB block and hold the samples meta.json
// counts), or one being deleted (a deletion mark); the bucket index lists
// exactly the whole blocks, with the marks; and every block an ingester
// held (everSeen) is in the bucket, or a source of a block there.
func checkBucket(bucketDir, tenant string, everSeen []map[string]localBlock) error {
	st, err := readTenantBlocks(bucketDir, tenant)
	if err != nil {
		return err
	}
	if st.unindexed > 0 {
		return fmt.Errorf("%d blocks in the bucket are not in the bucket index", st.unindexed)
	}
	marked := map[string]bool{}
	for _, b := range st.marked {
		marked[b.ID] = true
	}
	live := map[string]bool{}
	for _, b := range st.live {
		live[b.ID] = true
	}
	entries, err := os.ReadDir(filepath.Join(bucketDir, tenant))
	if err != nil {
		return err
	}
	sources := map[string]bool{}
	var problems []string
	for _, e := range entries {
		if _, err := ulid.ParseStrict(e.Name()); err != nil || !e.IsDir() {
			continue
		}
		dir := filepath.Join(bucketDir, tenant, e.Name())
		if fileExists(filepath.Join(dir, "deletion-mark.json")) {
			continue // being deleted: whole or not, no reader uses it
		}
		if !live[e.Name()] && !marked[e.Name()] {
			problems = append(problems, fmt.Sprintf("block %s is in the bucket but not in its index", e.Name()))
		}
		if err := checkWholeBlock(dir); err != nil {
			problems = append(problems, fmt.Sprintf("block %s: %v", e.Name(), err))
			continue
		}
		var m struct {
			Compaction struct {
				Sources []string `json:"sources"`
			} `json:"compaction"`
		}
		if b, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil && json.Unmarshal(b, &m) == nil {
			for _, s := range m.Compaction.Sources {
				sources[s] = true
			}
		}
	}
	for id := range live {
		if !fileExists(filepath.Join(bucketDir, tenant, id, "meta.json")) {
			problems = append(problems, fmt.Sprintf("the bucket index lists block %s, which is not in the bucket", id))
		}
	}
	for _, seen := range everSeen {
		for id := range seen {
			if !sources[id] {
				problems = append(problems, fmt.Sprintf("block %s of an ingester is in no block of the bucket", id))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// checkWholeBlock opens the block in dir as the TSDB does and reads every
// chunk of every series: it must hold the number of samples its meta.json
// says.
func checkWholeBlock(dir string) (err error) {
	for _, f := range []string{"meta.json", "index", filepath.Join("chunks", "000001")} {
		if !fileExists(filepath.Join(dir, f)) {
			return fmt.Errorf("no %s", f)
		}
	}
	b, err := tsdb.OpenBlock(nil, dir, nil, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.Close()) }()
	q, err := tsdb.NewBlockChunkQuerier(b, b.MinTime(), b.MaxTime())
	if err != nil {
		return err
	}
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+"))
	var samples uint64
	var it chunkenc.Iterator
	for ss.Next() {
		cit := ss.At().Iterator(nil)
		for cit.Next() {
			it = cit.At().Chunk.Iterator(it)
			for it.Next() != chunkenc.ValNone {
				samples++
			}
			if it.Err() != nil {
				return it.Err()
			}
		}
		if cit.Err() != nil {
			return cit.Err()
		}
	}
	if ss.Err() != nil {
		return ss.Err()
	}
	if want := b.Meta().Stats.NumSamples; samples != want {
		return fmt.Errorf("%d samples read, meta.json says %d", samples, want)
	}
	return nil
}
