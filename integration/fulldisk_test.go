package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it when the test ends. The test needs root (CI runs as root):
// without it the test fails, it does not skip.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("cannot mount a tmpfs of %d bytes on %s: %v: %s (the full-disk test needs root, as CI runs it)", size, dir, err, strings.TrimSpace(string(out)))
	}
	// Registered after TempDir's own cleanup, so it runs before it.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("cannot unmount the tmpfs on %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes path until the file system is full, and returns how
// much it wrote.
func fillDisk(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("cannot create the filler file: %v", err)
	}
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("cannot write the filler file: %v", err)
		}
	}
}

// fullDiskPusher pushes one round of a numbered set of series every
// interval, plus one series that is new in each round (so that some
// pushes create series while the disk is full), and keeps the ack
// accounting: which rounds were answered 2xx, and how the others failed.
type fullDiskPusher struct {
	c     *apiClient // pushes
	q     *apiClient // reads; c when nil
	n     numbered
	fresh string // metric of the series new in each round

	// gate is held by each push and taken by a check, so that the check
	// sees no push in flight.
	gate sync.Mutex
	mu   sync.Mutex
	next int // guarded by mu
	// acked rounds, and the failures by status and message; guarded by mu.
	acked    []int
	failures map[string]int
	statuses map[int]int
	diskFull int // refusals with err-weft-disk-full, in Prometheus' error JSON
}

func (p *fullDiskPusher) request(round int) *prompb.WriteRequest {
	req := p.n.request(round)
	req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
		Labels:  lbls(p.fresh, "round", strconv.Itoa(round), "job", "fulldisk"),
		Samples: []prompb.Sample{{Timestamp: p.n.ts(round), Value: float64(round)}},
	})
	return req
}

// run pushes rounds until stop is closed or maxRounds were pushed.
func (p *fullDiskPusher) run(ctx context.Context, stop <-chan struct{}, interval time.Duration, maxRounds int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		p.gate.Lock()
		p.mu.Lock()
		r := p.next
		p.mu.Unlock()
		if r >= maxRounds {
			p.gate.Unlock()
			return
		}
		_ = p.push(ctx, r) // recorded
		p.gate.Unlock()
	}
}

// push pushes round r and records the answer; it returns the error.
func (p *fullDiskPusher) push(ctx context.Context, r int) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := p.c.Push(pctx, p.request(r))
	cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = r + 1
	if err == nil {
		p.acked = append(p.acked, r)
		return nil
	}
	var ae *apiError
	status := 0
	if errors.As(err, &ae) {
		status = ae.StatusCode
		if ae.Status == "error" && ae.ErrorType == "unavailable" && strings.Contains(ae.Message, "err-weft-disk-full") {
			p.diskFull++
		}
	}
	p.statuses[status]++
	p.failures[failureReason(err)]++
	return err
}

// snapshot returns the acked rounds and the next round to push.
func (p *fullDiskPusher) snapshot() ([]int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.acked...), p.next
}

// verify checks, with no push in flight, that every acknowledged sample
// reads back, the new series of each acknowledged round too.
func (p *fullDiskPusher) verify(ctx context.Context, t *testing.T, when string) {
	t.Helper()
	p.gate.Lock()
	defer p.gate.Unlock()
	acked, next := p.snapshot()
	q := p.q
	if q == nil {
		q = p.c
	}
	res := p.n.verify(ctx, q, acked, next)
	errs := res.errs
	if next > 0 {
		last := p.n.ts(next - 1)
		v, err := q.Query(ctx, fmt.Sprintf("%s[%dms]", p.fresh, last-p.n.base+1), time.UnixMilli(last))
		if err != nil {
			errs = append(errs, fmt.Sprintf("cannot read %s back: %v", p.fresh, err))
		} else {
			got := map[int]bool{}
			for _, s := range v.(model.Matrix) {
				r, err := strconv.Atoi(string(s.Metric["round"]))
				if err != nil || len(s.Values) != 1 || int64(s.Values[0].Timestamp) != p.n.ts(r) || float64(s.Values[0].Value) != float64(r) {
					errs = append(errs, fmt.Sprintf("unexpected %s series %s: %v", p.fresh, s.Metric, s.Values))
					continue
				}
				got[r] = true
			}
			var missing []int
			for _, r := range acked {
				if !got[r] {
					missing = append(missing, r)
				}
			}
			if len(missing) > 0 {
				errs = append(errs, fmt.Sprintf("%s: the new series of acknowledged rounds %s are missing", p.fresh, roundRanges(missing)))
			}
		}
	}
	t.Logf("%s: %d rounds acknowledged of %d pushed; %d samples acknowledged, %d found, %d more of unacknowledged rounds", when, len(acked), next, res.acked, res.found, res.extra)
	if len(errs) > 0 || res.found != res.acked {
		t.Fatalf("%s: acknowledged samples lost or changed:\n%s", when, strings.Join(errs, "\n"))
	}
}

// TestFullDisk runs an all-in-one weft whose -data.dir is a tmpfs of 8
// MiB, fills that file system while pushes go on, and frees it again:
// with -ingester.min-free-disk-bytes (the default behaviour: pushes are
// refused before the disk is full), and with that check off, so that the
// WAL itself meets ENOSPC half-way through its writes (also with
// -ingester.wal-sync-before-ack). Each time pushes answer 503
// err-weft-disk-full while the disk is full,
// counted in /metrics, also after a kill -9 and a restart on the full
// disk; the ingester takes pushes again by itself once space is freed;
// every acknowledged sample reads back then and after another kill -9,
// and that replay needs no repair. Two more cases cut a block on a full
// disk (testFullDiskHeadCompaction) and fill the disk of one ingester of
// three (testFullDiskDistributed).
//
// The samples stay in one head chunk per series (fewer than 120 rounds,
// in one 2h range): a head chunk that the TSDB must write to a new chunk
// file on a full disk panics the process, which no test can stop
// (docs/durability.md, "Full disk").
func TestFullDisk(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"refused-before-full", []string{"-ingester.min-free-disk-bytes", "1048576"}},
		{"wal-meets-enospc", []string{"-ingester.min-free-disk-bytes", "0"}},
		// Pushes wait for a group fsync, which a failed write must not
		// acknowledge either.
		{"wal-meets-enospc-synced", []string{"-ingester.min-free-disk-bytes", "0", "-ingester.wal-sync-before-ack"}},
	} {
		t.Run(tc.name, func(t *testing.T) { testFullDisk(t, tc.args) })
	}
	t.Run("head-compaction", testFullDiskHeadCompaction)
	t.Run("distributed", testFullDiskDistributed)
}

func testFullDisk(t *testing.T, args []string) {
	mnt := mountTmpfs(t, 8<<20)
	dataDir := filepath.Join(mnt, "data")
	w := startWeft(t, weftOptions{Args: append([]string{"-data.dir", dataDir}, args...)})
	checkOff := slices.Contains(args, "0")
	ctx := testContext(t, 2*time.Minute)
	const tenant = "fulldisk"
	// All rounds in one 2h range of the head, so that no head chunk is
	// cut; the last ones may be up to 2 minutes ahead of the clock, well
	// within the distributor's grace for samples in the future.
	base := time.Now().Truncate(2 * time.Hour).Add(time.Second).UnixMilli()
	p := &fullDiskPusher{
		c:        w.Client(tenant),
		n:        numbered{metric: "fulldisk_samples", nSeries: 5000, base: base, step: 1000},
		fresh:    "fulldisk_fresh",
		failures: map[string]int{},
		statuses: map[int]int{},
	}
	const maxRounds = 110
	bg := startBackground(t)
	bg.Go(func(stop <-chan struct{}) { p.run(ctx, stop, 100*time.Millisecond, maxRounds) })
	stopPusher := bg.Stop
	metric := func(series string) float64 {
		t.Helper()
		v, err := metricValue(ctx, w, series)
		if err != nil {
			t.Fatalf("cannot read %s: %v", series, err)
		}
		return v
	}
	ackedSince := func(round int) int {
		acked, _ := p.snapshot()
		n := 0
		for _, r := range acked {
			if r >= round {
				n++
			}
		}
		return n
	}

	// Warm up: the tenant's TSDB is open and its WAL written.
	eventually(t, 20*time.Second, 20*time.Millisecond, "pushes acknowledged before the disk fills", func() error {
		if n := ackedSince(0); n < 10 {
			return fmt.Errorf("%d rounds acknowledged", n)
		}
		return nil
	})

	// Fill the disk while the pushes go on.
	filler := filepath.Join(mnt, "filler")
	wrote := fillDisk(t, filler)
	_, fullFrom := p.snapshot()
	t.Logf("filled the tmpfs with %d bytes; pushes from round %d on", wrote, fullFrom)
	eventually(t, 20*time.Second, 50*time.Millisecond, "pushes refused for a full disk", func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if n := p.diskFull; n < 5 {
			return fmt.Errorf("%d pushes refused with err-weft-disk-full; failures so far: %v", n, p.failures)
		}
		return nil
	})
	if v := metric(`weft_ingester_disk_full`); v != 1 {
		t.Errorf("weft_ingester_disk_full is %v while the disk is full, want 1", v)
	}
	if v := metric(`weft_ingester_refused_pushes_total{reason="disk_full"}`); v < 1 {
		t.Errorf(`weft_ingester_refused_pushes_total{reason="disk_full"} is %v, want > 0`, v)
	}
	if v := metric(`weft_ingester_discarded_samples_total{reason="disk_full",tenant="` + tenant + `"}`); v < 1 {
		t.Errorf(`weft_ingester_discarded_samples_total{reason="disk_full"} is %v, want > 0`, v)
	}
	if strings.Contains(w.Log(), "panic") {
		t.Fatalf("weft panicked on a full disk:\n%s", tail(w.LogPath, 4000))
	}

	// A restart on the full disk: weft starts, and still refuses pushes.
	// (With the check off, the WAL was torn by the full disk and its
	// replay cannot write its repair: the tenant opens once space returns.)
	p.gate.Lock()
	w.Kill()
	w.Restart()
	p.gate.Unlock()
	_, restartedAt := p.snapshot()
	eventually(t, 20*time.Second, 50*time.Millisecond, "pushes refused after a restart on the full disk", func() error {
		if _, next := p.snapshot(); next < restartedAt+3 {
			return fmt.Errorf("%d rounds pushed since the restart", next-restartedAt)
		}
		return nil
	})
	if n := ackedSince(restartedAt); n != 0 {
		t.Errorf("%d rounds acknowledged after a restart on the full disk", n)
	}

	// Free the space: pushes succeed again, without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatalf("cannot remove the filler file: %v", err)
	}
	_, freedAt := p.snapshot()
	freed := time.Now()
	eventually(t, 20*time.Second, 20*time.Millisecond, "pushes acknowledged again after space was freed", func() error {
		if n := ackedSince(freedAt); n < 5 {
			return fmt.Errorf("%d rounds acknowledged since round %d", n, freedAt)
		}
		return nil
	})
	t.Logf("pushes acknowledged again %s after space was freed", time.Since(freed).Round(time.Millisecond))
	stopPusher()

	p.mu.Lock()
	for status, k := range p.statuses {
		if status/100 != 5 {
			t.Errorf("%d pushes answered %d while the disk was full, want 5xx (retryable) only", k, status)
		}
	}
	t.Logf("refused pushes: %v", p.failures)
	p.mu.Unlock()
	if v := metric(`weft_ingester_disk_full`); v != 0 {
		t.Errorf("weft_ingester_disk_full is %v after space was freed, want 0", v)
	}
	if checkOff {
		if v := metric(`weft_ingester_tsdb_reopens_total`); v < 1 {
			t.Errorf("weft_ingester_tsdb_reopens_total is %v, want the tenant's TSDB reopened after its WAL met the full disk", v)
		}
	}
	p.verify(ctx, t, "after space was freed")
	// A WAL write that met the full disk half-way through a record leaves
	// it torn: the reopen's replay repairs it (it holds only pushes that
	// were not acknowledged, as verify just showed).
	t.Logf("WAL repairs so far: %d", strings.Count(w.Log(), "Starting corruption repair"))

	// kill -9 and replay the WAL: everything acknowledged is still there,
	// and the WAL needs no repair.
	checkReplay(ctx, t, w, p, tenant, dataDir)

	// The replayed WAL takes writes.
	_, next := p.snapshot()
	for r := next; r < next+3; r++ {
		if err := p.push(ctx, r); err != nil {
			t.Fatalf("cannot push round %d after the restart: %v", r, err)
		}
	}
	p.verify(ctx, t, "after pushes on the replayed WAL")
}

// checkReplay kills weft with -9, restarts it, and checks that every
// acknowledged sample reads back, that the replay needed no repair, and
// that weft never panicked.
func checkReplay(ctx context.Context, t *testing.T, w *weftProcess, p *fullDiskPusher, tenant, dataDir string) {
	t.Helper()
	w.Kill()
	w.Restart()
	p.verify(ctx, t, "after kill -9")
	log := w.Log()
	lastRun := log[strings.LastIndex(log, "=== run "):]
	for _, bad := range []string{"attempting repair", "Starting corruption repair", "corruption"} {
		if strings.Contains(lastRun, bad) {
			t.Errorf("the WAL replay after kill -9 logged %q:\n%s", bad, tail(w.LogPath, 4000))
		}
	}
	if v, err := metricValue(ctx, w, `prometheus_tsdb_wal_corruptions_total{tenant="`+tenant+`"}`); err != nil || v != 0 {
		t.Errorf("prometheus_tsdb_wal_corruptions_total is %v (%v) after the replay, want 0", v, err)
	}
	if strings.Contains(log, "panic") {
		t.Fatalf("weft panicked:\n%s", tail(w.LogPath, 4000))
	}
	left, _ := filepath.Glob(filepath.Join(dataDir, "ingester", "tsdb", tenant, "*", "*.repair"))
	if len(left) > 0 {
		t.Errorf("WAL segments left by an unfinished repair: %v", left)
	}
}

// checkNoHalfBlocks fails the test if the tenant's TSDB directory holds a
// block being written or one without its meta.json.
func checkNoHalfBlocks(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("cannot list %s: %v", dir, err)
	}
	blocks := 0
	for _, e := range entries {
		name := e.Name()
		if strings.Contains(name, ".tmp") {
			t.Errorf("%s holds %s, a block left half-written", dir, name)
			continue
		}
		if _, err := ulid.ParseStrict(name); err != nil || !e.IsDir() {
			continue
		}
		blocks++
		if !fileExists(filepath.Join(dir, name, "meta.json")) {
			t.Errorf("block %s in %s has no meta.json", name, dir)
		}
	}
	return blocks
}

// testFullDiskHeadCompaction fills the disk just before the head is due
// to be cut into a block (1m blocks): the block's write fails, leaves no
// half block behind, is not shipped, and is retried once space returns,
// then shipped.
func testFullDiskHeadCompaction(t *testing.T) {
	mnt := mountTmpfs(t, 8<<20)
	dataDir := filepath.Join(mnt, "data")
	w := startWeft(t, weftOptions{Args: []string{
		"-data.dir", dataDir,
		"-ingester.min-free-disk-bytes", "0",
		"-ingester.tsdb.block-ranges-period", "1m",
		"-ingester.tsdb.head-compaction-interval", "1s",
		"-ingester.tsdb.ship-interval", "1s",
		// The TSDB preallocates a block's chunk file whole.
		"-ingester.tsdb.block-chunk-segment-size-bytes", "1048576",
	}})
	ctx := testContext(t, 2*time.Minute)
	const tenant = "fulldisk-compaction"
	tenantDir := filepath.Join(dataDir, "ingester", "tsdb", tenant)
	p := &fullDiskPusher{
		c: w.Client(tenant),
		// Rounds 2s apart from one second past a minute: the head spans
		// more than 1.5 block ranges, and is cut, from round 46 on.
		n:        numbered{metric: "fulldisk_samples", nSeries: 1000, base: time.Now().Truncate(time.Minute).Add(-5*time.Minute + time.Second).UnixMilli(), step: 2000},
		fresh:    "fulldisk_fresh",
		failures: map[string]int{},
		statuses: map[int]int{},
	}
	metric := func(series string) float64 {
		t.Helper()
		v, err := metricValue(ctx, w, series)
		if err != nil {
			t.Fatalf("cannot read %s: %v", series, err)
		}
		return v
	}
	for r := 0; r < 46; r++ {
		if err := p.push(ctx, r); err != nil {
			t.Fatalf("cannot push round %d: %v", r, err)
		}
	}
	// Round 30 started a head chunk, so the TSDB has written the previous
	// one to its first chunk file: later chunks go to that file's buffer,
	// and the full disk meets only the block.
	eventually(t, 10*time.Second, 50*time.Millisecond, "the first head chunk file", func() error {
		if !fileExists(filepath.Join(tenantDir, "chunks_head", "000001")) {
			return errors.New("no chunks_head/000001 yet")
		}
		return nil
	})
	if n := checkNoHalfBlocks(t, tenantDir); n != 0 {
		t.Fatalf("%d blocks cut before the head spans 1.5 block ranges", n)
	}

	// Fill the disk but for room for a few WAL records, not for a block.
	filler := filepath.Join(mnt, "filler")
	wrote := fillDisk(t, filler)
	if err := os.Truncate(filler, wrote-96<<10); err != nil {
		t.Fatalf("cannot shrink the filler file: %v", err)
	}
	if err := p.push(ctx, 46); err != nil {
		t.Fatalf("cannot push round 46 with 96 KiB free: %v", err)
	}
	eventually(t, 20*time.Second, 50*time.Millisecond, "a failed head compaction", func() error {
		if v := metric(`prometheus_tsdb_compactions_failed_total{tenant="` + tenant + `"}`); v < 1 {
			return fmt.Errorf("prometheus_tsdb_compactions_failed_total is %v", v)
		}
		return nil
	})
	if n := checkNoHalfBlocks(t, tenantDir); n != 0 {
		t.Errorf("%d blocks on a full disk", n)
	}
	if v := metric(`weft_ingester_blocks_shipped_total{tenant="` + tenant + `"}`); v != 0 {
		t.Errorf("%v blocks shipped from a full disk", v)
	}
	if strings.Contains(w.Log(), "panic") {
		t.Fatalf("weft panicked on a full disk:\n%s", tail(w.LogPath, 4000))
	}

	// Space returns: the block is cut and shipped.
	if err := os.Remove(filler); err != nil {
		t.Fatalf("cannot remove the filler file: %v", err)
	}
	eventually(t, 40*time.Second, 100*time.Millisecond, "the block cut and shipped once space returned", func() error {
		if v := metric(`weft_ingester_blocks_shipped_total{tenant="` + tenant + `"}`); v < 1 {
			return fmt.Errorf("weft_ingester_blocks_shipped_total is %v", v)
		}
		return nil
	})
	if n := checkNoHalfBlocks(t, tenantDir); n < 1 {
		t.Errorf("no block in %s after the compaction", tenantDir)
	}
	for r := 47; r < 50; r++ {
		if err := p.push(ctx, r); err != nil {
			t.Fatalf("cannot push round %d after space returned: %v", r, err)
		}
	}
	p.verify(ctx, t, "after the block was cut")
	checkReplay(ctx, t, w, p, tenant, dataDir)
}

// testFullDiskDistributed fills the disk of one ingester of three (RF 3):
// the other two keep the quorum, so every push is acknowledged; the full
// one refuses its copies, counted, and takes them again by itself once
// space is freed.
func testFullDiskDistributed(t *testing.T) {
	const tenant = "fulldisk-dist"
	ctx := testContext(t, 2*time.Minute)
	c := newCluster(t, 5, "-distributor.replication-factor=3", "-auth.multitenancy-enabled=true")
	mnt := mountTmpfs(t, 8<<20)
	ids := []string{"ing-1", "ing-2", "ing-full"}
	for _, id := range ids[:2] {
		c.startIngester(id)
	}
	full := c.startIngester("ing-full", "-data.dir", filepath.Join(mnt, "data"), "-ingester.min-free-disk-bytes", "0")
	dist := c.start("distributor", "distributor")
	qr := c.start("querier", "querier")
	waitRing(t, 30*time.Second, "every ingester ACTIVE", allActive(ids...), dist, qr)

	p := &fullDiskPusher{
		c:        dist.Client(tenant),
		q:        qr.Client(tenant),
		n:        numbered{metric: "fulldisk_samples", nSeries: 2000, base: time.Now().Truncate(2 * time.Hour).Add(time.Second).UnixMilli(), step: 1000},
		fresh:    "fulldisk_fresh",
		failures: map[string]int{},
		statuses: map[int]int{},
	}
	metric := func(series string) float64 {
		t.Helper()
		v, err := metricValue(ctx, full, series)
		if err != nil {
			t.Fatalf("cannot read %s: %v", series, err)
		}
		return v
	}
	bg := startBackground(t)
	bg.Go(func(stop <-chan struct{}) { p.run(ctx, stop, 100*time.Millisecond, 110) })
	stopPusher := bg.Stop
	rounds := func() int { _, next := p.snapshot(); return next }
	waitRounds := func(what string, k int) {
		t.Helper()
		from := rounds()
		eventually(t, 30*time.Second, 20*time.Millisecond, what, func() error {
			if n := rounds() - from; n < k {
				return fmt.Errorf("%d rounds pushed", n)
			}
			return nil
		})
	}
	waitRounds("pushes before the disk fills", 10)

	fillDisk(t, filepath.Join(mnt, "filler"))
	eventually(t, 20*time.Second, 50*time.Millisecond, "the full ingester refusing its copies", func() error {
		if v := metric(`weft_ingester_refused_pushes_total{reason="disk_full"}`); v < 3 {
			return fmt.Errorf("weft_ingester_refused_pushes_total{reason=\"disk_full\"} of ing-full is %v", v)
		}
		return nil
	})
	if v := metric(`weft_ingester_disk_full`); v != 1 {
		t.Errorf("weft_ingester_disk_full of ing-full is %v while its disk is full, want 1", v)
	}
	waitRounds("pushes while one disk is full", 5)
	// A read asks a quorum of the replicas: complete, whichever two.
	p.verify(ctx, t, "while one disk is full")

	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatalf("cannot remove the filler file: %v", err)
	}
	before, err := ingesterAppended(ctx, full, tenant)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, 50*time.Millisecond, "the full ingester taking its copies again", func() error {
		v, err := ingesterAppended(ctx, full, tenant)
		if err != nil {
			return err
		}
		if v-before < float64(3*p.n.nSeries) {
			return fmt.Errorf("ing-full appended %v samples since space was freed", v-before)
		}
		return nil
	})
	stopPusher()
	if v := metric(`weft_ingester_disk_full`); v != 0 {
		t.Errorf("weft_ingester_disk_full of ing-full is %v after space was freed, want 0", v)
	}
	acked, next := p.snapshot()
	if len(acked) != next {
		t.Errorf("%d of %d pushes failed while one ingester of three had a full disk: %v", next-len(acked), next, p.failures)
	}
	p.verify(ctx, t, "after space was freed")
	if strings.Contains(full.Log(), "panic") {
		t.Fatalf("ing-full panicked:\n%s", tail(full.LogPath, 4000))
	}
}
