package ring

import (
	"net"
	"os"
	"strconv"
)

// DefaultGRPCPort is the port of weft's default -grpc.listen-address.
const DefaultGRPCPort = 9095

// DefaultInstanceID returns the ring ID of an instance that was given none:
// the host name, followed by "-<port>" of the instance's gRPC listen
// address unless that is DefaultGRPCPort. Processes on one host each
// listen on their own port, so their IDs differ; one process per host on
// the default port keeps the plain host name it had before. The ID stays
// the same across restarts on the same port, as a ring ID must: an
// instance that comes back under another ID is a new member, and its old
// entry lingers. With port 0 (picked at bind time) set the ID explicitly.
// It returns "" when the host name cannot be read.
func DefaultInstanceID(grpcListenAddress string) string {
	host, err := os.Hostname()
	if err != nil {
		return ""
	}
	return defaultInstanceID(host, grpcListenAddress)
}

func defaultInstanceID(hostname, grpcListenAddress string) string {
	if hostname == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(grpcListenAddress)
	if err != nil || port == "" || port == strconv.Itoa(DefaultGRPCPort) {
		return hostname
	}
	return hostname + "-" + port
}

// SetDefaultInstanceIDs gives each ring of c that has no instance ID the
// default one (DefaultInstanceID), so that every reader of an ID (the
// lifecycler, the shard filters, the ingester's block metadata) sees the
// same one. The app calls it once, before any role starts.
func (c *Config) SetDefaultInstanceIDs(grpcListenAddress string) {
	for _, id := range []*string{&c.Ring.Ingester.InstanceID, &c.Ring.StoreGateway.InstanceID, &c.Ring.Compactor.InstanceID, &c.Ring.Ruler.InstanceID, &c.Ring.Alertmanager.InstanceID, &c.Ring.QueryScheduler.InstanceID, &c.Ring.Distributor.InstanceID} {
		if *id == "" {
			*id = DefaultInstanceID(grpcListenAddress)
		}
	}
}
