package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-io/weft/internal/memcachedtest"
)

// TestStoreGatewayMemcached runs a store-gateway with its block cache in a
// real memcached (-store-gateway.cache.backend=memcached), the way a
// cluster shares one cache between store-gateways and their restarts.
//
// Two weft processes gossip on loopback: a distributor,ingester,querier
// that asks ingesters only for the last hour (so older data comes from the
// store-gateway alone), and a store-gateway, the querier's only one
// (-querier.store-gateway-addresses, sharding RF 1). Backfilled samples two
// to six hours old are pushed, and the ingester ships them as blocks when
// it stops (-ingester.flush-on-shutdown). Then:
//
//   - the first query returns exactly the samples pushed, and memcached
//     ends up holding items that weft stored;
//   - the second query returns exactly the same, and hits follow both in
//     weft's weft_bucket_cache_hits_total and in memcached's get_hits (the
//     store-gateway of today keeps downloaded blocks on disk, so its hits
//     between two queries come from re-reading the block list; one that
//     reads blocks by range through the cache gets them from the query);
//   - the store-gateway is stopped, its data directory deleted, and a
//     fresh one started on the same memcached: the query returns exactly
//     the samples pushed again, served with memcached hits (the new
//     process counts hits, and memcached's get_hits grows).
//
// memcached is the Debian package (/usr/bin/memcached); without it the
// test fails under CI (env CI set) and is skipped otherwise.
func TestStoreGatewayMemcached(t *testing.T) {
	const (
		tenant  = "cache-tenant"
		metric  = "memcached_test"
		nSeries = 10
		step    = time.Minute
		span    = 4 * time.Hour
		perPush = 30 // rounds per push
	)
	mc := memcachedtest.Start(t)
	began := time.Now()
	ctx := testContext(t, 4*time.Minute)
	phase := func(format string, args ...any) {
		t.Helper()
		t.Logf("[%5.1fs] "+format, append([]any{time.Since(began).Seconds()}, args...)...)
	}

	// Samples from six to two hours ago: older than the querier's
	// ingester window (1h), so only the store-gateway can answer.
	end := began.Add(-2 * time.Hour).Truncate(time.Minute)
	nRounds := int(span / step)
	hd := historyData{metric: metric, nSeries: nSeries, base: end.Add(-span).UnixMilli(), step: step.Milliseconds(), rounds: nRounds}
	total := nSeries * nRounds

	c := newCluster(t, 2,
		"-auth.multitenancy-enabled=true",
		"-distributor.replication-factor=1",
		// The only store-gateway must own every block.
		"-store-gateway.sharding-replication-factor=1",
		// Without a compactor there is no bucket index: the block list is
		// re-read from each meta.json, through the cache, every second.
		"-store-gateway.sync-interval=1s",
	)
	sg := c.start("store-gateway", "store-gateway",
		"-store-gateway.ring.instance-id=sg-1",
		"-store-gateway.cache.backend=memcached",
		"-store-gateway.cache.memcached.addresses="+mc.Addr,
		// A busy test machine must not turn hits into misses (timeouts
		// are misses) or drop the writes.
		"-store-gateway.cache.memcached.timeout=5s",
		"-store-gateway.cache.memcached.connect-timeout=5s",
	)
	iq := c.start("ingester-querier", "distributor,ingester,querier",
		"-ingester.ring.instance-id=ing-1",
		"-ingester.out-of-order-time-window=12h",
		"-ingester.flush-on-shutdown=true",
		"-querier.query-ingesters-within=1h",
		"-querier.query-store-after=0s",
		"-querier.store-gateway-addresses="+sg.GRPCAddr,
	)
	waitRing(t, 30*time.Second, "the ingester ACTIVE", allActive("ing-1"), iq)
	waitSGActive(ctx, t, sg)
	phase("memcached at %s; store-gateway and distributor,ingester,querier up, bucket %s", mc.Addr, c.bucket)

	cl := iq.Client(tenant)
	for r := 0; r < nRounds; r += perPush {
		if err := cl.Push(ctx, hd.request(0, r, min(r+perPush, nRounds))); err != nil {
			t.Fatalf("cannot push rounds %d-%d: %v", r, min(r+perPush, nRounds)-1, err)
		}
	}
	iq.Stop() // flushes the head into blocks and ships them
	if got := bucketSamples(t, c.bucket, tenant); got != total {
		t.Fatalf("the bucket holds %d samples of %s after the flush, want the %d pushed", got, tenant, total)
	}
	phase("pushed and shipped %d series x %d samples (every %s, %s to %s): %d blocks",
		nSeries, nRounds, step, fmtMs(hd.ts(0)), fmtMs(hd.ts(nRounds-1)), len(bucketBlocks(t, c.bucket, tenant)))
	iq.Restart()
	waitRing(t, 30*time.Second, "the ingester ACTIVE again", allActive("ing-1"), iq)

	query := func(what string) {
		t.Helper()
		if errs := hd.verify(ctx, cl, 0, 0); len(errs) > 0 {
			t.Fatalf("%s does not return the samples pushed:\n%s", what, strings.Join(errs, "\n"))
		}
	}

	// First query: the store-gateway reads the blocks through the cache
	// and stores what it read in memcached (asynchronously).
	s0 := memcachedStats(t, mc)
	query("the first query")
	eventually(t, 10*time.Second, 100*time.Millisecond, "memcached holds what the store-gateway read", func() error {
		if s := memcachedStats(t, mc); s["curr_items"] <= s0["curr_items"] {
			return fmt.Errorf("memcached has %d items, %d before the query", s["curr_items"], s0["curr_items"])
		}
		return nil
	})
	s1 := memcachedStats(t, mc)
	c1 := cacheCounters(ctx, t, sg)
	phase("first query exact; memcached: %d items, %d bytes; store-gateway: %s", s1["curr_items"], s1["bytes"], c1)
	if c1.requests == 0 {
		t.Fatalf("the store-gateway looked nothing up in its cache (%s)", c1)
	}

	// Second query: same answer, and hits.
	query("the second query")
	eventually(t, 10*time.Second, 100*time.Millisecond, "cache hits after the second query", func() error {
		s, cc := memcachedStats(t, mc), cacheCounters(ctx, t, sg)
		if cc.hits <= c1.hits || s["get_hits"] <= s1["get_hits"] {
			return fmt.Errorf("store-gateway: %s (%v hits before); memcached get_hits %d (%d before)", cc, c1.hits, s["get_hits"], s1["get_hits"])
		}
		return nil
	})
	s2 := memcachedStats(t, mc)
	c2 := cacheCounters(ctx, t, sg)
	phase("second query exact; store-gateway: %s; memcached get_hits %d -> %d", c2, s1["get_hits"], s2["get_hits"])

	// A fresh store-gateway: new process, empty disk, same memcached.
	sg.Stop()
	if err := os.RemoveAll(sg.DataDir); err != nil {
		t.Fatal(err)
	}
	sg.Restart()
	waitSGActive(ctx, t, sg)
	c3a := cacheCounters(ctx, t, sg)
	s3a := memcachedStats(t, mc)
	phase("store-gateway restarted with an empty data directory; its cache counters: %s", c3a)
	// The querier's connection to the store-gateway comes back within
	// its reconnect backoff (at most a second): until then a query fails.
	var errs []string
	eventually(t, 15*time.Second, 250*time.Millisecond, "the query after the store-gateway's restart returns the samples pushed", func() error {
		if errs = hd.verify(ctx, cl, 0, 0); len(errs) > 0 {
			return fmt.Errorf("%d problems, first: %s", len(errs), strings.Join(errs[:min(len(errs), 5)], "\n"))
		}
		return nil
	})
	c3 := cacheCounters(ctx, t, sg)
	s3 := memcachedStats(t, mc)
	if c3.hits <= c3a.hits || c3.servedBytes == 0 {
		t.Errorf("the fresh store-gateway answered without cache hits: %s (before the query: %s)", c3, c3a)
	}
	if s3["get_hits"] <= s3a["get_hits"] {
		t.Errorf("memcached's get_hits did not grow with the fresh store-gateway's query: %d before, %d after", s3a["get_hits"], s3["get_hits"])
	}
	phase("query after the restart exact; fresh store-gateway: %s; memcached get_hits %d -> %d, get_misses %d -> %d",
		c3, s3a["get_hits"], s3["get_hits"], s3a["get_misses"], s3["get_misses"])
}

// waitSGActive waits until the store-gateway sees itself ACTIVE in its
// ring, so that it owns the blocks.
func waitSGActive(ctx context.Context, t *testing.T, sg *weftProcess) {
	t.Helper()
	eventually(t, 30*time.Second, 100*time.Millisecond, "the store-gateway ACTIVE in its ring", func() error {
		s, err := sgrFetchRing(ctx, sg)
		if err != nil {
			return err
		}
		return allActive("sg-1")(s)
	})
}

// cacheStats are the bucket cache counters of a process, summed over
// operations.
type cacheStats struct {
	requests, hits, servedBytes float64
}

func (c cacheStats) String() string {
	return fmt.Sprintf("%v cache lookups, %v hits, %v bytes served from the cache", c.requests, c.hits, c.servedBytes)
}

// cacheCounters reads weft_bucket_cache_{requests,hits,served_bytes}_total
// of w, summed over their labels.
func cacheCounters(ctx context.Context, t *testing.T, w *weftProcess) cacheStats {
	t.Helper()
	body, err := httpGet(ctx, w.URL()+"/metrics")
	if err != nil {
		t.Fatalf("cannot read the metrics of %s: %v", w.name, err)
	}
	var c cacheStats
	sums := map[string]*float64{
		"weft_bucket_cache_requests_total":     &c.requests,
		"weft_bucket_cache_hits_total":         &c.hits,
		"weft_bucket_cache_served_bytes_total": &c.servedBytes,
	}
	for _, line := range strings.Split(body, "\n") {
		name, rest, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// The value follows the last space; labels may hold spaces.
			name = name[:i]
			rest = line[strings.LastIndexByte(line, ' ')+1:]
		}
		if p, ok := sums[name]; ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("cannot parse %q of %s: %v", line, w.name, err)
			}
			*p += v
		}
	}
	return c
}

// stats returns the integer counters of memcached's "stats" command.
func memcachedStats(t *testing.T, m *memcachedtest.Server) map[string]int64 {
	t.Helper()
	c, err := net.DialTimeout("tcp", m.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("cannot connect to memcached: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		t.Fatalf("cannot ask memcached for its stats: %v", err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 1 && f[0] == "END" {
			return out
		}
		if len(f) == 3 && f[0] == "STAT" {
			if v, err := strconv.ParseInt(f[2], 10, 64); err == nil {
				out[f[1]] = v
			}
		}
	}
	t.Fatalf("cannot read the stats of memcached: %v (the answer ended without END)", sc.Err())
	return nil
}
