package app

import (
	"context"
	"testing"

	"github.com/grafana/dskit/services"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/weft-io/weft/pkg/ingester"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/storegateway"
)

// The tests of this package create every ingester and store-gateway they
// run in-process through the helpers below, and only there, so that a
// change of the components' lifecycle (constructor, start, stop) is made
// in one place.

// testIngesterConfig returns the ingester flags' defaults with args
// applied, in a directory of the test's own.
func testIngesterConfig(tb testing.TB, args ...string) ingester.Config {
	tb.Helper()
	var cfg ingester.Config
	fs := flagSet(tb)
	cfg.RegisterFlags(fs)
	require.NoError(tb, fs.Parse(args))
	cfg.Dir = tb.TempDir()
	return cfg
}

// startIngester starts an ingester (bkt may be nil: blocks stay local) and
// stops it when the test ends.
func startIngester(tb testing.TB, cfg ingester.Config, lim *limits.Overrides, bkt objstore.Bucket) *ingester.Ingester {
	tb.Helper()
	ing, err := ingester.New(cfg, lim, bkt, nil, nil, nil)
	require.NoError(tb, err)
	require.NoError(tb, services.StartAndAwaitRunning(context.Background(), ing))
	tb.Cleanup(func() { stopIngester(tb, ing) })
	return ing
}

// stopIngester stops an ingester before the test ends; stopping it again
// is harmless.
func stopIngester(tb testing.TB, ing *ingester.Ingester) {
	tb.Helper()
	require.NoError(tb, services.StopAndAwaitTerminated(context.Background(), ing))
}

// testStoreGatewayConfig returns the store-gateway flags' defaults with
// args applied, in a directory of the test's own.
func testStoreGatewayConfig(tb testing.TB, args ...string) storegateway.Config {
	tb.Helper()
	var cfg storegateway.Config
	fs := flagSet(tb)
	cfg.RegisterFlags(fs)
	require.NoError(tb, fs.Parse(args))
	cfg.Dir = tb.TempDir()
	return cfg
}

// startStoreGateway starts a store-gateway over bkt and stops it when the
// test ends.
func startStoreGateway(tb testing.TB, cfg storegateway.Config, bkt objstore.Bucket) *storegateway.StoreGateway {
	tb.Helper()
	sg, err := storegateway.New(cfg, bkt, nil, nil, nil, nil)
	require.NoError(tb, err)
	require.NoError(tb, services.StartAndAwaitRunning(context.Background(), sg))
	tb.Cleanup(func() { stopStoreGateway(tb, sg) })
	return sg
}

// stopStoreGateway stops a store-gateway before the test ends; stopping it
// again is harmless.
func stopStoreGateway(tb testing.TB, sg *storegateway.StoreGateway) {
	tb.Helper()
	require.NoError(tb, services.StopAndAwaitTerminated(context.Background(), sg))
}
