package ruler

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/weft-io/weft/pkg/tenant"
)

// FuzzParseGroups parses arbitrary rule group bodies as the config API
// does. That must never panic, and the groups it accepts must be stable:
// their YAML, as the API answers it, parses again to the same YAML.
func FuzzParseGroups(f *testing.F) {
	f.Add(goodGroup)
	f.Add("groups:\n  - name: a\n    rules:\n      - record: r\n        expr: up\n  - name: b\n    source_tenants: [x, y]\n    rules: []\n")
	f.Add("name: g\nquery_offset: 1m\nlimit: 3\nlabels: {team: a}\nrules:\n  - alert: A\n    expr: up == 0\n    annotations: {summary: '{{ $labels.job }}'}\n")
	f.Add("name: g\nrules:\n  - record: r\n    expr: sum(\n")
	f.Add("- a\n- b\n")
	f.Add("name: &a g\nrules: *a\n")

	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, body string) {
		groups, err := parseGroups([]byte(body), p)
		if err != nil {
			return
		}
		for _, g := range groups {
			once, err := yaml.Marshal(g)
			require.NoError(t, err)
			again, err := parseGroups(once, p)
			require.NoError(t, err, "the YAML of an accepted group does not parse:\n%s", once)
			require.Len(t, again, 1)
			twice, err := yaml.Marshal(again[0])
			require.NoError(t, err)
			require.Equal(t, string(once), string(twice))
		}
	})
}

// A Content-Length above -ruler.max-request-body-size is refused before
// the body is read.
func TestConfigAPIRefusesDeclaredLength(t *testing.T) {
	r, err := New(testConfig(), nil, testLimits(nil), nil, nil, nil, nil, nil)
	require.NoError(t, err)
	h := r.ConfigHandler(tenant.Resolver{MultiTenancy: true}.FromRequest)
	req := httptest.NewRequest(http.MethodPost, ConfigPrefix+"/ns", strings.NewReader(goodGroup))
	req.ContentLength = 1 << 30
	req.Header.Set(tenant.Header, "team-a")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), errIDBodyTooLarge)
}
