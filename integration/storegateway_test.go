package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// TestStoreGatewayRing checks the store-gateway ring: store-gateways
// register in /store-gateway/ring, each loads only the blocks the ring
// gives it (sharding replication factor RF), and the querier asks every
// healthy store-gateway and fails a query (HTTP 500,
// err-weft-store-consistency-check-failed) that missed a block.
//
// Each subtest runs its own cluster over memberlist on loopback: one
// ingester (RF 1) that cuts one-minute blocks and ships them every second
// to the shared filesystem bucket, a distributor,querier process that asks
// ingesters only for the last minute and store-gateways for everything
// older than 30s, and store-gateways. It pushes 20 series x 6 minutes of
// 10s samples ending at the current minute, waits for the five complete
// one-minute blocks in the bucket and queries a range older than a minute,
// which only the store-gateways can answer.
//
// Which store-gateways own a block is computed independently here, from
// each store-gateway's tokens file and the block's token (xxhash of
// "<tenant>/<ULID>", as pkg/storegateway.BlockToken), and compared with
// the blocks each one loaded (its debug log, and
// weft_storegateway_blocks_loaded on its /metrics).
//
//   - replicated: RF 2 with 2 store-gateways (each owns every block), kill
//     -9 one: queries still exact; restart it, add a third (RF 2 of 3:
//     each loads its share, the union is every block, each block loaded
//     twice), kill -9 one: queries still exact, right away and once the
//     dead one is unhealthy in the ring.
//   - rf1: RF 1 with 2 store-gateways (the blocks split between them),
//     kill -9 one that owns blocks: queries over its blocks fail with 500
//     and the error ID naming them (queries over the survivor's blocks
//     still succeed); once its heartbeat is older than the timeout (6s)
//     the survivor must own every block and the query succeed again.
func TestStoreGatewayRing(t *testing.T) {
	t.Run("replicated", func(t *testing.T) {
		t.Parallel()
		testStoreGatewayRingReplicated(t)
	})
	t.Run("rf1", func(t *testing.T) {
		t.Parallel()
		testStoreGatewayRingRF1(t)
	})
}

const (
	sgrHeartbeatTimeout = 6 * time.Second
	sgrTokensFile       = "store-gateway/ring-tokens"
	sgrConsistencyErrID = "err-weft-store-consistency-check-failed"
)

// sgrEnv is one subtest's cluster and data.
type sgrEnv struct {
	t      *testing.T
	began  time.Time
	ctx    context.Context
	c      *cluster
	rf     int
	tenant string
	data   sgrData
	dq     *weftProcess   // distributor,querier
	sgs    []*weftProcess // every store-gateway started, dead or alive
	ids    []string       // their ring instance IDs
	blocks []sgrBlock     // the complete blocks of the data in the bucket
}

func (e *sgrEnv) logf(format string, args ...any) {
	e.t.Helper()
	e.t.Logf("[%5.1fs] "+format, append([]any{time.Since(e.began).Seconds()}, args...)...)
}

// newSGREnv starts the ingester, the distributor,querier and the
// store-gateways ids with sharding replication factor rf, in a cluster
// with room for members processes.
func newSGREnv(t *testing.T, members, rf int, tenant string, ids ...string) *sgrEnv {
	e := &sgrEnv{t: t, began: time.Now(), ctx: testContext(t, 3*time.Minute), rf: rf, tenant: tenant}
	e.c = newCluster(t, members,
		"-auth.multitenancy-enabled=true",
		"-distributor.replication-factor=1",
		"-store-gateway.sharding-replication-factor="+strconv.Itoa(rf),
		"-store-gateway.ring.heartbeat-period=2s",
		"-store-gateway.ring.heartbeat-timeout="+sgrHeartbeatTimeout.String(),
		"-store-gateway.sync-interval=1s",
	)
	e.c.startIngester("ing-1",
		"-ingester.tsdb.block-ranges-period=1m",
		"-ingester.tsdb.ship-interval=1s",
		"-ingester.tsdb.head-compaction-interval=1s",
	)
	e.dq = e.c.start("distributor-querier", "distributor,querier",
		"-querier.query-ingesters-within=1m",
		"-querier.query-store-after=30s",
	)
	for _, id := range ids {
		e.addSG(id)
	}
	waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), e.dq)
	e.waitSGRing("every store-gateway ACTIVE and healthy", allActive(ids...))
	e.logf("cluster up: ingester, distributor,querier and store-gateways %s with sharding RF %d", strings.Join(ids, ", "), rf)
	return e
}

// addSG starts a store-gateway with ring instance ID id; it logs at debug
// level, in JSON, so that the test sees which blocks it loads.
func (e *sgrEnv) addSG(id string) *weftProcess {
	e.t.Helper()
	w := e.c.start(id, "store-gateway", "-store-gateway.ring.instance-id="+id, "-log.level=debug", "-log.format=json")
	e.sgs = append(e.sgs, w)
	e.ids = append(e.ids, id)
	return w
}

func (e *sgrEnv) sg(id string) *weftProcess {
	for i, x := range e.ids {
		if x == id {
			return e.sgs[i]
		}
	}
	e.t.Fatalf("no store-gateway %s", id)
	return nil
}

func (e *sgrEnv) alive() []string {
	var out []string
	for i, w := range e.sgs {
		if cmd, _ := w.running(); cmd != nil {
			out = append(out, e.ids[i])
		}
	}
	return out
}

// waitSGRing waits until the store-gateway ring, as the querier and every
// running store-gateway see it, satisfies cond.
func (e *sgrEnv) waitSGRing(what string, cond func(ringStatus) error) {
	e.t.Helper()
	procs := []*weftProcess{e.dq}
	for _, id := range e.alive() {
		procs = append(procs, e.sg(id))
	}
	eventually(e.t, 30*time.Second, 100*time.Millisecond, what, func() error {
		for _, w := range procs {
			s, err := sgrFetchRing(e.ctx, w)
			if err != nil {
				return err
			}
			if err := cond(s); err != nil {
				return fmt.Errorf("as %s sees it: %w (store-gateway ring: %s)", w.name, err, s)
			}
		}
		return nil
	})
}

// sgrFetchRing reads the store-gateway ring as w sees it.
func sgrFetchRing(ctx context.Context, w *weftProcess) (ringStatus, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := httpGet(cctx, w.URL()+"/store-gateway/ring?format=json")
	if err != nil {
		return ringStatus{}, err
	}
	var s ringStatus
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return ringStatus{}, fmt.Errorf("cannot decode the store-gateway ring of %s: %w: %.300s", w.name, err, body)
	}
	return s, nil
}

// pushAndShip pushes the data and waits until its five complete
// one-minute blocks are in the bucket.
func (e *sgrEnv) pushAndShip() {
	t := e.t
	t.Helper()
	m := time.Now().Truncate(time.Minute)
	e.data = sgrData{metric: "sg_ring_old", nSeries: 20, step: 10_000,
		first: m.Add(-6*time.Minute + 10*time.Second).UnixMilli(), last: m.UnixMilli()}
	c := e.dq.Client(e.tenant)
	// In time order: the head of a 1m-block TSDB refuses samples more than
	// 30s older than its newest.
	for ts := e.data.first; ts <= e.data.last; ts += e.data.step {
		if err := c.Push(e.ctx, e.data.request(ts)); err != nil {
			t.Fatalf("cannot push the samples at %s: %v", sgrFmt(ts), err)
		}
	}
	n := int((e.data.last-e.data.first)/e.data.step) + 1
	e.logf("pushed %d series x %d samples every 10s, %s..%s", e.data.nSeries, n, sgrFmt(e.data.first), sgrFmt(e.data.last))
	// The head keeps at most 1.5 block ranges: every minute but the last
	// is cut into a block and shipped, [m-6m, m-1m).
	wantEnd := m.Add(-time.Minute).UnixMilli()
	eventually(t, 60*time.Second, 200*time.Millisecond, "the blocks up to a minute ago in the bucket", func() error {
		bs, err := sgrBucketBlocks(e.c.bucket, e.tenant)
		if err != nil {
			return err
		}
		var upTo []sgrBlock
		for _, b := range bs {
			if b.MaxTime <= wantEnd {
				upTo = append(upTo, b)
			}
		}
		if len(upTo) != 5 || upTo[len(upTo)-1].MaxTime != wantEnd {
			return fmt.Errorf("blocks in the bucket: %s; want the 5 one-minute blocks up to %s", sgrDescribe(bs), sgrFmt(wantEnd))
		}
		e.blocks = upTo
		return nil
	})
	e.logf("%d blocks shipped: %s", len(e.blocks), sgrDescribe(e.blocks))
	// The querier's block check exempts blocks made within 1.5 x
	// -store-gateway.sync-interval (1.5s; by the time in their ULID):
	// wait until none is, so that a missed block fails the query.
	var newest time.Time
	for _, b := range e.blocks {
		if bt := ulid.Time(ulid.MustParse(b.ID).Time()); bt.After(newest) {
			newest = bt
		}
	}
	if d := time.Until(newest.Add(2500 * time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
	e.logf("every block is older than the block check's grace of 1.5 x the sync interval")
}

// storeRange is the range the exact read covers: every sample in the
// blocks, up to 70s before the current minute (older than the querier's
// -querier.query-ingesters-within=1m at any time after the push, so only
// the store-gateways answer).
func (e *sgrEnv) storeRange() (from, to int64) {
	return e.data.first, e.blocks[len(e.blocks)-1].MaxTime - 10_000
}

// queryAll reads every sample of the store range back exactly, and
// checks the count query of the brief, sum(count_over_time(x[3m])) at
// the current minute - 120s.
func (e *sgrEnv) queryAll() error {
	from, to := e.storeRange()
	if err := e.data.verify(e.ctx, e.dq.Client(e.tenant), from, to); err != nil {
		return err
	}
	at := e.data.last - 120_000
	v, err := e.dq.Client(e.tenant).Query(e.ctx, "sum(count_over_time("+e.data.metric+"[3m]))", time.UnixMilli(at))
	if err != nil {
		return err
	}
	want := float64(e.data.nSeries * 18)
	if got, ok := sgrSingle(v); !ok || got != want {
		return fmt.Errorf("sum(count_over_time(%s[3m])) at %s = %v, want %v", e.data.metric, sgrFmt(at), v, want)
	}
	return nil
}

// owners returns, for each block, the store-gateways that own it by the
// ring made of every store-gateway in the ring now (dead ones included,
// as the ring keeps them), from their tokens files.
func (e *sgrEnv) owners() map[string][]string {
	t := e.t
	t.Helper()
	s, err := sgrFetchRing(e.ctx, e.dq)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string][]uint32{}
	for _, in := range s.Instances {
		w := e.sg(in.ID)
		tk, err := sgrReadTokens(filepath.Join(w.DataDir, sgrTokensFile))
		if err != nil {
			t.Fatalf("cannot read the tokens of %s: %v", in.ID, err)
		}
		if len(tk) != in.Tokens {
			t.Fatalf("%s has %d tokens in its tokens file, %d in the ring", in.ID, len(tk), in.Tokens)
		}
		tokens[in.ID] = tk
	}
	out := map[string][]string{}
	for _, b := range e.blocks {
		out[b.ID] = sgrOwnersOf(tokens, e.rf, sgrBlockToken(e.tenant, b.ID))
	}
	return out
}

// checkLoaded compares the blocks each running store-gateway loaded (its
// log and its weft_storegateway_blocks_loaded) with those it owns, after
// a query of every block: each must load exactly its own; and the union
// must be every block, each loaded by all its live owners.
func (e *sgrEnv) checkLoaded(owners map[string][]string) error {
	loadedBy := map[string]int{}
	var report []string
	for _, id := range e.alive() {
		w := e.sg(id)
		want := map[string]bool{}
		for b, ow := range owners {
			if sgrContains(ow, id) {
				want[b] = true
			}
		}
		got, err := sgrLoadedFromLog(w, e.tenant)
		if err != nil {
			return err
		}
		metric, err := metricValue(e.ctx, w, "weft_storegateway_blocks_loaded")
		if err != nil {
			return err
		}
		if !sgrSameSet(got, want) {
			return fmt.Errorf("%s loaded %s, but owns %s", id, sgrSetString(got), sgrSetString(want))
		}
		if int(metric) != len(want) {
			return fmt.Errorf("%s: weft_storegateway_blocks_loaded is %v, want the %d blocks it owns", id, metric, len(want))
		}
		for b := range got {
			loadedBy[b]++
		}
		report = append(report, fmt.Sprintf("%s %d/%d %s", id, len(got), len(e.blocks), sgrSetString(got)))
	}
	for _, b := range e.blocks {
		if loadedBy[b.ID] == 0 {
			return fmt.Errorf("block %s is loaded by no store-gateway (owners %v)", b.ID, owners[b.ID])
		}
	}
	e.logf("blocks loaded (metrics and log agree with the ring): %s", strings.Join(report, "; "))
	return nil
}

// expectSpread queries every block until the read is exact and each
// store-gateway loaded exactly the blocks it owns.
func (e *sgrEnv) expectSpread(what string) map[string][]string {
	e.t.Helper()
	owners := e.owners()
	e.logf("%s: owners by the ring: %s", what, sgrOwnersString(e.blocks, owners))
	eventually(e.t, 20*time.Second, 250*time.Millisecond, what+": exact read and blocks loaded where owned", func() error {
		if err := e.queryAll(); err != nil {
			return fmt.Errorf("query: %w", err)
		}
		return e.checkLoaded(owners)
	})
	e.logf("%s: every sample read back exactly from the store-gateways", what)
	return owners
}

func testStoreGatewayRingReplicated(t *testing.T) {
	e := newSGREnv(t, 5, 2, "sg-ring-rf2", "sg-1", "sg-2")
	e.pushAndShip()

	// (a) 2 store-gateways, RF 2: each owns and loads every block.
	owners := e.expectSpread("2 store-gateways, RF 2")
	for _, b := range e.blocks {
		if len(owners[b.ID]) != 2 {
			t.Fatalf("block %s has owners %v, want both store-gateways", b.ID, owners[b.ID])
		}
	}
	e.sg("sg-2").Kill()
	e.logf("killed sg-2 (kill -9); it is still healthy in the ring")
	if err := e.queryAll(); err != nil {
		t.Fatalf("2 store-gateways at RF 2, sg-2 killed: the query failed, but sg-1 owns every block: %v", err)
	}
	e.logf("with sg-2 dead: every sample read back exactly (sg-1 answered)")
	e.sg("sg-2").Restart()
	e.waitSGRing("sg-2 ACTIVE and healthy again", allActive("sg-1", "sg-2"))
	e.logf("restarted sg-2")

	// A stopped store-gateway (SIGSTOP: it neither answers nor closes its
	// connections) holds a query only until the connection's keepalive
	// ping fails; sg-1 then answers for every block.
	eventually(t, 20*time.Second, 250*time.Millisecond, "a read through the restarted sg-2", e.queryAll)
	t.Cleanup(func() { _ = e.sg("sg-2").Signal(syscall.SIGCONT) })
	if err := e.sg("sg-2").Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("cannot stop sg-2: %v", err)
	}
	began := time.Now()
	if err := e.queryAll(); err != nil {
		t.Fatalf("2 store-gateways at RF 2, sg-2 stopped (SIGSTOP): the query failed after %s, but sg-1 owns every block: %v", time.Since(began).Round(time.Millisecond), err)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Fatalf("with sg-2 stopped the read took %s; the keepalive (10 s + 5 s) should have ended its connection", took)
	} else {
		e.logf("with sg-2 stopped (SIGSTOP): every sample read back exactly in %s", took.Round(100*time.Millisecond))
	}
	if err := e.sg("sg-2").Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("cannot continue sg-2: %v", err)
	}
	e.waitSGRing("sg-2 ACTIVE and healthy after SIGCONT", allActive("sg-1", "sg-2"))

	// (b) 3 store-gateways, RF 2: each block on 2 of them.
	e.addSG("sg-3")
	e.waitSGRing("3 store-gateways ACTIVE and healthy", allActive("sg-1", "sg-2", "sg-3"))
	if s, err := sgrFetchRing(e.ctx, e.dq); err == nil {
		e.logf("sg-3 joined; store-gateway ring: %s", sgrOwnedString(s))
	}
	owners = e.expectSpread("3 store-gateways, RF 2")
	total := 0
	for _, id := range []string{"sg-1", "sg-2", "sg-3"} {
		n := 0
		for _, ow := range owners {
			if sgrContains(ow, id) {
				n++
			}
		}
		total += n
	}
	if total != 2*len(e.blocks) {
		t.Fatalf("the 3 store-gateways own %d block copies, want 2 x %d", total, len(e.blocks))
	}

	// Kill the store-gateway that owns the most blocks.
	victim, most := "", -1
	for _, id := range []string{"sg-1", "sg-2", "sg-3"} {
		n := 0
		for _, ow := range owners {
			if sgrContains(ow, id) {
				n++
			}
		}
		if n > most {
			victim, most = id, n
		}
	}
	e.sg(victim).Kill()
	e.logf("killed %s (kill -9), owner of %d of the %d blocks; it is still healthy in the ring", victim, most, len(e.blocks))
	if err := e.queryAll(); err != nil {
		t.Fatalf("3 store-gateways at RF 2, %s killed: the query failed, but every block has another owner: %v", victim, err)
	}
	e.logf("with %s dead (still healthy in the ring): every sample read back exactly (the other owners answered)", victim)

	// Once the dead one is unhealthy, the other owner of each of its
	// blocks must still serve it.
	e.waitSGRing(victim+" unhealthy or forgotten", instanceDown(victim))
	e.logf("%s is unhealthy in the ring or forgotten (heartbeat older than %s)", victim, sgrHeartbeatTimeout)
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err = e.queryAll(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		var loaded []string
		for _, id := range e.alive() {
			l, _ := sgrLoadedFromLog(e.sg(id), e.tenant)
			loaded = append(loaded, id+" "+sgrSetString(l))
		}
		t.Errorf("store-gateways alive and the blocks they have loaded now: %s", strings.Join(loaded, "; "))
		t.Errorf("BUG: 3 store-gateways at sharding RF 2, %s killed and now unhealthy in the ring: every block it owned has another live owner, "+
			"yet the query still fails 10s after it turned unhealthy: %v\n"+
			"(a block needs one live owner: look at the replication strategy of NewStoreGatewayRing in pkg/ring/ring.go — with dskit's default one, "+
			"a quorum of RF/2+1 = 2 healthy owners, ring.Get fails and RingShardFilter in pkg/storegateway/shard.go answers \"not owned\" on the surviving owner too)", victim, err)
	} else {
		e.logf("with %s dead and unhealthy: every sample read back exactly", victim)
	}
}

func testStoreGatewayRingRF1(t *testing.T) {
	e := newSGREnv(t, 4, 1, "sg-ring-rf1", "sg-a", "sg-b")
	e.pushAndShip()

	// (a) 2 store-gateways, RF 1: the blocks split between them.
	owners := e.expectSpread("2 store-gateways, RF 1")
	owned := map[string][]string{}
	for _, b := range e.blocks {
		owned[owners[b.ID][0]] = append(owned[owners[b.ID][0]], b.ID)
	}
	// The victim owns blocks; preferably the survivor does too.
	victim, survivor := "sg-a", "sg-b"
	if len(owned["sg-a"]) == 0 || (len(owned["sg-b"]) > 0 && len(owned["sg-b"]) < len(owned["sg-a"])) {
		victim, survivor = "sg-b", "sg-a"
	}
	e.sg(victim).Kill()
	e.logf("killed %s (kill -9), sole owner of %d blocks %v; %s owns %v", victim, len(owned[victim]), owned[victim], survivor, owned[survivor])

	// Its blocks are missed: the query must fail with 500 and the error
	// ID, naming exactly them.
	from, to := e.storeRange()
	err := e.data.verify(e.ctx, e.dq.Client(e.tenant), from, to)
	if msg := sgrWantConsistencyError(err, owned[victim], owned[survivor]); msg != "" {
		t.Fatalf("RF 1, %s killed, reading every block: %s", victim, msg)
	}
	e.logf("reading every block with %s dead: HTTP 500 %s naming its %d blocks, as it should: %v", victim, sgrConsistencyErrID, len(owned[victim]), err)
	_, err = e.dq.Client(e.tenant).Query(e.ctx, "sum(count_over_time("+e.data.metric+"[3m]))", time.UnixMilli(e.data.last-120_000))
	var missedInWindow []string
	for _, b := range e.blocks {
		if sgrContains(owned[victim], b.ID) && b.MaxTime > e.data.last-300_000 && b.MinTime <= e.data.last-120_000 {
			missedInWindow = append(missedInWindow, b.ID)
		}
	}
	if len(missedInWindow) > 0 {
		if msg := sgrWantConsistencyError(err, missedInWindow, nil); msg != "" {
			t.Errorf("RF 1, %s killed, sum(count_over_time(...[3m])) over its blocks %v: %s", victim, missedInWindow, msg)
		} else {
			e.logf("sum(count_over_time(%s[3m])) over %d of its blocks: HTTP 500 %s, as it should", e.data.metric, len(missedInWindow), sgrConsistencyErrID)
		}
	}
	// A block of the survivor alone is still read exactly.
	if len(owned[survivor]) > 0 {
		var b sgrBlock
		for _, x := range e.blocks {
			if x.ID == owned[survivor][0] {
				b = x
			}
		}
		bfrom := max(b.MinTime, e.data.first)
		if err := e.data.verify(e.ctx, e.dq.Client(e.tenant), bfrom, b.MaxTime-1); err != nil {
			t.Errorf("RF 1, %s killed: reading only block %s [%s, %s) of the survivor %s failed: %v", victim, b.ID, sgrFmt(b.MinTime), sgrFmt(b.MaxTime), survivor, err)
		} else {
			e.logf("reading only block %s of %s with %s dead: exact", b.ID, survivor, victim)
		}
	} else {
		e.logf("%s owns no block: no query only it can answer", survivor)
	}

	// (b) After the heartbeat timeout the dead one is unhealthy: the
	// survivor must own every block, and the query succeed again.
	e.waitSGRing(victim+" unhealthy or forgotten", instanceDown(victim))
	unhealthyAt := time.Now()
	if s, err := sgrFetchRing(e.ctx, e.dq); err == nil {
		e.logf("%s is unhealthy in the ring or forgotten (heartbeat timeout %s): %s", victim, sgrHeartbeatTimeout, sgrOwnedString(s))
	}
	const takeover = 15 * time.Second
	deadline := time.Now().Add(takeover)
	tries := 0
	for {
		tries++
		if err = e.queryAll(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		loaded, _ := sgrLoadedFromLog(e.sg(survivor), e.tenant)
		t.Errorf("BUG: RF 1, %s killed and unhealthy in the ring for %s: the survivor %s should own every block and the query succeed, "+
			"but %d queries over %s all failed; the last: %v\n%s has loaded %s\n"+
			"(cause: RingShardFilter in pkg/storegateway/shard.go asks ring.Get for the block's owners; dskit's Get walks the tokens until it has RF=1 distinct "+
			"instance, the dead one, and only then does the replication strategy of NewStoreGatewayRing (pkg/ring/ring.go) drop it as unhealthy and fail "+
			"(\"at least 1 healthy replica required, could only find 0\") instead of going on to the next instance; so %s never owns the dead one's blocks "+
			"and nobody serves them until it comes back or is forgotten from the ring)",
			victim, time.Since(unhealthyAt).Round(time.Second), survivor, tries, takeover, err, survivor, sgrSetString(loaded), survivor)
		return
	}
	e.logf("%s took over: every sample read back exactly %s after %s turned unhealthy", survivor, time.Since(unhealthyAt).Round(100*time.Millisecond), victim)
	owners = map[string][]string{}
	for _, b := range e.blocks {
		owners[b.ID] = []string{survivor}
	}
	if err := e.checkLoaded(owners); err != nil {
		t.Errorf("after the takeover: %v", err)
	}
}

// sgrWantConsistencyError returns "" when err is the HTTP 500 of the
// block check naming every block of missing and none of present.
func sgrWantConsistencyError(err error, missing, present []string) string {
	if err == nil {
		return "the query succeeded, want HTTP 500 " + sgrConsistencyErrID
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		return fmt.Sprintf("no answer (%v), want HTTP 500 %s", err, sgrConsistencyErrID)
	}
	text := ae.Message + " " + ae.Body
	var problems []string
	if ae.StatusCode != 500 {
		problems = append(problems, fmt.Sprintf("HTTP %d, want 500", ae.StatusCode))
	}
	if !strings.Contains(text, sgrConsistencyErrID) {
		problems = append(problems, "the error does not contain "+sgrConsistencyErrID)
	}
	for _, id := range missing {
		if !strings.Contains(text, id) {
			problems = append(problems, "the error does not name the missed block "+id)
		}
	}
	for _, id := range present {
		if strings.Contains(text, id) {
			problems = append(problems, "the error names block "+id+", which a live store-gateway owns")
		}
	}
	if len(problems) == 0 {
		return ""
	}
	return strings.Join(problems, "; ") + ": " + err.Error()
}

// sgrData is the pushed data: nSeries series of metric, one sample every
// step ms from first to last, with a value that is a pure function of
// (series, timestamp), exact in float64.
type sgrData struct {
	metric      string
	nSeries     int
	first, last int64
	step        int64
}

func (d sgrData) labels(i int) []prompb.Label {
	return lbls(d.metric, "series", strconv.Itoa(i), "job", "sg-ring")
}

func (d sgrData) value(i int, ts int64) float64 {
	return float64(i)*1e6 + float64((ts-d.first)/d.step)
}

func (d sgrData) request(ts int64) *prompb.WriteRequest {
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, d.nSeries)}
	for i := range req.Timeseries {
		req.Timeseries[i] = prompb.TimeSeries{Labels: d.labels(i), Samples: []prompb.Sample{{Timestamp: ts, Value: d.value(i, ts)}}}
	}
	return req
}

// verify reads the samples in [from, to] back with a range vector
// selector and checks that exactly the pushed ones come back.
func (d sgrData) verify(ctx context.Context, c *apiClient, from, to int64) error {
	v, err := c.Query(ctx, fmt.Sprintf("%s[%dms]", d.metric, to-from+1), time.UnixMilli(to))
	if err != nil {
		return err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return fmt.Errorf("query of %s returned a %s, want a matrix", d.metric, v.Type())
	}
	var want []int64
	for ts := d.first; ts <= d.last; ts += d.step {
		if ts >= from && ts <= to {
			want = append(want, ts)
		}
	}
	var problems []string
	seen := map[int]bool{}
	for _, s := range m {
		i, err := strconv.Atoi(string(s.Metric["series"]))
		if err != nil || i < 0 || i >= d.nSeries || seen[i] {
			problems = append(problems, fmt.Sprintf("unexpected or repeated series %s", s.Metric))
			continue
		}
		seen[i] = true
		if len(s.Values) != len(want) {
			problems = append(problems, fmt.Sprintf("series %d: %d samples in %s..%s, want %d", i, len(s.Values), sgrFmt(from), sgrFmt(to), len(want)))
			continue
		}
		for k, p := range s.Values {
			if int64(p.Timestamp) != want[k] || float64(p.Value) != d.value(i, want[k]) {
				problems = append(problems, fmt.Sprintf("series %d: sample %d is %v at %s, want %v at %s", i, k, p.Value, sgrFmt(int64(p.Timestamp)), d.value(i, want[k]), sgrFmt(want[k])))
				break
			}
		}
	}
	if len(seen) != d.nSeries {
		problems = append(problems, fmt.Sprintf("%d series returned, want %d", len(seen), d.nSeries))
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], "...")
		}
		return fmt.Errorf("read of %s..%s not exact: %s", sgrFmt(from), sgrFmt(to), strings.Join(problems, "; "))
	}
	return nil
}

// sgrBlock is a block of the bucket, from its meta.json.
type sgrBlock struct {
	ID      string `json:"ulid"`
	MinTime int64  `json:"minTime"`
	MaxTime int64  `json:"maxTime"`
}

// sgrBucketBlocks returns the complete blocks (with a meta.json) of
// tenant in the filesystem bucket, oldest first.
func sgrBucketBlocks(bucket, tenant string) ([]sgrBlock, error) {
	entries, err := os.ReadDir(filepath.Join(bucket, tenant))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []sgrBlock
	for _, en := range entries {
		if _, err := ulid.ParseStrict(en.Name()); err != nil || !en.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(bucket, tenant, en.Name(), "meta.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue // still uploading: meta.json goes last
		}
		if err != nil {
			return nil, err
		}
		var b sgrBlock
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("cannot parse meta.json of %s: %w", en.Name(), err)
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MinTime < out[j].MinTime })
	return out, nil
}

// sgrBlockToken is the ring token of a block, as pkg/storegateway's
// BlockToken (pinned there): xxhash64 of "<tenant>/<ULID>" folded to 32
// bits by XOR of its halves.
func sgrBlockToken(tenant, id string) uint32 {
	h := xxhash.Sum64String(tenant + "/" + id)
	return uint32(h) ^ uint32(h>>32)
}

// sgrReadTokens reads a dskit tokens file.
func sgrReadTokens(path string) ([]uint32, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Tokens []uint32 `json:"tokens"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	return f.Tokens, nil
}

// sgrOwnersOf returns the rf instances that own key in a ring of ACTIVE
// instances with the given tokens: from the first token greater than key,
// clockwise, the first rf distinct instances.
func sgrOwnersOf(tokens map[string][]uint32, rf int, key uint32) []string {
	type tok struct {
		t  uint32
		id string
	}
	var all []tok
	for id, ts := range tokens {
		for _, t := range ts {
			all = append(all, tok{t, id})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].t < all[j].t })
	start := sort.Search(len(all), func(i int) bool { return all[i].t > key })
	var out []string
	for k := 0; k < len(all) && len(out) < min(rf, len(tokens)); k++ {
		id := all[(start+k)%len(all)].id
		if !sgrContains(out, id) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// sgrLoadedFromLog returns the blocks of tenant that the current run of a
// store-gateway has loaded and not unloaded, from its debug log (JSON).
func sgrLoadedFromLog(w *weftProcess, tenant string) (map[string]bool, error) {
	log := w.Log()
	if i := strings.LastIndex(log, "=== run "); i >= 0 {
		log = log[i:]
	}
	loaded := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "{") || !strings.Contains(line, "loaded block") {
			continue
		}
		var rec struct {
			Msg    string `json:"msg"`
			Tenant string `json:"tenant"`
			Block  string `json:"block"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, fmt.Errorf("cannot parse a log line of %s: %w: %s", w.name, err, line)
		}
		if rec.Tenant != tenant {
			continue
		}
		switch rec.Msg {
		case "loaded block":
			loaded[rec.Block] = true
		case "unloaded block":
			delete(loaded, rec.Block)
		}
	}
	return loaded, nil
}

func sgrSameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sgrSetString(s map[string]bool) string {
	var ks []string
	for k := range s {
		ks = append(ks, sgrShort(k))
	}
	sort.Strings(ks)
	return "{" + strings.Join(ks, " ") + "}"
}

// sgrShort abbreviates a ULID to its random tail, enough to tell the
// blocks of one test apart.
func sgrShort(id string) string {
	if len(id) > 8 {
		return "…" + id[len(id)-8:]
	}
	return id
}

func sgrOwnersString(blocks []sgrBlock, owners map[string][]string) string {
	var parts []string
	for _, b := range blocks {
		parts = append(parts, fmt.Sprintf("%s[%s]→%s", sgrShort(b.ID), time.UnixMilli(b.MinTime).UTC().Format("15:04"), strings.Join(owners[b.ID], "+")))
	}
	return strings.Join(parts, " ")
}

func sgrOwnedString(s ringStatus) string {
	var parts []string
	for _, in := range s.Instances {
		h := "healthy"
		if !in.Healthy {
			h = "UNHEALTHY"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s owns %.1f%%", in.ID, in.State, h, in.OwnedPercent))
	}
	return strings.Join(parts, "; ")
}

func sgrDescribe(bs []sgrBlock) string {
	if len(bs) == 0 {
		return "none"
	}
	var parts []string
	for _, b := range bs {
		parts = append(parts, fmt.Sprintf("%s [%s, %s)", sgrShort(b.ID), time.UnixMilli(b.MinTime).UTC().Format("15:04:05"), time.UnixMilli(b.MaxTime).UTC().Format("15:04:05")))
	}
	return strings.Join(parts, ", ")
}

func sgrFmt(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05") }

func sgrContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sgrSingle returns the value of a one-sample vector (or a scalar).
func sgrSingle(v model.Value) (float64, bool) {
	switch x := v.(type) {
	case model.Vector:
		if len(x) == 1 {
			return float64(x[0].Value), true
		}
	case *model.Scalar:
		return float64(x.Value), true
	}
	return 0, false
}
