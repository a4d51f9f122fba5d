package bucket

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// dskit's MemcachedClient.Stop does not stop the DNS resolver it
		// creates: one idle goroutine reloading resolv.conf per client.
		goleak.IgnoreTopFunction("github.com/grafana/dskit/dns/miekgdns.(*Resolver).loop"),
	)
}
