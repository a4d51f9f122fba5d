package alertmanager

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's example configuration is valid.
func TestReadmeConfig(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "cat > am.yaml <<'YAML'\n")
	require.True(t, ok, "the README has no am.yaml")
	doc, _, ok := strings.Cut(rest, "\nYAML\n")
	require.True(t, ok)
	uc, err := ParseUserConfig([]byte(doc))
	require.NoError(t, err)
	lim := defaultLimits()
	_, _, err = validate(uc, &lim)
	require.NoError(t, err)
	require.Contains(t, uc.TemplateFiles, "team.tmpl")
}
