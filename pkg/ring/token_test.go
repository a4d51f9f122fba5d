package ring

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// TestTokenForIsStable pins TokenFor: if this fails, series would move
// between ingesters on upgrade. Never update the expected values.
func TestTokenForIsStable(t *testing.T) {
	f := func(tenant string, lset labels.Labels, want uint32) {
		t.Helper()
		require.Equal(t, want, TokenFor(tenant, lset), "TokenFor(%q, %s)", tenant, lset)
	}
	f("", labels.EmptyLabels(), 0x33683436)
	f("anonymous", labels.FromStrings("__name__", "up"), 0x807793c2)
	f("tenant-1", labels.FromStrings("__name__", "up", "instance", "a:9100", "job", "node"), 0x2c0c8215)
	f("tenant-2", labels.FromStrings("__name__", "up", "instance", "a:9100", "job", "node"), 0x9869a1cb)
}

func TestTokenForSeparatesInputs(t *testing.T) {
	base := TokenFor("t", labels.FromStrings("a", "b"))
	require.NotEqual(t, base, TokenFor("u", labels.FromStrings("a", "b")), "tenant must count")
	require.NotEqual(t, base, TokenFor("t", labels.FromStrings("a", "c")), "value must count")
	require.NotEqual(t, base, TokenFor("t", labels.FromStrings("ab", "")), "name/value boundary must count")
	require.NotEqual(t, TokenFor("ta", labels.FromStrings("b", "c")), TokenFor("t", labels.FromStrings("ab", "c")), "tenant/name boundary must count")
}

func TestTokenForDoesNotAllocate(t *testing.T) {
	lset := labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", "0", "instance", "host-1:9100", "job", "node", "mode", "idle")
	allocs := testing.AllocsPerRun(100, func() { _ = TokenFor("tenant-1", lset) })
	require.Zero(t, allocs)
}

func BenchmarkTokenFor(b *testing.B) {
	lset := labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", "0", "instance", "host-1:9100", "job", "node", "mode", "idle",
		"env", "prod", "region", "eu-west-1", "team", "infra", "cluster", "c1", "namespace", "monitoring")
	b.ReportAllocs()
	for b.Loop() {
		_ = TokenFor("tenant-1", lset)
	}
}
