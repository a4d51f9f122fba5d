package integration

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// TestHistoryFromTheBucket backfills days of history for several tenants
// through the push API into a replicated cluster, makes the ingesters ship
// it all, lets the compactor deduplicate the replicas and compact, wipes
// the ingesters, and checks that every sample is still read back exactly
// once from the bucket (store-gateway), per tenant. Then it sets a
// retention for one tenant and checks that exactly the blocks past it are
// marked and deleted, and that the others keep everything.
func TestHistoryFromTheBucket(t *testing.T) {
	const (
		metric  = "history_test"
		nSeries = 30
		step    = 5 * time.Minute
		span    = 72 * time.Hour
		perPush = 6 // timestamps per series in one push (30 minutes)
		// blockRange is -ingester.tsdb.block-ranges-period, in ms.
		blockRange = int64(2 * time.Hour / time.Millisecond)
	)
	tenants := []string{"hist-a", "hist-b", "hist-c"}
	began := time.Now()
	ctx := testContext(t, 5*time.Minute)
	phase := func(format string, args ...any) {
		t.Helper()
		t.Logf("[%6.1fs] "+format, append([]any{time.Since(began).Seconds()}, args...)...)
	}

	// The data: nSeries series per tenant, one sample every step over
	// span, ending a step or more before now. Values are distinct per
	// tenant, series and timestamp, and exact in float64.
	start := began.Add(-span).Truncate(2 * time.Hour)
	nRounds := int(span / step)
	hd := historyData{metric: metric, nSeries: nSeries, base: start.UnixMilli(), step: step.Milliseconds(), rounds: nRounds}
	perTenant := nSeries * nRounds
	phase("data: %d tenants x %d series x %d samples (every %s from %s to %s) = %d samples per tenant",
		len(tenants), nSeries, nRounds, step, time.UnixMilli(hd.ts(0)).UTC().Format(time.RFC3339),
		time.UnixMilli(hd.ts(nRounds-1)).UTC().Format(time.RFC3339), perTenant)

	// Per-tenant limits: accept old samples (out_of_order_time_window);
	// rewritten later to set a retention.
	root := t.TempDir()
	runtimeFile := filepath.Join(root, "runtime.yaml")
	writeRuntimeConfig(t, runtimeFile, tenants, nil)

	const (
		deletionDelay       = 10 * time.Second
		ignoreDeletionMarks = 2 * time.Second
		syncInterval        = 2 * time.Second
	)
	c := newCluster(t, 6,
		"-distributor.replication-factor=3",
		"-ingester.ring.heartbeat-period=2s",
		"-auth.multitenancy-enabled=true",
		"-runtime-config.file="+runtimeFile,
		"-runtime-config.reload-period=1s",
		"-store-gateway.sync-interval="+syncInterval.String(),
		"-store-gateway.ignore-deletion-marks-delay="+ignoreDeletionMarks.String(),
		// One store-gateway: it must own every block. With the default
		// sharding replication factor (3) a lone store-gateway owns none
		// (the ring lookup wants a quorum of 2), even when the querier
		// names it in -querier.store-gateway-addresses; see the report.
		"-store-gateway.sharding-replication-factor=1",
	)
	ids := []string{"ing-1", "ing-2", "ing-3"}
	ings := make([]*weftProcess, len(ids))
	for i, id := range ids {
		ings[i] = c.startIngester(id,
			"-ingester.flush-on-shutdown=true",
			"-ingester.tsdb.block-ranges-period=2h",
		)
	}
	dist := c.start("distributor", "distributor")
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), dist)
	phase("1 distributor + 3 ingesters up (RF=3), bucket %s", c.bucket)

	// Backfill, each tenant from its own goroutine, in timestamp order.
	pushStart := time.Now()
	var wg sync.WaitGroup
	pushErrs := make([]error, len(tenants))
	for ti, tn := range tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := dist.Client(tn)
			for r := 0; r < nRounds; r += perPush {
				if err := cl.Push(ctx, hd.request(ti, r, min(r+perPush, nRounds))); err != nil {
					pushErrs[ti] = fmt.Errorf("tenant %s: push of rounds %d-%d: %w", tn, r, r+perPush-1, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(pushErrs...); err != nil {
		t.Fatalf("backfill failed: %v", err)
	}
	// An ingester that crashed during the backfill is a bug (reported);
	// it is restarted (WAL replay) so that the rest of the test still
	// runs on the quorum's copies.
	crashed := map[int]bool{}
	for i, w := range ings {
		if why, ok := crashReason(w); ok {
			crashed[i] = true
			reportCrash(t, ids[i]+" crashed during the backfill (RF=3 pushes of old samples, out_of_order_time_window=10d)", why)
			w.clear()
			w.Restart()
			phase("%s restarted after its crash", ids[i])
		}
	}
	// The distributor answers at a quorum of 2 and the third replica's
	// pushes go on behind it: a replica busy cutting blocks may still be
	// a few pushes behind when the backfill is answered.
	for _, tn := range tenants {
		for i, w := range ings {
			if crashed[i] {
				continue
			}
			eventually(t, 30*time.Second, 100*time.Millisecond, ids[i]+" has every sample of "+tn, func() error {
				n, err := ingesterAppended(ctx, w, tn)
				if err == nil && int(n) != perTenant {
					err = fmt.Errorf("%s appended %v samples of %s, want %d (RF=3: every ingester has every series)", ids[i], n, tn, perTenant)
				}
				return err
			})
		}
	}
	phase("backfilled %d samples per tenant (%d pushes) in %s; every ingester appended all of them",
		perTenant, len(tenants)*((nRounds+perPush-1)/perPush), time.Since(pushStart).Round(time.Millisecond))

	// Ship everything: SIGTERM with -ingester.flush-on-shutdown cuts the
	// rest of each head into a block and uploads every unshipped block.
	for i, w := range ings {
		if why, ok := crashReason(w); ok {
			crashed[i] = true
			reportCrash(t, ids[i]+" crashed after the backfill (its TSDB compacting the head)", why)
			w.clear()
			w.Restart()
			phase("%s restarted after its crash", ids[i])
		}
		st := time.Now()
		if err := w.StopErr(); err != nil {
			// The race can also strike the compaction that runs just
			// before the shutdown: restart (WAL replay) and stop again.
			if m := regexp.MustCompile(`(?m)^panic: .*$`).FindString(w.Log()); strings.HasPrefix(m, upstreamChunkMapperRace) {
				crashed[i] = true
				reportCrash(t, ids[i]+" crashed while stopping", m)
				w.Restart()
				w.Stop()
			} else {
				t.Fatalf("%s: %v", ids[i], err)
			}
		}
		phase("%s stopped (flushed and shipped) in %s", ids[i], time.Since(st).Round(time.Millisecond))
	}
	for i, w := range ings {
		blocks, samples := shippedFromLog(w.Log())
		var parts []string
		for _, tn := range tenants {
			parts = append(parts, fmt.Sprintf("%s: %d blocks, %d samples", tn, blocks[tn], samples[tn]))
			if samples[tn] != perTenant && !crashed[i] {
				t.Errorf("%s shipped %d samples of %s, want %d", ids[i], samples[tn], tn, perTenant)
			}
		}
		phase("%s shipped %s", ids[i], strings.Join(parts, "; "))
	}
	for _, tn := range tenants {
		got := bucketSamples(t, c.bucket, tn)
		switch {
		case len(crashed) == 0 && got != 3*perTenant:
			t.Fatalf("bucket holds %d samples of %s in level-1 blocks, want 3 x %d (one copy per replica)", got, tn, perTenant)
		case got < 2*perTenant:
			t.Fatalf("bucket holds %d samples of %s in level-1 blocks, want at least 2 x %d (a quorum's copies)", got, tn, perTenant)
		}
	}
	phase("bucket holds the replicas' copies of every tenant's samples")
	// Each block an ingester ships covers one block range (2h), aligned,
	// as the TSDB cuts them; the compactor can only fit such blocks into
	// its larger windows.
	for _, tn := range tenants {
		for _, m := range bucketBlocks(t, c.bucket, tn) {
			if w0 := alignDownMs(m.MinTime, blockRange); m.MaxTime > w0+blockRange {
				t.Errorf("ingester %s shipped block %s of %s covering [%s, %s) (%s, %d samples): it spans more than one aligned %s block range (see the report: flush-on-shutdown block range)",
					m.Weft.Ingester, m.ULID, tn, fmtMs(m.MinTime), fmtMs(m.MaxTime), time.Duration(m.MaxTime-m.MinTime)*time.Millisecond, m.Stats.NumSamples, time.Duration(blockRange)*time.Millisecond)
			}
		}
	}

	// Compactor and store-gateway in one process, then the querier.
	sgc := c.start("store-gateway-compactor", "store-gateway,compactor",
		"-compactor.block-ranges=2h,12h,24h",
		"-compactor.compaction-interval=3s",
		"-compactor.cleanup-interval=1s",
		"-compactor.consistency-delay=0s",
		"-compactor.deletion-delay="+deletionDelay.String(),
	)
	qr := c.start("querier", "querier",
		"-querier.store-gateway-addresses="+sgc.GRPCAddr,
		"-querier.query-store-after=0s",
	)
	phase("store-gateway+compactor and querier up")

	// Wait until the compactor is done: per tenant, the live (unmarked)
	// blocks do not overlap, hold each sample once, and every block
	// marked by the compaction is deleted; and it stayed so over two
	// more compactor runs.
	compStart := time.Now()
	var stableAt float64 = -1
	var lastLive map[string][]blockInfo
	eventually(t, 90*time.Second, 500*time.Millisecond, "compaction of every tenant", func() error {
		runs, err := metricValue(ctx, sgc, "weft_compactor_runs_total")
		if err != nil {
			return err
		}
		live := map[string][]blockInfo{}
		for _, tn := range tenants {
			st, err := readTenantBlocks(c.bucket, tn)
			if err != nil {
				return err
			}
			if len(st.marked) > 0 || st.unindexed > 0 {
				stableAt = -1
				return fmt.Errorf("%s: %d blocks marked for deletion, %d not in the bucket index yet", tn, len(st.marked), st.unindexed)
			}
			if err := checkCompacted(st.live, tn, perTenant); err != nil {
				stableAt = -1
				return err
			}
			live[tn] = st.live
		}
		if lastLive == nil || !sameBlocks(live, lastLive) {
			lastLive, stableAt = live, runs
			return errors.New("blocks changed since the last look")
		}
		if runs < stableAt+2 {
			return fmt.Errorf("waiting for two more compactor runs (%v so far)", runs)
		}
		return nil
	})
	for _, tn := range tenants {
		phase("compacted %s: %s", tn, describeBlocks(lastLive[tn]))
		phase("compacted %s by range: %s", tn, countByRange(lastLive[tn]))
	}
	marked, _ := metricValue(ctx, sgc, `weft_compactor_blocks_marked_for_deletion_total{reason="compaction"}`)
	created, _ := metricValue(ctx, sgc, "weft_compactor_blocks_created_total")
	deleted, _ := metricValue(ctx, sgc, "weft_compactor_blocks_deleted_total")
	phase("compaction done in %s: %v blocks created, %v marked by compaction, %v deleted",
		time.Since(compStart).Round(time.Millisecond), created, marked, deleted)

	// Wipe every ingester and restart them empty: from now on only the
	// bucket holds the data.
	for i, w := range ings {
		if err := os.RemoveAll(w.DataDir); err != nil {
			t.Fatal(err)
		}
		w.Restart()
		phase("%s wiped (%s) and restarted empty", ids[i], w.DataDir)
	}
	waitRing(t, 30*time.Second, "every ingester ACTIVE again", allActive(ids...), qr)
	for _, tn := range tenants {
		for i, w := range ings {
			if n, err := ingesterSeries(ctx, w, tn); err != nil || n != 0 {
				t.Fatalf("%s has %d series of %s after the wipe (err %v), want 0", ids[i], n, tn, err)
			}
		}
	}

	// Every sample, once, per tenant, from the bucket.
	qStart := time.Now()
	for ti, tn := range tenants {
		cl := qr.Client(tn)
		var errs []string
		eventually(t, 30*time.Second, time.Second, "tenant "+tn+" reads back every sample from the bucket", func() error {
			errs = hd.verify(ctx, cl, ti, 0)
			if len(errs) > 0 {
				return fmt.Errorf("%d problems, first: %s", len(errs), strings.Join(errs[:min(len(errs), 10)], "\n"))
			}
			return nil
		})
		if errs := hd.verifyRange(ctx, cl, ti, 0); len(errs) > 0 {
			t.Errorf("query_range of %s (step %s) does not return the samples pushed:\n%s", tn, step, strings.Join(errs, "\n"))
		}
	}
	phase("every tenant reads back its %d samples exactly, raw and with query_range, with every ingester empty (%s)",
		perTenant, time.Since(qStart).Round(time.Millisecond))

	// Retention for one tenant. The cutoff (now - retention) is put half
	// an hour after the block boundary nearest to 2 days ago, so that
	// which blocks are past it does not depend on when the compactor
	// runs.
	victim := tenants[0]
	before := lastLive[victim]
	now := time.Now()
	target := now.Add(-48 * time.Hour).UnixMilli()
	boundary := before[0].MaxTime
	for _, b := range before[:len(before)-1] {
		if abs64(b.MaxTime-target) < abs64(boundary-target) {
			boundary = b.MaxTime
		}
	}
	retention := now.Sub(time.UnixMilli(boundary).Add(30 * time.Minute)).Truncate(time.Minute)
	var wantMarked, wantKept []blockInfo
	for _, b := range before {
		if b.MaxTime <= boundary {
			wantMarked = append(wantMarked, b)
		} else {
			wantKept = append(wantKept, b)
		}
	}
	firstKept := wantKept[0].MinTime
	retRound := int((firstKept - hd.base + hd.step - 1) / hd.step)
	retBefore, _ := metricValue(ctx, sgc, `weft_compactor_blocks_marked_for_deletion_total{reason="retention"}`)
	delBefore, _ := metricValue(ctx, sgc, "weft_compactor_blocks_deleted_total")
	writeRuntimeConfig(t, runtimeFile, tenants, map[string]string{victim: model.Duration(retention).String()})
	phase("retention of %s set to %s (cutoff ~%s): expect %d of its %d blocks marked (%s), data kept from %s",
		victim, model.Duration(retention), now.Add(-retention).UTC().Format(time.RFC3339), len(wantMarked), len(before),
		describeBlocks(wantMarked), time.UnixMilli(firstKept).UTC().Format(time.RFC3339))

	retStart := time.Now()
	eventually(t, 30*time.Second, 200*time.Millisecond, "blocks past the retention of "+victim+" marked", func() error {
		st, err := readTenantBlocks(c.bucket, victim)
		if err != nil {
			return err
		}
		if len(st.marked) == 0 {
			return errors.New("no block marked yet")
		}
		return nil
	})
	// Marked: check which, and that no more are marked over a few runs.
	time.Sleep(3 * time.Second)
	st, err := readTenantBlocksRetry(c.bucket, victim)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := blockIDs(st.marked), blockIDs(wantMarked); got != want {
		t.Errorf("blocks of %s marked for deletion: %s\nwant exactly the blocks with maxTime <= %s: %s",
			victim, describeBlocks(st.marked), time.UnixMilli(boundary).UTC().Format(time.RFC3339), describeBlocks(wantMarked))
	}
	if got, want := blockIDs(st.live), blockIDs(wantKept); got != want {
		t.Errorf("blocks of %s not marked: %s, want %s", victim, describeBlocks(st.live), describeBlocks(wantKept))
	}
	if retNow, _ := metricValue(ctx, sgc, `weft_compactor_blocks_marked_for_deletion_total{reason="retention"}`); retNow-retBefore != float64(len(wantMarked)) {
		t.Errorf("weft_compactor_blocks_marked_for_deletion_total{reason=\"retention\"} went up by %v, want %d", retNow-retBefore, len(wantMarked))
	}
	phase("%s: %d blocks marked for retention in %s: %s", victim, len(st.marked), time.Since(retStart).Round(time.Millisecond), describeBlocks(st.marked))

	// Deleted after the deletion delay: gone from the index and the bucket.
	eventually(t, deletionDelay+30*time.Second, 500*time.Millisecond, "blocks past the retention of "+victim+" deleted", func() error {
		st, err := readTenantBlocks(c.bucket, victim)
		if err != nil {
			return err
		}
		if len(st.marked) > 0 {
			return fmt.Errorf("%d blocks still marked", len(st.marked))
		}
		for _, b := range wantMarked {
			if fileExists(filepath.Join(c.bucket, victim, b.ID)) {
				return fmt.Errorf("block %s is still in the bucket", b.ID)
			}
		}
		return nil
	})
	delNow, _ := metricValue(ctx, sgc, "weft_compactor_blocks_deleted_total")
	if delNow-delBefore != float64(len(wantMarked)) {
		t.Errorf("weft_compactor_blocks_deleted_total went up by %v, want %d", delNow-delBefore, len(wantMarked))
	}
	st, err = readTenantBlocksRetry(c.bucket, victim)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := blockIDs(st.live), blockIDs(wantKept); got != want {
		t.Errorf("blocks of %s after the deletion: %s, want %s", victim, describeBlocks(st.live), describeBlocks(wantKept))
	}
	phase("%s: the %d blocks were deleted %s after they were marked", victim, len(wantMarked), time.Since(retStart).Round(time.Millisecond))

	// The other tenants keep every block.
	for _, tn := range tenants[1:] {
		st, err := readTenantBlocksRetry(c.bucket, tn)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.marked) > 0 || blockIDs(st.live) != blockIDs(lastLive[tn]) {
			t.Errorf("tenant %s (no retention) has blocks %s, marked %s; want it to keep %s",
				tn, describeBlocks(st.live), describeBlocks(st.marked), describeBlocks(lastLive[tn]))
		}
	}

	// Queries: the victim has only the retained range, the others all.
	for ti, tn := range tenants {
		from := 0
		if tn == victim {
			from = retRound
		}
		cl := qr.Client(tn)
		var errs []string
		eventually(t, 30*time.Second, time.Second, "tenant "+tn+" reads back the retained samples", func() error {
			errs = hd.verify(ctx, cl, ti, from)
			if len(errs) > 0 {
				return fmt.Errorf("%d problems, first: %s", len(errs), strings.Join(errs[:min(len(errs), 10)], "\n"))
			}
			return nil
		})
		if errs := hd.verifyRange(ctx, cl, ti, from); len(errs) > 0 {
			t.Errorf("query_range of %s after retention does not return rounds %d-%d:\n%s", tn, from, nRounds-1, strings.Join(errs, "\n"))
		}
		phase("%s reads back rounds %d-%d (%d samples) exactly", tn, from, nRounds-1, nSeries*(nRounds-from))
	}

	if failed, _ := metricValue(ctx, sgc, "weft_compactor_runs_failed_total"); failed != 0 {
		t.Errorf("weft_compactor_runs_failed_total = %v, want 0", failed)
	}
	phase("done")
}

// historyData is the backfilled history: nSeries series of metric per
// tenant, one sample per series every step from base, rounds in all, with
// a value unique to (tenant, series, round).
type historyData struct {
	metric  string
	nSeries int
	base    int64 // ms
	step    int64 // ms
	rounds  int
}

func (h historyData) ts(round int) int64 { return h.base + int64(round)*h.step }

func (h historyData) value(tenant, series, round int) float64 {
	return float64(tenant+1)*1e7 + float64(series)*1e4 + float64(round)
}

// request holds rounds [from, to) of every series of tenant ti.
func (h historyData) request(ti, from, to int) *prompb.WriteRequest {
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, h.nSeries)}
	for i := range req.Timeseries {
		ts := prompb.TimeSeries{Labels: lbls(h.metric, "series", strconv.Itoa(i), "job", "history")}
		for r := from; r < to; r++ {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: h.ts(r), Value: h.value(ti, i, r)})
		}
		req.Timeseries[i] = ts
	}
	return req
}

// verify reads every sample of the metric back with one range vector
// selector over the whole history and returns the differences from rounds
// [from, rounds) of tenant ti: each series once, each sample once with
// its value, nothing else (a sample of another tenant has another value).
func (h historyData) verify(ctx context.Context, c *apiClient, ti, from int) []string {
	last := h.ts(h.rounds - 1)
	v, err := c.Query(ctx, fmt.Sprintf("%s[%dms]", h.metric, last-h.base+1), time.UnixMilli(last))
	if err != nil {
		return []string{fmt.Sprintf("query failed: %v", err)}
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return []string{fmt.Sprintf("query returned a %s, want a matrix", v.Type())}
	}
	return h.compare(m, ti, from)
}

// verifyRange does the same with query_range at the step of the samples.
func (h historyData) verifyRange(ctx context.Context, c *apiClient, ti, from int) []string {
	v, err := c.QueryRange(ctx, h.metric, time.UnixMilli(h.ts(0)), time.UnixMilli(h.ts(h.rounds-1)), time.Duration(h.step)*time.Millisecond)
	if err != nil {
		return []string{fmt.Sprintf("query_range failed: %v", err)}
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return []string{fmt.Sprintf("query_range returned a %s, want a matrix", v.Type())}
	}
	return h.compare(m, ti, from)
}

func (h historyData) compare(m model.Matrix, ti, from int) []string {
	var errs []string
	report := func(format string, args ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	seen := map[int]bool{}
	for _, s := range m {
		i, err := strconv.Atoi(string(s.Metric["series"]))
		if err != nil || i < 0 || i >= h.nSeries || len(s.Metric) != 3 || s.Metric["job"] != "history" {
			report("unexpected series %s", s.Metric)
			continue
		}
		if seen[i] {
			report("series %s returned twice", s.Metric)
			continue
		}
		seen[i] = true
		got := make([]int, h.rounds)
		var wrong, outside int
		for _, p := range s.Values {
			ts := int64(p.Timestamp)
			r := int((ts - h.base) / h.step)
			if (ts-h.base)%h.step != 0 || r < from || r >= h.rounds {
				outside++
				if outside <= 3 {
					report("series %d: unexpected sample %v at %s (round %d)", i, p.Value, time.UnixMilli(ts).UTC().Format(time.RFC3339), r)
				}
				continue
			}
			got[r]++
			if float64(p.Value) != h.value(ti, i, r) {
				wrong++
				if wrong <= 3 {
					report("series %d: round %d has value %v, want %v (tenant %d wrote %v)", i, r, p.Value, h.value(ti, i, r), ti, h.value(ti, i, r))
				}
			}
		}
		var missing, dup []int
		for r := from; r < h.rounds; r++ {
			switch {
			case got[r] == 0:
				missing = append(missing, r)
			case got[r] > 1:
				dup = append(dup, r)
			}
		}
		if len(missing) > 0 {
			report("series %d: %d samples missing, rounds %s", i, len(missing), roundRanges(missing))
		}
		if len(dup) > 0 {
			report("series %d: %d samples returned more than once, rounds %s", i, len(dup), roundRanges(dup))
		}
		if wrong > 0 || outside > 0 {
			report("series %d: %d samples with a wrong value, %d outside rounds %d-%d", i, wrong, outside, from, h.rounds-1)
		}
	}
	if from < h.rounds {
		for i := 0; i < h.nSeries; i++ {
			if !seen[i] {
				report("series %d is missing", i)
			}
		}
	}
	return errs
}

// writeRuntimeConfig writes the runtime file atomically: every tenant
// accepts samples up to 10 days old, and retention[tenant] sets its
// compactor_blocks_retention_period.
func writeRuntimeConfig(t *testing.T, path string, tenants []string, retention map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("overrides:\n")
	for _, tn := range tenants {
		fmt.Fprintf(&b, "  %s:\n    out_of_order_time_window: 10d\n", tn)
		if r, ok := retention[tn]; ok {
			fmt.Fprintf(&b, "    compactor_blocks_retention_period: %s\n", r)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var shippedLine = regexp.MustCompile(`msg="shipped block".*tenant=(\S+).*samples=(\d+)`)

// shippedFromLog counts the blocks and samples an ingester's log says it
// shipped, by tenant.
func shippedFromLog(log string) (blocks, samples map[string]int) {
	blocks, samples = map[string]int{}, map[string]int{}
	for _, m := range shippedLine.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[2])
		blocks[m[1]]++
		samples[m[1]] += n
	}
	return blocks, samples
}

// blockInfo is what the test reads of a block: its bucket index entry and
// its meta.json.
type blockInfo struct {
	ID      string
	MinTime int64
	MaxTime int64
	Level   int
	Samples int
	Tenant  string // of the "weft" section
	Source  string // of the "weft" section
}

type tenantBlocks struct {
	live      []blockInfo // in the bucket index, not marked; by MinTime
	marked    []blockInfo // in the bucket index, marked for deletion
	unindexed int         // complete blocks in the bucket not in the index
}

type bucketIndexJSON struct {
	Blocks []struct {
		ID      string `json:"block_id"`
		MinTime int64  `json:"min_time"`
		MaxTime int64  `json:"max_time"`
		Level   int    `json:"compaction_level"`
	} `json:"blocks"`
	Marks []struct {
		ID string `json:"id"`
	} `json:"block_deletion_marks"`
}

type blockMetaJSON struct {
	ULID    string `json:"ulid"`
	MinTime int64  `json:"minTime"`
	MaxTime int64  `json:"maxTime"`
	Stats   struct {
		NumSamples int `json:"numSamples"`
	} `json:"stats"`
	Compaction struct {
		Level int `json:"level"`
	} `json:"compaction"`
	Weft struct {
		Tenant   string `json:"tenant"`
		Ingester string `json:"ingester"`
		Source   string `json:"source"`
	} `json:"weft"`
}

func readBlockMeta(bucket, tenant, id string) (blockMetaJSON, error) {
	var m blockMetaJSON
	b, err := os.ReadFile(filepath.Join(bucket, tenant, id, "meta.json"))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("cannot parse meta.json of %s/%s: %w", tenant, id, err)
	}
	return m, nil
}

// readTenantBlocksRetry is readTenantBlocks, retried a few times: it
// reads the bucket index and the blocks' meta.json while the compactor
// replaces and deletes them, so a block listed may be gone when read.
func readTenantBlocksRetry(bucket, tenant string) (tenantBlocks, error) {
	var err error
	for i := 0; i < 20; i++ {
		var st tenantBlocks
		if st, err = readTenantBlocks(bucket, tenant); err == nil {
			return st, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return tenantBlocks{}, err
}

// readTenantBlocks reads the tenant's bucket index from the filesystem
// bucket, and the meta.json of every block it lists.
func readTenantBlocks(bucket, tenant string) (tenantBlocks, error) {
	var st tenantBlocks
	f, err := os.Open(filepath.Join(bucket, tenant, "bucket-index.json.gz"))
	if err != nil {
		return st, fmt.Errorf("no bucket index of %s: %w", tenant, err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return st, fmt.Errorf("bucket index of %s: %w", tenant, err)
	}
	var idx bucketIndexJSON
	if err := json.NewDecoder(gz).Decode(&idx); err != nil {
		return st, fmt.Errorf("bucket index of %s: %w", tenant, err)
	}
	marked := map[string]bool{}
	for _, m := range idx.Marks {
		marked[m.ID] = true
	}
	indexed := map[string]bool{}
	for _, b := range idx.Blocks {
		indexed[b.ID] = true
		bi := blockInfo{ID: b.ID, MinTime: b.MinTime, MaxTime: b.MaxTime, Level: b.Level}
		if m, err := readBlockMeta(bucket, tenant, b.ID); err == nil {
			bi.Samples, bi.Tenant, bi.Source = m.Stats.NumSamples, m.Weft.Tenant, m.Weft.Source
			if m.MinTime != b.MinTime || m.MaxTime != b.MaxTime || m.Compaction.Level != b.Level {
				return st, fmt.Errorf("bucket index of %s says block %s is [%d,%d) level %d, its meta.json [%d,%d) level %d",
					tenant, b.ID, b.MinTime, b.MaxTime, b.Level, m.MinTime, m.MaxTime, m.Compaction.Level)
			}
		} else if !marked[b.ID] {
			return st, fmt.Errorf("block %s of %s is in the bucket index, not marked, but its meta.json cannot be read: %v", b.ID, tenant, err)
		}
		if marked[b.ID] {
			st.marked = append(st.marked, bi)
		} else {
			st.live = append(st.live, bi)
		}
	}
	entries, err := os.ReadDir(filepath.Join(bucket, tenant))
	if err != nil {
		return st, err
	}
	for _, e := range entries {
		if e.IsDir() && !indexed[e.Name()] && fileExists(filepath.Join(bucket, tenant, e.Name(), "meta.json")) {
			st.unindexed++
		}
	}
	sort.Slice(st.live, func(i, j int) bool { return st.live[i].MinTime < st.live[j].MinTime })
	sort.Slice(st.marked, func(i, j int) bool { return st.marked[i].MinTime < st.marked[j].MinTime })
	return st, nil
}

// upstreamChunkMapperRace is the panic of a race in Prometheus' head chunk
// mapper (tsdb/chunks, v0.316, the newest served): when it truncates while
// it has no file of its own yet (a TSDB fresh or just reopened), a chunk
// written between its listing of the files and its reset of the file
// sequence makes the next cut find a file it did not expect, and the
// TSDB's compaction goroutine panics. weft cannot reach that lock order
// from outside; this test's backfill of 3 days into fresh TSDBs, which
// compact while the pushes go on, hits it about once in 15 runs.
const upstreamChunkMapperRace = "panic: expected newly cut file to have sequence:offset"

// reportCrash fails the test for a crash, except for the known upstream
// race above, which it logs: the test goes on to check that the crash lost
// nothing (the restarted ingester replays its WAL, RF=3 keeps a quorum).
func reportCrash(t *testing.T, what, why string) {
	t.Helper()
	if strings.HasPrefix(why, upstreamChunkMapperRace) {
		t.Logf("KNOWN UPSTREAM BUG, not failing the test: %s: %s", what, why)
		return
	}
	t.Errorf("%s: %s", what, why)
}

// crashReason tells whether w exited on its own, and why (the panic or
// fatal line of its log, or its last lines).
func crashReason(w *weftProcess) (string, bool) {
	cmd, exited := w.running()
	if cmd == nil {
		return "", false
	}
	select {
	case <-exited:
	default:
		return "", false
	}
	log := w.Log()
	if m := regexp.MustCompile(`(?m)^(panic|fatal error): .*$`).FindString(log); m != "" {
		return fmt.Sprintf("%s (%s)", m, cmd.ProcessState), true
	}
	return fmt.Sprintf("%s: %s", cmd.ProcessState, tail(w.LogPath, 1000)), true
}

// bucketBlocks returns the meta.json of every complete block of tenant in
// the bucket.
func bucketBlocks(t *testing.T, bucket, tenant string) []blockMetaJSON {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(bucket, tenant))
	if err != nil {
		t.Fatalf("cannot list the blocks of %s: %v", tenant, err)
	}
	var out []blockMetaJSON
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		m, err := readBlockMeta(bucket, tenant, e.Name())
		if err != nil {
			t.Fatalf("block %s of %s: %v", e.Name(), tenant, err)
		}
		out = append(out, m)
	}
	return out
}

func alignDownMs(t, r int64) int64 {
	if t >= 0 {
		return r * (t / r)
	}
	return r * ((t - r + 1) / r)
}

func fmtMs(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

// countByRange renders how many blocks of each length there are.
func countByRange(bs []blockInfo) string {
	n := map[time.Duration]int{}
	var lens []time.Duration
	for _, b := range bs {
		d := time.Duration(b.MaxTime-b.MinTime) * time.Millisecond
		if n[d] == 0 {
			lens = append(lens, d)
		}
		n[d]++
	}
	sort.Slice(lens, func(i, j int) bool { return lens[i] > lens[j] })
	var parts []string
	for _, d := range lens {
		parts = append(parts, fmt.Sprintf("%d x %s", n[d], d))
	}
	return strings.Join(parts, ", ")
}

// bucketSamples sums numSamples of the meta.json of every complete block
// of tenant in the bucket (whatever the index says), checking that each
// says it belongs to tenant.
func bucketSamples(t *testing.T, bucket, tenant string) int {
	t.Helper()
	n := 0
	for _, m := range bucketBlocks(t, bucket, tenant) {
		if m.Weft.Tenant != tenant {
			t.Errorf("block %s under %s/ says it belongs to tenant %q", m.ULID, tenant, m.Weft.Tenant)
		}
		n += m.Stats.NumSamples
	}
	return n
}

// checkCompacted holds when the live blocks of a tenant are compactor
// output of the tenant, do not overlap, and hold want samples in all.
func checkCompacted(live []blockInfo, tenant string, want int) error {
	if len(live) == 0 {
		return fmt.Errorf("%s has no block", tenant)
	}
	n := 0
	for i, b := range live {
		n += b.Samples
		if b.Tenant != tenant {
			return fmt.Errorf("block %s of %s says it belongs to tenant %q", b.ID, tenant, b.Tenant)
		}
		if b.Source != "compactor" || b.Level < 2 {
			return fmt.Errorf("%s: block %s is level %d from %q, not compacted yet", tenant, b.ID, b.Level, b.Source)
		}
		if i > 0 && b.MinTime < live[i-1].MaxTime {
			return fmt.Errorf("%s: blocks %s and %s overlap (not deduplicated yet)", tenant, live[i-1].ID, b.ID)
		}
	}
	if n != want {
		return fmt.Errorf("%s: live blocks hold %d samples, want %d (one copy)", tenant, n, want)
	}
	return nil
}

func sameBlocks(a, b map[string][]blockInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if blockIDs(v) != blockIDs(b[k]) {
			return false
		}
	}
	return true
}

func blockIDs(bs []blockInfo) string {
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// describeBlocks renders blocks as "[start, end) len Lx n samples".
func describeBlocks(bs []blockInfo) string {
	if len(bs) == 0 {
		return "none"
	}
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("[%s, %s) %s L%d %d samples",
			time.UnixMilli(b.MinTime).UTC().Format("01-02T15:04"), time.UnixMilli(b.MaxTime).UTC().Format("01-02T15:04"),
			time.Duration(b.MaxTime-b.MinTime)*time.Millisecond, b.Level, b.Samples)
	}
	return fmt.Sprintf("%d blocks: %s", len(bs), strings.Join(parts, "; "))
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
