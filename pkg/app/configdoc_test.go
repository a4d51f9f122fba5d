package app

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestConfigReference(t *testing.T) {
	got := ConfigReference()
	p := filepath.Join("..", "..", "docs", "configuration.md")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, string(want), got, "docs/configuration.md is stale: go test ./pkg/app -run TestConfigReference -update")
	require.NotContains(t, got, "(flag only) | `-ingester", "every role option has a YAML key")
	require.True(t, strings.Contains(got, "| `limits.ingestion_rate` | `-distributor.ingestion-rate-limit` |"))
}

func TestYAMLAndFlagPrecedence(t *testing.T) {
	p := filepath.Join(t.TempDir(), "weft.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`
http_listen_address: 127.0.0.1:1234
data_dir: /from/yaml
limits:
  ingestion_rate: 5
ingester:
  block_range_period: 1h
`), 0o644))
	cfg, _, err := ParseFlags([]string{"-config.file=" + p, "-data.dir=/from/flag"}, nil)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1234", cfg.HTTPListenAddress, "YAML beats defaults")
	require.Equal(t, "/from/flag", cfg.DataDir, "flags beat YAML")
	require.Equal(t, 5.0, cfg.Limits.IngestionRate)
	require.Equal(t, "1h0m0s", cfg.Ingester.BlockRange.String())
	require.Equal(t, ":9095", cfg.GRPCListenAddress, "defaults stay")

	require.NoError(t, os.WriteFile(p, []byte("no_such_option: 1\n"), 0o644))
	_, _, err = ParseFlags([]string{"-config.file=" + p}, nil)
	require.ErrorContains(t, err, "no_such_option")
}
