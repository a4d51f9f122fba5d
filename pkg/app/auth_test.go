package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/weft-io/weft/pkg/auth"
)

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// authTokensFile is a tokens file for the tests: a writer of team-a, a
// Grafana of team-a and team-b, an operator of every tenant.
func authTokensFile(t *testing.T) string {
	t.Helper()
	pw, err := bcrypt.GenerateFromPassword([]byte("grafana-pw"), bcrypt.MinCost)
	require.NoError(t, err)
	return `credentials:
- token_sha256: ` + sha256Hex("writer-a") + `
  tenants: [team-a]
  scopes: [write]
- token_sha256: ` + sha256Hex("writer-b") + `
  tenants: [team-b]
  scopes: [write, rules]
- basic_user: grafana
  password_bcrypt: ` + string(pw) + `
  tenants: [team-a, team-b]
  scopes: [read]
- token_sha256: ` + sha256Hex("ops") + `
  tenants: ["*"]
  scopes: [admin]
`
}

// authCall sends a request to base+path with the given credential ("" none,
// "user:pass" basic, else a bearer token) and X-Scope-OrgID (if any).
func authCall(t *testing.T, method, target, cred, orgID string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	require.NoError(t, err)
	switch u, p, ok := cutColon(cred); {
	case ok:
		req.SetBasicAuth(u, p)
	case cred != "":
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if orgID != "" {
		req.Header.Set("X-Scope-OrgID", orgID)
	}
	if body != nil {
		req.Header.Set("Content-Type", ctV1)
		req.Header.Set("Content-Encoding", "snappy")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func cutColon(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

func TestAuthTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(file, []byte(authTokensFile(t)), 0o600))
	base := startApp(t, "-auth.type=tokens", "-auth.tokens-file="+file, "-auth.tokens-file-reload-period=50ms",
		"-auth.failure-delay=1ms", "-tenant-federation.enabled")
	now := time.Now().UnixMilli()
	q := func(expr string) string { return base + "/prometheus/api/v1/query?query=" + url.QueryEscape(expr) }

	// Pushes: the token's tenant, with no X-Scope-OrgID.
	code, body := authCall(t, "POST", base+"/api/v1/push", "writer-a", "", v1Body(t, series(now, 1, "__name__", "up", "job", "a")))
	require.Equal(t, 204, code, body)
	code, body = authCall(t, "POST", base+"/api/v1/push", "writer-b", "", v1Body(t, series(now, 2, "__name__", "up", "job", "b")))
	require.Equal(t, 204, code, body)

	// No credentials, unknown token, wrong password: 401.
	code, body = authCall(t, "POST", base+"/api/v1/push", "", "", v1Body(t, series(now, 1, "__name__", "up")))
	require.Equal(t, 401, code)
	require.Contains(t, body, `"errorType":"unauthorized"`)
	code, _ = authCall(t, "POST", base+"/api/v1/push", "writer-z", "team-a", v1Body(t, series(now, 1, "__name__", "up")))
	require.Equal(t, 401, code)
	code, _ = authCall(t, "GET", q("up"), "grafana:wrong", "team-a", nil)
	require.Equal(t, 401, code)

	// Out of scope, or another tenant: 403.
	code, body = authCall(t, "GET", q("up"), "writer-a", "", nil)
	require.Equal(t, 403, code, body)
	require.Contains(t, body, `"errorType":"forbidden"`)
	code, _ = authCall(t, "POST", base+"/api/v1/push", "writer-a", "team-b", v1Body(t, series(now, 1, "__name__", "up")))
	require.Equal(t, 403, code)

	// Reads: a tenant among the credential's, or several (federation).
	require.Eventually(t, func() bool {
		code, body = authCall(t, "GET", q("up"), "grafana:grafana-pw", "team-a", nil)
		return code == 200 && bytes.Contains([]byte(body), []byte(`"job":"a"`))
	}, 10*time.Second, 50*time.Millisecond, body)
	require.NotContains(t, body, `"job":"b"`)
	code, body = authCall(t, "GET", q("up"), "grafana:grafana-pw", "", nil)
	require.Equal(t, 401, code, "a credential of two tenants must choose: %s", body)
	code, body = authCall(t, "GET", q("up"), "grafana:grafana-pw", "team-b|team-a", nil)
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"__tenant_id__":"team-a"`)
	require.Contains(t, body, `"__tenant_id__":"team-b"`)
	code, body = authCall(t, "GET", q("up"), "grafana:grafana-pw", "team-a|team-c", nil)
	require.Equal(t, 403, code, body)
	require.Contains(t, body, "err-weft-auth-tenant-forbidden")

	// Admin endpoints need the admin scope.
	for _, p := range []string{"/runtime_config", "/config", "/debug/pprof/cmdline"} {
		code, _ = authCall(t, "GET", base+p, "grafana:grafana-pw", "team-a", nil)
		require.Equal(t, 403, code, p)
		code, _ = authCall(t, "GET", base+p, "ops", "", nil)
		require.Equal(t, 200, code, p)
	}
	code, _ = authCall(t, "POST", base+"/compactor/delete_tenant", "writer-b", "", nil)
	require.Equal(t, 403, code)
	code, _ = authCall(t, "POST", base+"/prometheus/api/v1/admin/tsdb/delete_series?match[]=up", "grafana:grafana-pw", "team-a", nil)
	require.Equal(t, 403, code)

	// Rules scope: the rules config API.
	code, body = authCall(t, "GET", base+"/prometheus/config/v1/rules", "writer-b", "", nil)
	require.Contains(t, []int{200, 404}, code, body)
	code, _ = authCall(t, "GET", base+"/prometheus/config/v1/rules", "grafana:grafana-pw", "team-a", nil)
	require.Equal(t, 403, code)

	// Status pages stay open; an unknown route is denied.
	for _, p := range []string{"/ready", "/metrics", "/services", "/", "/ui/settings.json", "/graph"} {
		code, _ = authCall(t, "GET", base+p, "", "", nil)
		require.Equal(t, 200, code, p)
	}
	code, _ = authCall(t, "GET", base+"/no-such-route", "ops", "", nil)
	require.Equal(t, 403, code)
	_, body = authCall(t, "GET", base+"/ui/settings.json", "", "", nil)
	require.Contains(t, body, `"auth":"tokens"`)

	// The file is reloaded live: a new token works, a broken file keeps
	// the old ones and is counted.
	code, _ = authCall(t, "POST", base+"/api/v1/push", "writer-c", "", v1Body(t, series(now, 3, "__name__", "up", "job", "c")))
	require.Equal(t, 401, code)
	// Each new version is renamed into place, as a config manager does:
	// the poller must not see a half-written file, which would count as
	// one more failed reload.
	replaceFile(t, file, authTokensFile(t)+"- token_sha256: "+sha256Hex("writer-c")+"\n  tenants: [team-c]\n  scopes: [write]\n")
	require.Eventually(t, func() bool {
		code, _ = authCall(t, "POST", base+"/api/v1/push", "writer-c", "", v1Body(t, series(now, 3, "__name__", "up", "job", "c")))
		return code == 204
	}, 10*time.Second, 50*time.Millisecond)
	replaceFile(t, file, "credentials: [\n")
	require.Eventually(t, func() bool {
		_, body = authCall(t, "GET", base+"/metrics", "", "", nil)
		return bytes.Contains([]byte(body), []byte("weft_auth_tokens_file_last_reload_successful 0"))
	}, 10*time.Second, 50*time.Millisecond)
	require.Contains(t, body, "weft_auth_tokens_file_reload_failures_total 1")
	code, _ = authCall(t, "POST", base+"/api/v1/push", "writer-c", "", v1Body(t, series(now, 3, "__name__", "up", "job", "c")))
	require.Equal(t, 204, code)
	require.Contains(t, body, `weft_auth_failed_logins_total{reason="invalid"}`)
}

// Every route that routes() mounts in an all-in-one with the UI is
// classified: none is left to the denial of unknown routes.
func TestRouteAuthCoversRoutes(t *testing.T) {
	a := &App{cfg: &Config{}}
	a.notebooks = nil
	paths := []string{
		"/api/v1/push", "/otlp/v1/metrics", "/prometheus/api/v1/query", "/prometheus/api/v1/rules",
		"/prometheus/api/v1/admin/tsdb/delete_series", "/compactor/delete_tenant",
		"/prometheus/config/v1/rules", "/prometheus/config/v1/rules/ns/g", "/api/v1/alerts",
		"/alertmanager", "/alertmanager/api/v2/silences", "/api/v1/notebooks", "/api/v1/notebooks/x",
		"/ring", "/store-gateway/ring", "/compactor/ring", "/ruler/ring", "/alertmanager/ring",
		"/query-scheduler/ring", "/query-scheduler/status", "/memberlist", "/metrics", "/ready",
		"/config", "/runtime_config", "/services", "/debug/pprof/", "/debug/pprof/profile", "/",
	}
	for _, p := range paths {
		for _, m := range []string{"GET", "POST"} {
			_, ok := a.routeAuth(httptest.NewRequest(m, p, nil))
			require.True(t, ok, "%s %s", m, p)
		}
	}
	r, _ := a.routeAuth(httptest.NewRequest("POST", "/ring", nil))
	require.Equal(t, auth.ScopeAdmin, r.Scope, "ring forget")
	r, _ = a.routeAuth(httptest.NewRequest("GET", "/ring", nil))
	require.True(t, r.Open)
	_, ok := a.routeAuth(httptest.NewRequest("GET", "/graph", nil))
	require.False(t, ok, "without the ui role, its pages are no route")
}

// With tokens, the ruler's alerts still reach the Alertmanager of the
// all-in-one, through the HTTP API, as its internal user.
func TestAuthRulerAlertsReachAlertmanager(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(file, []byte(authTokensFile(t)), 0o600))
	base := startApp(t, "-auth.type=tokens", "-auth.tokens-file="+file, "-ruler.poll-interval=1s", "-alertmanager.poll-interval=1s", "-http.listen-address="+freeAddr(t))
	code, body := authCall(t, "POST", base+"/api/v1/alerts", "writer-b", "", []byte("alertmanager_config: |\n  route:\n    receiver: none\n  receivers:\n  - name: none\n"))
	require.Equal(t, http.StatusCreated, code, body)
	code, body = authCall(t, "POST", base+"/prometheus/config/v1/rules/ns", "writer-b", "", []byte("name: g\ninterval: 1s\nrules:\n- alert: Always\n  expr: vector(1)\n"))
	require.Equal(t, http.StatusAccepted, code, body)
	require.Eventually(t, func() bool {
		code, body = authCall(t, "GET", base+"/alertmanager/api/v2/alerts", "writer-b", "", nil)
		return code == 200 && bytes.Contains([]byte(body), []byte(`"alertname":"Always"`))
	}, 60*time.Second, 200*time.Millisecond, "%d %s", code, body)
}

// With -tenant-federation.enabled, "a|b" reads both tenants through the
// query API (the frontend, its results cache and the querier), each
// series labelled with its tenant; other endpoints refuse it.
func TestTenantFederation(t *testing.T) {
	base := startApp(t, "-tenant-federation.enabled")
	now := time.Now().UnixMilli()
	for _, id := range []string{"team-a", "team-b", "team-c"} {
		r := push(t, base, id, ctV1, v1Body(t, series(now, 1, "__name__", "up", "job", id)))
		require.Equal(t, 204, r.code, r.body)
	}
	get := func(path, orgID string) (int, string) {
		return authCall(t, "GET", base+path, "", orgID, nil)
	}
	require.Eventually(t, func() bool {
		code, body := get("/prometheus/api/v1/query?query=up", "team-a|team-b")
		return code == 200 && strings.Count(body, `"__tenant_id__"`) == 2
	}, 10*time.Second, 50*time.Millisecond)
	code, body := get("/prometheus/api/v1/query?query="+url.QueryEscape(`sum by (__tenant_id__) (up{__tenant_id__="team-b"})`), "team-a|team-b")
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `{"__tenant_id__":"team-b"}`)
	require.NotContains(t, body, "team-a")
	start, end := strconv.FormatInt(now/1000-60, 10), strconv.FormatInt(now/1000+60, 10)
	code, body = get("/prometheus/api/v1/query_range?query=up&step=15&start="+start+"&end="+end, "team-b|team-c")
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"job":"team-c"`)
	require.NotContains(t, body, `"job":"team-a"`)
	code, body = get("/prometheus/api/v1/label/__tenant_id__/values", "team-a|team-c")
	require.Equal(t, 200, code, body)
	require.JSONEq(t, `{"status":"success","data":["team-a","team-c"]}`, body)
	code, body = get("/prometheus/api/v1/label/job/values", "team-a|team-c")
	require.Equal(t, 200, code, body)
	require.JSONEq(t, `{"status":"success","data":["team-a","team-c"]}`, body)
	code, body = get("/prometheus/api/v1/labels", "team-a|team-c")
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"__tenant_id__"`)
	code, body = get("/prometheus/api/v1/series?match[]=up", "team-a|team-b")
	require.Equal(t, 200, code, body)
	require.Equal(t, 2, strings.Count(body, `"__tenant_id__"`), body)

	// One tenant reads as before; endpoints that are not queries refuse
	// several.
	code, body = get("/prometheus/api/v1/query?query=up", "team-a")
	require.Equal(t, 200, code, body)
	require.NotContains(t, body, "__tenant_id__")
	code, body = get("/prometheus/api/v1/metadata", "team-a|team-b")
	require.Equal(t, 400, code, body)
	require.Contains(t, body, "err-weft-federation-not-allowed")
	code, body = authCall(t, "POST", base+"/api/v1/push", "", "team-a|team-b", v1Body(t, series(now, 1, "__name__", "up")))
	require.Equal(t, 400, code, body)
	code, _ = get("/api/v1/notebooks", "team-a|team-b")
	require.Equal(t, 400, code)
	code, _ = get("/prometheus/api/v1/query?query=up", "team-a|bad/tenant")
	require.Equal(t, 400, code)
}

// Without -tenant-federation.enabled, "a|b" is no tenant.
func TestTenantFederationDisabled(t *testing.T) {
	base := startApp(t)
	code, body := authCall(t, "GET", base+"/prometheus/api/v1/query?query=up", "", "team-a|team-b", nil)
	require.Equal(t, 400, code, body)
}

// /config never shows the password of a ruler's Alertmanager URL.
func TestRedactedAlertmanagerURL(t *testing.T) {
	cfg := &Config{}
	cfg.Ruler.AlertmanagerURL = "http://ruler:s3cret@am-1:9009/alertmanager,http://am-2:9009/alertmanager"
	b, err := redacted(cfg)
	require.NoError(t, err)
	require.NotContains(t, string(b), "s3cret")
	require.Contains(t, string(b), "http://ruler:xxxxx@am-1:9009/alertmanager,http://am-2:9009/alertmanager")
	require.Contains(t, cfg.Ruler.AlertmanagerURL, "s3cret", "the configuration itself is unchanged")
}

// In distributed mode the ring pages are open to read, and their
// "forget" needs the admin scope.
func TestAuthRingForgetNeedsAdmin(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(file, []byte(authTokensFile(t)), 0o600))
	base := startApp(t, "-auth.type=tokens", "-auth.tokens-file="+file,
		"-target=distributor,ingester", "-ring.store=inmemory", "-grpc.listen-address="+freeAddr(t),
		"-distributor.replication-factor=1")
	code, body := authCall(t, "GET", base+"/ring", "", "", nil)
	require.Equal(t, 200, code, body)
	forget := []byte("forget=no-such-instance")
	post := func(cred string) int {
		req, err := http.NewRequest("POST", base+"/ring", bytes.NewReader(forget))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 401, post(""))
	require.Equal(t, 403, post("writer-a"))
	code = post("ops")
	require.NotContains(t, []int{401, 403}, code)
	require.Less(t, code, 500)
}

// replaceFile replaces the content of path at once (a new file renamed
// over it).
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}
