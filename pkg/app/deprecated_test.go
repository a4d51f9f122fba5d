package app

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every alias names a new flag and YAML key that set the same option, and
// an old flag that nothing else defines.
func TestAliasTable(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	options, deprecated, ok := strings.Cut(ConfigReference(), "## Deprecated names")
	require.True(t, ok)
	for _, a := range aliases() {
		require.NotNil(t, fs.Lookup(a.NewFlag), "-%s", a.NewFlag)
		require.Nil(t, fs.Lookup(a.OldFlag), "-%s is still defined", a.OldFlag)
		if a.NewYAML != "" {
			require.True(t, strings.Contains(options, "| `"+a.NewYAML+"` | `-"+a.NewFlag+"` |"), "%s and -%s are one option", a.NewYAML, a.NewFlag)
		}
		if a.OldYAML != "" {
			require.False(t, strings.Contains(options, "| `"+a.OldYAML+"` |"), "%s is still a key", a.OldYAML)
		}
		require.True(t, strings.Contains(deprecated, "| `-"+a.OldFlag+"` |"), "the reference lists -%s as deprecated", a.OldFlag)
	}
}

func TestDeprecatedFlag(t *testing.T) {
	const warning = "flag -ingester.instance-id is deprecated, use -ingester.ring.instance-id"
	f := func(args []string, wantID, wantErr string, wantWarnings ...string) {
		t.Helper()
		cfg, _, err := ParseFlags(args, nil)
		if wantErr != "" {
			require.ErrorContains(t, err, wantErr)
			return
		}
		require.NoError(t, err)
		require.Equal(t, wantID, cfg.Ring.Ring.Ingester.InstanceID)
		require.Equal(t, wantWarnings, cfg.Deprecations())
	}
	f(nil, "", "")
	f([]string{"-ingester.ring.instance-id=ing-1"}, "ing-1", "")
	f([]string{"-ingester.instance-id=ing-1"}, "ing-1", "", warning)
	f([]string{"-ingester.instance-id", "ing-1"}, "ing-1", "", warning)
	f([]string{"-ingester.instance-id=ing-1", "-ingester.ring.instance-id=ing-1"}, "ing-1", "", warning)
	f([]string{"-ingester.instance-id=ing-1", "-ingester.ring.instance-id=ing-2"}, "",
		`flags -ingester.instance-id="ing-1" and -ingester.ring.instance-id="ing-2" disagree: -ingester.instance-id is deprecated, give only -ingester.ring.instance-id`)
}

func TestDeprecatedYAMLKey(t *testing.T) {
	const warning = "YAML key ingester.instance_id is deprecated, use ring.ingester.instance_id"
	f := func(yamlDoc string, args []string, wantID, wantErr string, wantWarnings ...string) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "weft.yaml")
		require.NoError(t, os.WriteFile(p, []byte(yamlDoc), 0o644))
		cfg, _, err := ParseFlags(append([]string{"-config.file=" + p}, args...), nil)
		if wantErr != "" {
			require.ErrorContains(t, err, wantErr)
			return
		}
		require.NoError(t, err)
		require.Equal(t, wantID, cfg.Ring.Ring.Ingester.InstanceID)
		require.Equal(t, wantWarnings, cfg.Deprecations())
		require.Equal(t, "1h0m0s", cfg.Ingester.BlockRange.String(), "the keys next to the deprecated one stay")
	}
	old := "ingester:\n  instance_id: ing-1\n  block_range_period: 1h\n"
	f(old, nil, "ing-1", "", warning)
	f(old+"ring:\n  ingester:\n    instance_id: ing-1\n", nil, "ing-1", "", warning)
	f(old+"ring:\n  store: inmemory\n", nil, "ing-1", "", warning)
	f(old+"ring:\n  ingester:\n    instance_id: ing-2\n", nil, "",
		"keys ingester.instance_id and ring.ingester.instance_id disagree: ingester.instance_id is deprecated, give only ring.ingester.instance_id")
	// Flags override the file, whichever name either uses.
	f(old, []string{"-ingester.ring.instance-id=ing-3"}, "ing-3", "", warning)
	f("ingester:\n  block_range_period: 1h\nring:\n  ingester:\n    instance_id: ing-1\n", []string{"-ingester.instance-id=ing-3"}, "ing-3", "",
		"flag -ingester.instance-id is deprecated, use -ingester.ring.instance-id")
	f("ingester:\n  block_range_period: 1h\n", nil, "", "")
	// An unknown key is still reported, and so is a bad document.
	f(old+"no_such_option: 1\n", nil, "", "no_such_option")
	f("ingester: [\n", nil, "", "cannot parse config file")
}

func TestDeprecatedReference(t *testing.T) {
	ref := deprecatedReference()
	require.True(t, strings.Contains(ref, "| `-ingester.instance-id` | `ingester.instance_id` | `-ingester.ring.instance-id`, `ring.ingester.instance_id` |"), ref)
}
