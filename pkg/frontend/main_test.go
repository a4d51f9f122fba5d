package frontend

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the parts of a
// query, the memcached client and the cache writes all end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// dskit's MemcachedClient.Stop does not stop the DNS resolver it
		// creates: one idle goroutine reloading resolv.conf per client.
		goleak.IgnoreTopFunction("github.com/grafana/dskit/dns/miekgdns.(*Resolver).loop"),
	)
}
