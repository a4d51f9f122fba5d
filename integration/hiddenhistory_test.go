package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// History never hides: an all-in-one that shipped its whole head on
// shutdown (-ingester.flush-on-shutdown) and lost its data directory must
// still answer for the last hours from the bucket, although they are newer
// than -querier.query-store-after: no live ingester holds those blocks any
// more. The same happens after an ingester scale-down or a lost disk.
func TestShippedHistoryIsReadableAtOnce(t *testing.T) {
	const (
		metric  = "hidden_history"
		nSeries = 10
		step    = time.Minute
		span    = 8 * time.Hour
		perPush = 30
		tenant  = "hist"
	)
	ctx := testContext(t, 3*time.Minute)
	w := startWeft(t, weftOptions{Args: []string{
		"-ingester.flush-on-shutdown=true",
		// The defaults, said out loud: the store is asked only for data
		// older than 12h, the ingesters for the last 13h.
		"-querier.query-store-after=12h",
		"-querier.query-ingesters-within=13h",
	}})
	nRounds := int(span / step)
	hd := historyData{metric: metric, nSeries: nSeries, base: time.Now().Add(-span).Truncate(time.Minute).UnixMilli(), step: step.Milliseconds(), rounds: nRounds}
	cl := w.Client(tenant)
	for r := 0; r < nRounds; r += perPush {
		if err := cl.Push(ctx, hd.request(0, r, min(r+perPush, nRounds))); err != nil {
			t.Fatalf("push of rounds %d-%d: %v", r, r+perPush-1, err)
		}
	}
	if diffs := hd.verify(ctx, cl, 0, 0); len(diffs) > 0 {
		t.Fatalf("before the restart the history differs: %v", diffs)
	}

	// Ship everything, lose the data directory, keep the bucket.
	w.Stop()
	if n := len(bucketBlocks(t, w.BucketDir, tenant)); n == 0 {
		t.Fatal("the shutdown flush shipped no block")
	}
	if err := os.RemoveAll(w.DataDir); err != nil {
		t.Fatal(err)
	}
	w.Restart()
	if fileExists(filepath.Join(w.DataDir, "ingester", "tsdb", tenant)) {
		t.Fatal("the fresh ingester should hold nothing of the tenant")
	}

	cl = w.Client(tenant)
	if diffs := hd.verify(ctx, cl, 0, 0); len(diffs) > 0 {
		t.Errorf("after the restart on an empty disk, samples hide (instant query of a range): %v", diffs)
	}
	if diffs := hd.verifyRange(ctx, cl, 0, 0); len(diffs) > 0 {
		t.Errorf("after the restart on an empty disk, samples hide (query_range): %v", diffs)
	}
}

// The same in the distributed build: an ingester that shipped its head on
// shutdown comes back on an empty disk, and the querier asks the
// store-gateway for the blocks that the ingester no longer holds (over
// gRPC: weft.Store/HeldBlocks).
func TestShippedHistoryIsReadableAtOnceDistributed(t *testing.T) {
	const (
		nSeries = 10
		step    = time.Minute
		span    = 8 * time.Hour
		perPush = 30
		tenant  = "hist"
	)
	ctx := testContext(t, 3*time.Minute)
	c, ing, dq := startHistoryCluster(t)

	nRounds := int(span / step)
	hd := historyData{metric: "hidden_history", nSeries: nSeries, base: time.Now().Add(-span).Truncate(time.Minute).UnixMilli(), step: step.Milliseconds(), rounds: nRounds}
	cl := dq.Client(tenant)
	for r := 0; r < nRounds; r += perPush {
		if err := cl.Push(ctx, hd.request(0, r, min(r+perPush, nRounds))); err != nil {
			t.Fatalf("push of rounds %d-%d: %v", r, r+perPush-1, err)
		}
	}

	ing.Stop()
	if n := len(bucketBlocks(t, c.bucket, tenant)); n == 0 {
		t.Fatal("the shutdown flush shipped no block")
	}
	if err := os.RemoveAll(ing.DataDir); err != nil {
		t.Fatal(err)
	}
	ing.Restart()
	waitRing(t, 30*time.Second, "the ingester ACTIVE again", allActive("ing-1"), dq)
	eventually(t, 30*time.Second, 500*time.Millisecond, "every sample reads back", func() error {
		if diffs := hd.verify(ctx, cl, 0, 0); len(diffs) > 0 {
			return fmt.Errorf("samples hide: %v", diffs)
		}
		if diffs := hd.verifyRange(ctx, cl, 0, 0); len(diffs) > 0 {
			return fmt.Errorf("samples hide (query_range): %v", diffs)
		}
		return nil
	})
}

// startHistoryCluster starts an ingester that flushes its head to the
// bucket on shutdown, a store-gateway, and a distributor with a querier in
// one process, all with one copy of each series and block, and waits until
// the ingester is ACTIVE.
func startHistoryCluster(t *testing.T) (c *cluster, ing, dq *weftProcess) {
	t.Helper()
	c = newCluster(t, 3,
		"-auth.multitenancy-enabled=true",
		"-distributor.replication-factor=1",
		"-store-gateway.sharding-replication-factor=1",
		"-store-gateway.sync-interval=1s",
		"-ingester.ring.heartbeat-period=2s",
	)
	ing = c.startIngester("ing-1", "-ingester.flush-on-shutdown=true")
	c.start("sg-1", "store-gateway", "-store-gateway.ring.instance-id=sg-1")
	dq = c.start("distributor-querier", "distributor,querier")
	waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), dq)
	return c, ing, dq
}
