package compactor

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestConfigDefaultsAndFlags(t *testing.T) {
	cfg := testConfig(t)
	require.NoError(t, cfg.Validate())
	require.Equal(t, DurationList{2 * time.Hour, 12 * time.Hour, 24 * time.Hour, 168 * time.Hour}, cfg.BlockRanges)
	require.Equal(t, time.Hour, cfg.CompactionInterval)
	require.Equal(t, 12*time.Hour, cfg.DeletionDelay)
	require.Equal(t, "2h,12h,24h,168h", cfg.BlockRanges.String())

	cfg = testConfig(t, "-compactor.block-ranges=1h,4h", "-compactor.deletion-delay=1h")
	require.Equal(t, DurationList{time.Hour, 4 * time.Hour}, cfg.BlockRanges)
	require.Equal(t, []int64{3_600_000, 14_400_000}, cfg.rangesMillis())

	var noDir Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	noDir.RegisterFlags(fs)
	require.NoError(t, noDir.Validate(), "the app fills in the data dir")
	_, err := New(noDir, nil, nil, nil, nil, nil)
	require.Error(t, err)
	f := func(args ...string) {
		t.Helper()
		c := testConfig(t, args...)
		require.Error(t, c.Validate(), "%v", args)
	}
	f("-compactor.block-ranges=2h,3h")
	f("-compactor.block-ranges=2h,2h")
	f("-compactor.block-ranges=30s")
	f("-compactor.block-ranges=")
	f("-compactor.compaction-concurrency=0")
	f("-compactor.deletion-delay=-1s")
	f("-compactor.compaction-interval=0s")
}

func TestConfigYAML(t *testing.T) {
	var cfg struct {
		C Config `yaml:"compactor"`
	}
	dec := `compactor:
  block_ranges: [2h, 8h]
  deletion_delay: 1h
`
	require.NoError(t, yaml.Unmarshal([]byte(dec), &cfg))
	require.Equal(t, DurationList{2 * time.Hour, 8 * time.Hour}, cfg.C.BlockRanges)
	require.Equal(t, time.Hour, cfg.C.DeletionDelay)
	require.NoError(t, yaml.Unmarshal([]byte("compactor: {block_ranges: \"2h,4h\"}"), &cfg))
	require.Equal(t, DurationList{2 * time.Hour, 4 * time.Hour}, cfg.C.BlockRanges)
	out, err := yaml.Marshal(cfg.C)
	require.NoError(t, err)
	require.Contains(t, string(out), "block_ranges:\n    - 2h\n    - 4h")
}

// A tenant's retention caps its compaction levels at a tenth of it, so its
// blocks are deleted soon after they pass the retention; the first level
// always stays.
func TestRangesForRetention(t *testing.T) {
	cfg := testConfig(t)
	const h = int64(time.Hour / time.Millisecond)
	f := func(retention time.Duration, want ...int64) {
		t.Helper()
		require.Equal(t, want, cfg.rangesFor(retention))
	}
	f(0, 2*h, 12*h, 24*h, 168*h) // forever
	f(400*24*time.Hour, 2*h, 12*h, 24*h, 168*h)
	f(70*24*time.Hour, 2*h, 12*h, 24*h, 168*h)
	f(69*24*time.Hour, 2*h, 12*h, 24*h)
	f(10*24*time.Hour, 2*h, 12*h, 24*h)
	f(7*24*time.Hour, 2*h, 12*h)
	f(24*time.Hour, 2*h)
	f(time.Hour, 2*h)
}
