package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"

	"github.com/weft-io/weft/pkg/ingester"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/storegateway"
	"github.com/weft-io/weft/pkg/wire"
)

// TestPrometheusPromQLSuiteThroughTheRing runs Prometheus' PromQL scripts
// through the distributed read path: every load command is pushed by a
// distributor's ring pusher to three ingesters at RF=3, over gRPC on
// loopback, and every query reads through the querier's ring reader, which
// merges the answers of a quorum of replicas. Each sample is on every
// ingester, so a merge that kept the replicas' copies would fail the
// scripts; the answers must be the ones Prometheus expects, as on the
// single-ingester path (TestPrometheusPromQLSuite), but for the evals in
// ringKnownDifferences.
func TestPrometheusPromQLSuiteThroughTheRing(t *testing.T) {
	lim := testLimits(t)
	runPromQLScripts(t, promqlEngine(t, lim), func(tb testing.TB) storage.Storage {
		c := newCluster(tb, 3, 3, lim, promqlIngesterArgs...)
		return &pushStorage{
			Queryable: querier.NewQueryable(c.reader, lim),
			pusher:    c.pusher,
			close:     func() error { c.stop(); return nil },
		}
	}, ringKnownDifferences)
}

// Why the ring path answers some evals differently. Both are bugs, not
// principles: each loses a native histogram's counter-reset hint (a
// sample read as "unknown" where the single ingester reads "not_reset"),
// which changes aggregations' hints and their "conflicting counter
// resets" warnings.
const (
	// The ingester's gRPC server reads through the TSDB's ChunkQuerier,
	// which cuts a chunk at the query's range by re-encoding it, and the
	// first sample kept loses its hint. Passing
	// storage.SelectHints.DisableTrimming from the server (and trimming in
	// the client, as Prometheus' remote-read client does, since
	// -querier.max-query-lookback relies on the range) makes every eval
	// pass on one ingester over gRPC.
	whyTrimmed = "gRPC select: the TSDB's chunk trimming drops the hint"
	// The ring reader merges the replicas with storage.ChainedSeriesMerge,
	// which marks a histogram sample's hint unknown when it is taken from
	// another replica than the sample before, and after every Seek; with
	// equal replicas that is every sample.
	whyMerged = "replica merge: Prometheus' chain merge drops the hint"
)

// ringKnownDifferences are the evals taken out of the scripts on the ring
// path; remove an entry once its cause is fixed.
var ringKnownDifferences = []knownDifference{
	{"native_histograms.test", 1884, "eval instant at 5m sum(metric)", whyTrimmed + "; " + whyMerged},
	{"native_histograms.test", 1889, "eval instant at 5m avg(metric)", whyTrimmed + "; " + whyMerged},
	{"native_histograms.test", 1948, `eval instant at 3m sum(metric{type=~"counter.*"})`, whyMerged},
	{"native_histograms.test", 1953, `eval instant at 3m avg(metric{type=~"counter.*"})`, whyMerged},
	{"native_histograms.test", 1958, "eval instant at 3m sum_over_time(mixed[3m])", whyTrimmed + "; " + whyMerged},
	{"native_histograms.test", 1963, "eval instant at 3m avg_over_time(mixed[3m])", whyTrimmed + "; " + whyMerged},
	{"native_histograms.test", 2017, "eval instant at 11m histogram_count(sum_over_time(mixed[2m]))", whyTrimmed},
	{"native_histograms.test", 2022, "eval instant at 11m histogram_count(avg_over_time(mixed[2m]))", whyTrimmed},
	{"range_queries.test", 93, "eval instant at 2m some_metric[2m]", whyTrimmed + "; " + whyMerged},
}

// knownDifference is an eval of an upstream script that a read path
// answers differently from the single ingester. It is taken out of the
// script before the script runs; the test fails when line and eval no
// longer match the script (a new Prometheus moved it), so that the list is
// looked at again.
type knownDifference struct {
	file string // name of the script, e.g. "native_histograms.test"
	line int    // 1-based line of the eval command
	eval string // the eval command as the line reads
	why  string
}

// runPromQLScripts runs every upstream script, as
// promqltest.RunBuiltinTestsWithStorage does, less the evals in known.
func runPromQLScripts(t *testing.T, eng promql.QueryEngine, newStorage func(testing.TB) storage.Storage, known []knownDifference) {
	dir := promqltestData(t)
	paths, err := filepath.Glob(filepath.Join(dir, "*.test"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no scripts in %s", dir)
	byFile := map[string][]knownDifference{}
	for _, k := range known {
		byFile[k.file] = append(byFile[k.file], k)
	}
	for _, p := range paths {
		name := filepath.Base(p)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		script := withoutEvals(t, name, string(b), byFile[name])
		delete(byFile, name)
		t.Run("testdata/"+name, func(t *testing.T) {
			promqltest.RunTestWithStorage(t, script, eng, newStorage)
		})
	}
	require.Empty(t, byFile, "known differences name scripts that do not exist")
}

// promqltestData returns the directory of the upstream scripts: the
// testdata of the promqltest package in the module this test is built
// with.
func promqltestData(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/prometheus/prometheus").Output()
	require.NoError(t, err, "cannot find the prometheus module's directory")
	return filepath.Join(strings.TrimSpace(string(out)), "promql", "promqltest", "testdata")
}

// withoutEvals comments out the evals of known in script, each up to the
// blank line that ends it, keeping every other line where it was.
func withoutEvals(t *testing.T, file, script string, known []knownDifference) string {
	t.Helper()
	lines := strings.Split(script, "\n")
	for _, k := range known {
		i := k.line - 1
		require.True(t, i < len(lines) && strings.TrimSpace(lines[i]) == k.eval,
			"%s:%d is no longer %q: update the known differences", file, k.line, k.eval)
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			lines[i] = "# (known difference: " + k.why + ") " + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// TestPrometheusPromQLSuiteThroughTheStoreGateway runs Prometheus' PromQL
// scripts on data read from blocks: every load command is pushed to an
// ingester that ships to a filesystem bucket, its head is then cut into
// blocks and shipped (Flush), and a store-gateway serves them. Queries go
// through the querier's split reader over the ingester and the
// store-gateway with the default windows (-querier.query-ingesters-within,
// -querier.query-store-after): the scripts' data lies around 1970, far
// older than both, so the store-gateway answers for all of it. The block
// check fails any query that missed a block of the bucket, so an answer
// cannot come from anywhere but the blocks.
func TestPrometheusPromQLSuiteThroughTheStoreGateway(t *testing.T) {
	lim := testLimits(t)
	promqltest.RunBuiltinTestsWithStorage(t, promqlEngine(t, lim), func(tb testing.TB) storage.Storage {
		return newStoreStorage(tb, lim)
	})
}

func newStoreStorage(tb testing.TB, lim *limits.Overrides) *pushStorage {
	bkt, err := filesystem.NewBucket(tb.TempDir())
	require.NoError(tb, err)
	ing := startIngester(tb, testIngesterConfig(tb, promqlIngesterArgs...), lim, bkt)
	store := &storeSide{tb: tb, bkt: bkt}
	store.refresh()
	var qcfg querier.Config
	qcfg.RegisterFlags(flagSet(tb))
	split := querier.NewSplitReader(ing, store, nil, qcfg.QueryIngestersWithin, qcfg.QueryStoreAfter)
	return &pushStorage{
		Queryable: querier.NewQueryable(split, lim),
		pusher:    ing,
		committed: func(ctx context.Context) error { return store.ship(ctx, ing) },
		close: func() error {
			store.stop()
			stopIngester(tb, ing)
			return nil
		},
	}
}

// storeSide is the store-gateway side of the store path: a store-gateway
// over the bucket, replaced by a fresh one after each load so that its
// block lists include the blocks just shipped (a store-gateway re-reads
// them every -store-gateway.sync-interval, which a test cannot wait for).
type storeSide struct {
	tb  testing.TB
	bkt objstore.Bucket

	mu     sync.Mutex
	sg     *storegateway.StoreGateway // guarded by mu
	reader wire.Reader                // sg as the querier reads it, guarded by mu
}

// ship cuts the ingester's head into blocks, ships them and has a new
// store-gateway serve the bucket.
func (s *storeSide) ship(ctx context.Context, ing *ingester.Ingester) error {
	if err := ing.Flush(ctx); err != nil {
		return err
	}
	s.refresh()
	return nil
}

func (s *storeSide) refresh() {
	sg := startStoreGateway(s.tb, testStoreGatewayConfig(s.tb), s.bkt)
	s.mu.Lock()
	old := s.sg
	s.sg, s.reader = sg, checkedStore(sg, s.bkt)
	s.mu.Unlock()
	if old != nil {
		stopStoreGateway(s.tb, old)
	}
}

func (s *storeSide) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	stopStoreGateway(s.tb, s.sg)
}

func (s *storeSide) current() wire.Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reader
}

func (s *storeSide) Querier(tenant string, mint, maxt int64) (storage.Querier, error) {
	return s.current().Querier(tenant, mint, maxt)
}

func (s *storeSide) ExemplarQuerier(ctx context.Context, tenant string) (storage.ExemplarQuerier, error) {
	return s.current().ExemplarQuerier(ctx, tenant)
}

func (s *storeSide) Metadata(ctx context.Context, tenant, metric string, limit int) ([]wire.Metadata, error) {
	return s.current().Metadata(ctx, tenant, metric, limit)
}

// checkedStore is the store-gateway as the querier reads it: a query fails
// when a block of the bucket overlapping its range was not read. (The app
// spares blocks younger than a store-gateway sync; here every block was
// shipped before its store-gateway started, so none is spared.)
func checkedStore(sg *storegateway.StoreGateway, bkt objstore.Bucket) wire.Reader {
	finder := storegateway.NewFinder(bkt, time.Hour, time.Hour)
	return querier.NewCheckedStoreReader(sg, func(ctx context.Context, tenant string, mint, maxt int64) ([]ulid.ULID, error) {
		blocks, err := finder.BlocksFor(ctx, tenant, mint, maxt)
		if err != nil {
			return nil, err
		}
		ids := make([]ulid.ULID, 0, len(blocks))
		for _, b := range blocks {
			ids = append(ids, b.ID)
		}
		return ids, nil
	})
}
