package ring

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDefaultInstanceID(t *testing.T) {
	f := func(hostname, grpcAddr, want string) {
		t.Helper()
		require.Equal(t, want, defaultInstanceID(hostname, grpcAddr))
	}
	// One process per host keeps the host name it always had.
	f("node-1", ":9095", "node-1")
	f("node-1", "10.0.0.1:9095", "node-1")
	// Several on one host differ by their gRPC port, the same at every restart.
	f("node-1", "127.0.0.1:9201", "node-1-9201")
	f("node-1", "127.0.0.1:9202", "node-1-9202")
	f("node-1", "[::1]:9203", "node-1-9203")
	f("node-1", "", "node-1")
	f("node-1", "no-port", "node-1")
	f("", ":9201", "")
}

func TestSetDefaultInstanceIDs(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-store-gateway.ring.instance-id=sg-1"}))
	c.SetDefaultInstanceIDs("127.0.0.1:9201")
	host, err := os.Hostname()
	require.NoError(t, err)
	require.Equal(t, host+"-9201", c.Ring.Ingester.InstanceID)
	require.Equal(t, "sg-1", c.Ring.StoreGateway.InstanceID, "a given ID stays")
	require.Equal(t, host+"-9201", c.Ring.Compactor.InstanceID)
}
