package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/weft-io/weft/pkg/tenant"
)

func sha(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// hashPassword uses the lowest cost: the tests check logic, not strength.
func hashPassword(t *testing.T, p string) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
	require.NoError(t, err)
	return string(b)
}

func tokensFile(t *testing.T, grafanaHash string) string {
	return `credentials:
- token_sha256: ` + sha("writer-a") + `
  tenants: [team-a]
  scopes: [write]
- token_sha256: ` + strings.ToUpper(sha("ops")) + `
  name: ops
  tenants: ["*"]
  scopes: [admin, read]
- basic_user: grafana
  password_bcrypt: ` + grafanaHash + `
  tenants: [team-a, team-b]
  scopes: [read]
`
}

func newTestAuthenticator(t *testing.T, content string) (*Authenticator, string, *prometheus.Registry) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	reg := prometheus.NewRegistry()
	cfg := Config{Type: TypeTokens, TokensFile: path, ReloadPeriod: time.Hour, CacheTTL: time.Minute, CacheSize: 10, FailureDelay: time.Millisecond}
	require.NoError(t, cfg.Validate())
	a, err := New(cfg, reg, nil)
	require.NoError(t, err)
	return a, path, reg
}

func TestParseFile(t *testing.T) {
	f := func(content, wantErr string) {
		t.Helper()
		_, err := ParseFile([]byte(content))
		if wantErr == "" {
			require.NoError(t, err)
			return
		}
		require.ErrorContains(t, err, wantErr)
	}
	f(tokensFile(t, hashPassword(t, "pw")), "")
	f("", "is empty")
	f("\n  \n", "is empty")
	f("credentials: []\n", "")
	f("credentials: [", "did not find")
	f("credential: []", "not found in type")
	f("credentials:\n- token_sha256: abc\n  tenants: [a]\n  scopes: [read]", "64 hex digits")
	f("credentials:\n- basic_user: u\n  password_bcrypt: plain\n  tenants: [a]\n  scopes: [read]", "not a bcrypt hash")
	f("credentials:\n- basic_user: u\n  tenants: [a]\n  scopes: [read]", "no password_bcrypt")
	f("credentials:\n- token_sha256: "+sha("x")+"\n  tenants: [a]\n  scopes: [delete]", `unknown scope "delete"`)
	f("credentials:\n- token_sha256: "+sha("x")+"\n  tenants: [a/b]\n  scopes: [read]", "invalid tenant")
	f("credentials:\n- token_sha256: "+sha("x")+"\n  scopes: [read]", "no tenants")
	f("credentials:\n- token_sha256: "+sha("x")+"\n  tenants: [a]\n  scopes: [read]\n- token_sha256: "+sha("x")+"\n  tenants: [b]\n  scopes: [read]", "same token as credentials[0]")
	f("credentials:\n- tenants: [a]\n  scopes: [read]", "neither token_sha256 nor basic_user")
}

// answer runs a request through Wrap with a classifier that makes every
// path need scope, and returns the status, the error body and the tenant
// the handler saw.
func answer(t *testing.T, a *Authenticator, route Route, method, path string, set func(*http.Request)) (int, string, string) {
	t.Helper()
	var seen string
	h := a.Wrap(func(*http.Request) (Route, bool) { return route, route != Route{} }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get(tenant.Header)
	}))
	r := httptest.NewRequest(method, path, nil)
	if set != nil {
		set(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		var env struct{ Status, ErrorType, Error string }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env), w.Body.String())
		require.Equal(t, "error", env.Status)
		if w.Code == http.StatusUnauthorized {
			require.Equal(t, "unauthorized", env.ErrorType)
			require.Len(t, w.Header().Values("WWW-Authenticate"), 2)
		}
		return w.Code, env.Error, seen
	}
	return w.Code, "", seen
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func TestWrap(t *testing.T) {
	a, _, reg := newTestAuthenticator(t, tokensFile(t, hashPassword(t, "s3cret")))
	read := Route{Scope: ScopeRead}
	write := Route{Scope: ScopeWrite}

	// Open routes need nothing.
	code, _, _ := answer(t, a, Route{Open: true}, "GET", "/ready", nil)
	require.Equal(t, 200, code)

	// No credentials: 401; an unknown token or a wrong password: 401.
	code, msg, _ := answer(t, a, write, "POST", "/api/v1/push", nil)
	require.Equal(t, 401, code)
	require.Contains(t, msg, "err-weft-auth-unauthenticated")
	code, _, _ = answer(t, a, write, "POST", "/api/v1/push", bearer("nope"))
	require.Equal(t, 401, code)
	// The web UI's calls get no Basic challenge, which would open the
	// browser's own login dialog over the UI's.
	h := a.Wrap(func(*http.Request) (Route, bool) { return read, true }, http.NotFoundHandler())
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/q", nil)
	r.Header.Set("Sec-Fetch-Mode", "cors")
	h.ServeHTTP(w, r)
	require.Equal(t, 401, w.Code)
	require.Equal(t, []string{`Bearer realm="weft"`}, w.Header().Values("WWW-Authenticate"))
	code, _, _ = answer(t, a, read, "GET", "/q", func(r *http.Request) { r.SetBasicAuth("grafana", "wrong") })
	require.Equal(t, 401, code)
	code, _, _ = answer(t, a, read, "GET", "/q", func(r *http.Request) { r.SetBasicAuth("nobody", "s3cret") })
	require.Equal(t, 401, code)
	require.Equal(t, 2.0, testutil.ToFloat64(a.failed.WithLabelValues("missing")))
	require.Equal(t, 3.0, testutil.ToFloat64(a.failed.WithLabelValues("invalid")))

	// A credential of one tenant needs no X-Scope-OrgID, and may not
	// name another.
	code, _, seen := answer(t, a, write, "POST", "/api/v1/push", bearer("writer-a"))
	require.Equal(t, 200, code)
	require.Equal(t, "team-a", seen)
	code, msg, _ = answer(t, a, write, "POST", "/api/v1/push", func(r *http.Request) {
		bearer("writer-a")(r)
		r.Header.Set(tenant.Header, "team-b")
	})
	require.Equal(t, 403, code)
	require.Contains(t, msg, "err-weft-auth-tenant-forbidden")

	// Out of scope: 403.
	code, msg, _ = answer(t, a, read, "GET", "/q", bearer("writer-a"))
	require.Equal(t, 403, code)
	require.Contains(t, msg, "lacks the read scope")

	// A route no rule covers is denied, even to an admin.
	code, msg, _ = answer(t, a, Route{}, "GET", "/new-route", bearer("ops"))
	require.Equal(t, 403, code)
	require.Contains(t, msg, "not open to any scope")

	// A credential of several tenants chooses one, or several where the
	// route federates, among its own.
	basic := func(h string) func(*http.Request) {
		return func(r *http.Request) {
			r.SetBasicAuth("grafana", "s3cret")
			if h != "" {
				r.Header.Set(tenant.Header, h)
			}
		}
	}
	code, _, seen = answer(t, a, read, "GET", "/q", basic(""))
	require.Equal(t, 200, code)
	require.Empty(t, seen, "no tenant chosen: the handler asks for one")
	code, _, seen = answer(t, a, read, "GET", "/q", basic("team-b"))
	require.Equal(t, 200, code)
	require.Equal(t, "team-b", seen)
	code, msg, _ = answer(t, a, read, "GET", "/q", basic("team-a|team-b"))
	require.Equal(t, 400, code, "the route does not federate")
	require.Contains(t, msg, "err-weft-federation-not-allowed")
	code, _, seen = answer(t, a, Route{Scope: ScopeRead, Federated: true}, "GET", "/q", basic("team-a|team-b"))
	require.Equal(t, 200, code)
	require.Equal(t, "team-a|team-b", seen)
	code, msg, _ = answer(t, a, Route{Scope: ScopeRead, Federated: true}, "GET", "/q", basic("team-a|team-c"))
	require.Equal(t, 403, code)
	require.Contains(t, msg, `does not hold the tenant "team-c"`)

	// "*" holds every tenant, and names none by default.
	code, _, seen = answer(t, a, Route{Scope: ScopeAdmin}, "POST", "/compactor/delete_tenant", func(r *http.Request) {
		bearer("ops")(r)
		r.Header.Set(tenant.Header, "team-z")
	})
	require.Equal(t, 200, code)
	require.Equal(t, "team-z", seen)

	// The grafana password was checked once: later requests hit the
	// cache (the wrong passwords and the unknown user were checked too).
	require.Equal(t, 3.0, testutil.ToFloat64(a.passwordChecks))
	require.Equal(t, 3.0, testutil.ToFloat64(a.denied.WithLabelValues("tenant")))
	require.Equal(t, 1.0, testutil.ToFloat64(a.denied.WithLabelValues("scope")))
	require.Equal(t, 1.0, testutil.ToFloat64(a.denied.WithLabelValues("route")))
	n, err := testutil.GatherAndCount(reg, "weft_auth_failed_logins_total", "weft_auth_tokens_file_reload_failures_total")
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

func TestReload(t *testing.T) {
	a, path, _ := newTestAuthenticator(t, tokensFile(t, hashPassword(t, "pw")))
	ok := func(tok string) bool {
		code, _, _ := answer(t, a, Route{Scope: ScopeWrite}, "POST", "/api/v1/push", bearer(tok))
		return code == 200
	}
	require.True(t, ok("writer-a"))
	require.False(t, ok("writer-b"))

	// A new token works after a reload.
	require.NoError(t, os.WriteFile(path, []byte("credentials:\n- token_sha256: "+sha("writer-b")+"\n  tenants: [team-b]\n  scopes: [write]\n"), 0o600))
	require.NoError(t, a.reload())
	require.True(t, ok("writer-b"))
	require.False(t, ok("writer-a"))
	require.Equal(t, 1.0, testutil.ToFloat64(a.lastOK))

	// A broken file keeps the previous one in force, and is counted.
	require.NoError(t, os.WriteFile(path, []byte("credentials:\n- token_sha256: [\n"), 0o600))
	require.Error(t, a.reload())
	require.True(t, ok("writer-b"))
	require.Equal(t, 1.0, testutil.ToFloat64(a.reloadFailures))
	require.Equal(t, 0.0, testutil.ToFloat64(a.lastOK))
	require.NoError(t, os.Remove(path))
	require.Error(t, a.reload())
	require.True(t, ok("writer-b"))
	require.Equal(t, 2.0, testutil.ToFloat64(a.reloadFailures))
	// The file read between the truncation and the write of an edit in
	// place (os.WriteFile, an editor, a shell redirection) is empty: it
	// keeps the previous file in force, rather than let no client in
	// until the next poll (or, if the write is broken, the next fix).
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.ErrorContains(t, a.reload(), "is empty")
	require.True(t, ok("writer-b"))
	require.Equal(t, 3.0, testutil.ToFloat64(a.reloadFailures))
}

func TestCacheForgetsOnReload(t *testing.T) {
	a, path, _ := newTestAuthenticator(t, tokensFile(t, hashPassword(t, "pw")))
	get := func() int {
		code, _, _ := answer(t, a, Route{Scope: ScopeRead}, "GET", "/q", func(r *http.Request) { r.SetBasicAuth("grafana", "pw") })
		return code
	}
	require.Equal(t, 200, get())
	require.Equal(t, 200, get())
	require.Equal(t, 1.0, testutil.ToFloat64(a.passwordChecks))
	// The user is removed: its cached verdict must not outlive the file.
	require.NoError(t, os.WriteFile(path, []byte("credentials: []\n"), 0o600))
	require.NoError(t, a.reload())
	require.Equal(t, 401, get())
}

func TestFailureDelay(t *testing.T) {
	a := &Authenticator{cfg: Config{FailureDelay: 100 * time.Millisecond}, failures: map[string]*failState{}}
	require.Equal(t, 100*time.Millisecond, a.failureDelay("1.2.3.4"))
	require.Equal(t, 200*time.Millisecond, a.failureDelay("1.2.3.4"))
	require.Equal(t, 400*time.Millisecond, a.failureDelay("1.2.3.4"))
	require.Equal(t, 100*time.Millisecond, a.failureDelay("5.6.7.8"), "another address is not slowed")
	for range 10 {
		a.failureDelay("1.2.3.4")
	}
	require.Equal(t, maxFailureDelay, a.failureDelay("1.2.3.4"))
}

// Password checks wait for one of few slots; a client that leaves while
// waiting is not counted as a failed login.
func TestPasswordCheckSlots(t *testing.T) {
	a, _, _ := newTestAuthenticator(t, tokensFile(t, hashPassword(t, "pw")))
	for range cap(a.bcryptSlots) {
		a.bcryptSlots <- struct{}{} // every slot busy
	}
	h := a.Wrap(func(*http.Request) (Route, bool) { return Route{Scope: ScopeRead}, true }, http.NotFoundHandler())
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "/q", nil).WithContext(ctx)
	r.SetBasicAuth("grafana", "pw")
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		done <- w.Code
	}()
	select {
	case <-done:
		t.Fatal("the check did not wait for a slot")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	require.Equal(t, 499, <-done)
	require.Equal(t, 0.0, testutil.ToFloat64(a.failed.WithLabelValues("invalid")))
	require.Equal(t, 0.0, testutil.ToFloat64(a.passwordChecks))
	// A bearer token needs no slot.
	code, _, _ := answer(t, a, Route{Scope: ScopeWrite}, "POST", "/api/v1/push", bearer("writer-a"))
	require.Equal(t, 200, code)
}
