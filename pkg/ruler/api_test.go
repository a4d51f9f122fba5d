package ruler

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"go.yaml.in/yaml/v3"

	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/tenant"
)

func testConfig() Config {
	return Config{
		PollInterval: time.Hour, EvaluationInterval: time.Minute, MaxRequestBodySize: 4096,
		OutageTolerance: time.Hour, ForGracePeriod: 10 * time.Minute, ResendDelay: time.Minute,
		NotificationQueueCapacity: 100, NotificationTimeout: time.Second,
	}
}

func testLimits(edit func(*limits.Limits)) *limits.Overrides {
	l := limits.Limits{
		RulerMaxRuleGroupsPerTenant: 3, RulerMaxRulesPerRuleGroup: 2,
		RulerMinEvaluationInterval: model.Duration(time.Second),
	}
	if edit != nil {
		edit(&l)
	}
	return limits.NewOverrides(l, nil)
}

// apiServer returns a test server of the config API over a fresh bucket.
func apiServer(t *testing.T, lim *limits.Overrides) (*httptest.Server, objstore.Bucket) {
	t.Helper()
	bkt := objstore.NewInMemBucket()
	r, err := New(testConfig(), bkt, lim, nil, nil, nil, nil, nil)
	require.NoError(t, err)
	srv := httptest.NewServer(r.ConfigHandler(tenant.Resolver{MultiTenancy: true}.FromRequest))
	t.Cleanup(srv.Close)
	return srv, bkt
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(tenant.Header, "team-a")
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// objects lists every object of the bucket with its content.
func objects(t *testing.T, bkt objstore.Bucket) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, bkt.Iter(context.Background(), "", func(name string) error {
		r, err := bkt.Get(context.Background(), name)
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		out[name] = string(b)
		return err
	}, objstore.WithRecursiveIter()))
	return out
}

const goodGroup = `name: g1
interval: 30s
rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: Down
    expr: up == 0
    for: 5m
    labels:
      severity: page
    annotations:
      summary: "{{ $labels.instance }} is down ({{ $value }})"
`

func TestConfigAPIRoundTrip(t *testing.T) {
	srv, _ := apiServer(t, testLimits(nil))
	const p = ConfigPrefix

	code, body := call(t, srv, http.MethodGet, p, "")
	require.Equal(t, http.StatusNotFound, code, body)

	code, body = call(t, srv, http.MethodPost, p+"/ns%2Fone", goodGroup)
	require.Equal(t, http.StatusAccepted, code, body)
	require.JSONEq(t, `{"status":"success","data":null,"errorType":"","error":""}`, body)
	code, body = call(t, srv, http.MethodPost, p+"/other", strings.Replace(goodGroup, "g1", "g2", 1))
	require.Equal(t, http.StatusAccepted, code, body)

	code, body = call(t, srv, http.MethodGet, p, "")
	require.Equal(t, http.StatusOK, code, body)
	var all map[string][]RuleGroup
	require.NoError(t, yaml.Unmarshal([]byte(body), &all))
	require.Len(t, all, 2)
	require.Equal(t, "g1", all["ns/one"][0].Name)
	require.Equal(t, model.Duration(30*time.Second), all["ns/one"][0].Interval)
	require.Equal(t, "{{ $labels.instance }} is down ({{ $value }})", all["ns/one"][0].Rules[1].Annotations["summary"])

	code, body = call(t, srv, http.MethodGet, p+"/other", "")
	require.Equal(t, http.StatusOK, code, body)
	all = nil
	require.NoError(t, yaml.Unmarshal([]byte(body), &all))
	require.Len(t, all, 1)

	code, body = call(t, srv, http.MethodGet, p+"/ns%2Fone/g1", "")
	require.Equal(t, http.StatusOK, code, body)
	var g RuleGroup
	require.NoError(t, yaml.Unmarshal([]byte(body), &g))
	require.Equal(t, "g1", g.Name)
	require.Len(t, g.Rules, 2)

	// POST of a group with the same name replaces it (Cortex semantics).
	code, body = call(t, srv, http.MethodPost, p+"/other", strings.Replace(strings.Replace(goodGroup, "g1", "g2", 1), "30s", "1m", 1))
	require.Equal(t, http.StatusAccepted, code, body)
	code, body = call(t, srv, http.MethodGet, p+"/other/g2", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "interval: 1m")

	code, _ = call(t, srv, http.MethodGet, p+"/other/nope", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = call(t, srv, http.MethodDelete, p+"/other/g2", "")
	require.Equal(t, http.StatusAccepted, code)
	code, _ = call(t, srv, http.MethodDelete, p+"/other/g2", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = call(t, srv, http.MethodDelete, p+"/ns%2Fone", "")
	require.Equal(t, http.StatusAccepted, code)
	code, _ = call(t, srv, http.MethodDelete, p+"/ns%2Fone", "")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = call(t, srv, http.MethodGet, p, "")
	require.Equal(t, http.StatusNotFound, code)

	// A Prometheus rule file is taken too, each group stored apart.
	code, body = call(t, srv, http.MethodPost, p+"/file", "groups:\n- "+strings.ReplaceAll(goodGroup, "\n", "\n  ")+"\n")
	require.Equal(t, http.StatusAccepted, code, body)
	code, _ = call(t, srv, http.MethodGet, p+"/file/g1", "")
	require.Equal(t, http.StatusOK, code)

	code, _ = call(t, srv, http.MethodPut, p+"/file", goodGroup)
	require.Equal(t, http.StatusMethodNotAllowed, code)
}

// Every bad upload gets a 4xx naming the fault (and the line, where the
// YAML has one), and changes nothing stored.
func TestConfigAPIBadInput(t *testing.T) {
	lim := testLimits(nil)
	srv, bkt := apiServer(t, lim)
	code, body := call(t, srv, http.MethodPost, ConfigPrefix+"/ns", strings.Replace(goodGroup, "g1", "keep", 1))
	require.Equal(t, http.StatusAccepted, code, body)
	before := objects(t, bkt)
	require.Len(t, before, 1)

	f := func(name string, body string, wantCode int, wantMsg ...string) {
		t.Helper()
		code, got := call(t, srv, http.MethodPost, ConfigPrefix+"/ns", body)
		require.Equal(t, wantCode, code, "%s: %s", name, got)
		var env struct{ Error string }
		require.NoError(t, json.Unmarshal([]byte(got), &env), name)
		got = env.Error
		for _, m := range wantMsg {
			require.Contains(t, got, m, name)
		}
		require.Equal(t, before, objects(t, bkt), "%s changed the bucket", name)
	}
	f("malformed YAML", "name: g\nrules:\n  - record: a\n   expr: b\n", 400, "line 2", "err-weft-ruler-invalid-rule-group")
	f("unknown field", "name: g\nrules:\n  - record: a\n    expr: up\n    bogus: 1\n", 400, "line 5", "bogus")
	f("unknown group field", "name: g\nfoo: bar\nrules: []\n", 400, "line 2", "foo")
	f("invalid PromQL", "name: g\nrules:\n  - record: a\n    expr: sum(up\n", 400, "4:11", `group "g", rule 1, "a"`)
	f("duplicate group name", "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n", 400, "4:3", `"g" is repeated`)
	f("oversized body", "name: g\nrules: []\n#"+strings.Repeat("x", 5000)+"\n", 413, "err-weft-ruler-body-too-large")
	f("template that does not parse", "name: g\nrules:\n  - alert: A\n    expr: up\n    annotations:\n      summary: '{{ $labels.x '\n", 400, "3:12:", `annotation "summary"`, "unclosed action")
	f("label template that does not parse", "name: g\nrules:\n  - alert: A\n    expr: up\n    labels:\n      x: '{{ end }}'\n", 400, `label "x"`)
	f("empty body", "", 400, "empty")
	f("not a mapping", "- a\n- b\n", 400, "mapping")
	f("no name", "rules:\n  - record: a\n    expr: up\n", 400, "name must not be empty")
	f("record and alert", "name: g\nrules:\n  - record: a\n    alert: b\n    expr: up\n", 400, "only one of")
	f("bad recording name", "name: g\nrules:\n  - record: 'a b{'\n    expr: up\n", 400, "3:13:", "braces present in the recording rule name")
	f("too many rules", "name: g\nrules:\n  - {record: a, expr: up}\n  - {record: b, expr: up}\n  - {record: c, expr: up}\n", 400, "err-weft-ruler-max-rules-per-rule-group")
	f("interval under the minimum", "name: g\ninterval: 500ms\nrules: []\n", 400, "err-weft-ruler-min-evaluation-interval")
	f("federation disabled", "name: g\nsource_tenants: [a, b]\nrules: []\n", 400, "err-weft-ruler-federation-disabled")
	f("bad source tenant", "name: g\nsource_tenants: ['a/b']\nrules: []\n", 400, "source tenant")

	// The group limit counts the groups a tenant would have.
	for _, n := range []string{"g2", "g3"} {
		code, body := call(t, srv, http.MethodPost, ConfigPrefix+"/ns", "name: "+n+"\nrules: []\n")
		require.Equal(t, http.StatusAccepted, code, body)
	}
	before = objects(t, bkt)
	f("too many groups", "name: g4\nrules: []\n", 400, "err-weft-ruler-max-rule-groups-per-tenant")
	// Replacing a group is not a new one.
	code, body = call(t, srv, http.MethodPost, ConfigPrefix+"/ns", "name: g3\nrules: []\n")
	require.Equal(t, http.StatusAccepted, code, body)
}

func TestConfigAPIFederationAllowed(t *testing.T) {
	srv, _ := apiServer(t, testLimits(func(l *limits.Limits) { l.RulerTenantFederationEnabled = true }))
	code, body := call(t, srv, http.MethodPost, ConfigPrefix+"/ns", "name: g\nsource_tenants: [a, b]\nrules:\n  - record: x\n    expr: sum(up)\n")
	require.Equal(t, http.StatusAccepted, code, body)
	code, body = call(t, srv, http.MethodGet, ConfigPrefix+"/ns/g", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "source_tenants:")
}

func TestConfigAPITenant(t *testing.T) {
	srv, _ := apiServer(t, testLimits(nil))
	req, err := http.NewRequest(http.MethodGet, srv.URL+ConfigPrefix, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
