package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
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
// single-ingester path (TestPrometheusPromQLSuite), native histograms'
// counter-reset hints included.
func TestPrometheusPromQLSuiteThroughTheRing(t *testing.T) {
	lim := testLimits(t)
	promqltest.RunBuiltinTestsWithStorage(t, promqlEngine(t, lim), func(tb testing.TB) storage.Storage {
		c := newCluster(tb, 3, 3, lim, promqlIngesterArgs...)
		return &pushStorage{
			Queryable: querier.NewQueryable(c.reader, lim),
			pusher:    c.pusher,
			close:     func() error { c.stop(); return nil },
		}
	})
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
