package integration

import (
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
