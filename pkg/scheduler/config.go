package scheduler

import (
	"flag"
	"strings"
)

// Config is how frontends and queriers find the query-schedulers, and how
// a querier names itself to them.
type Config struct {
	// Addresses are the schedulers' gRPC addresses, comma-separated; empty
	// finds them in the query-scheduler ring.
	Addresses string `yaml:"addresses"`
	// QuerierID names this querier to the schedulers; empty uses the
	// instance ID of the rings.
	QuerierID string `yaml:"querier_id"`
}

// RegisterFlags registers the -query-scheduler.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Addresses, "query-scheduler.addresses", "", "Comma-separated gRPC addresses of the query-schedulers that query-frontends send queries to and queriers pull them from (distributed mode). Empty finds them in the query-scheduler ring.")
	f.StringVar(&c.QuerierID, "query-scheduler.querier-id", "", "ID of this querier at the query-schedulers, which shard tenants over querier IDs (max_queriers_per_tenant); must stay the same across restarts. Empty uses the host name, followed by -<port> when -grpc.listen-address is not on port 9095.")
}

// Validate reports a setting that cannot work.
func (c *Config) Validate() error { return nil }

// AddressList returns Addresses as a list.
func (c *Config) AddressList() []string {
	var out []string
	for _, s := range strings.Split(c.Addresses, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
