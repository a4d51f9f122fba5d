package limits

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// FuzzParseRuntimeConfig parses arbitrary runtime files. Parsing must never
// panic, every tenant it accepts must have valid limits, and what parses
// must be stable: marshalling it and parsing that gives the same config.
func FuzzParseRuntimeConfig(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("overrides:\n  a:\n    ingestion_rate: 10\n    max_global_series_per_user: 5\n"))
	f.Add([]byte("overrides:\n  b:\n    query_timeout: 1m\n    otlp_delta_temporality: convert\n"))
	f.Add([]byte("overrides:\n  c: {}\n  d: null\n"))
	f.Add([]byte("overrides: [1, 2]\n"))
	f.Add([]byte("overrides:\n  &a x: *a\n"))

	var defaults Limits
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	defaults.RegisterFlags(fs)
	f.Fuzz(func(t *testing.T, data []byte) {
		rc, err := ParseRuntimeConfig(data, defaults)
		if err != nil {
			return
		}
		for tenant, l := range rc.Overrides {
			require.NoError(t, l.Validate(), tenant)
		}
		b, err := yaml.Marshal(rc)
		require.NoError(t, err)
		again, err := ParseRuntimeConfig(b, defaults)
		require.NoError(t, err, string(b))
		b2, err := yaml.Marshal(again)
		require.NoError(t, err)
		require.Equal(t, string(b), string(b2))
	})
}
