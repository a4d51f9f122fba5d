package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// authCredential sets the credentials of a request.
type authCredential func(*http.Request)

func bearerToken(tok string) authCredential {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func basicAuth(user, pass string) authCredential {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

// authDo sends a request with cred (nil: none) and X-Scope-OrgID (if
// any), and returns the status and body.
func authDo(t *testing.T, method, target string, cred authCredential, orgID string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		cred(req)
	}
	if orgID != "" {
		req.Header.Set(tenantHeader, orgID)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func hexSHA256(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// The real Prometheus writes to weft with -auth.type=tokens, with a
// bearer token (authorization:) and with basic auth (basic_auth:), no
// proxy and no headers:, and each remote write's data lands in its
// credential's tenant. A Grafana-style client reads with basic auth, one
// tenant or both (federation); wrong or missing credentials get 401, out
// of scope 403, admin endpoints need the admin scope, and the tokens file
// is reloaded live (a broken one keeps the old credentials, and /metrics
// shows the failure).
func TestAuthTokensWithPrometheus(t *testing.T) {
	requirePrometheus(t)
	ctx := testContext(t, 3*time.Minute)
	hash := func(pw string) string {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tokens := fmt.Sprintf(`credentials:
- token_sha256: %s
  name: prometheus-a
  tenants: [team-a]
  scopes: [write]
- basic_user: prometheus-b
  password_bcrypt: %s
  tenants: [team-b]
  scopes: [write]
- basic_user: grafana
  password_bcrypt: %s
  tenants: [team-a, team-b]
  scopes: [read]
- token_sha256: %s
  name: ops
  tenants: ["*"]
  scopes: [admin]
`, hexSHA256("token-a"), hash("password-b"), hash("grafana-pw"), hexSHA256("ops-token"))
	dir := t.TempDir()
	tokensPath := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokensPath, []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	w := startWeft(t, weftOptions{Args: []string{"-auth.type=tokens", "-auth.tokens-file=" + tokensPath,
		"-auth.tokens-file-reload-period=200ms", "-tenant-federation.enabled"}})

	// Prometheus scrapes itself and writes everything twice: as team-a
	// with a bearer token, as team-b with basic auth.
	promAddr := freeAddr(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: [%q]
remote_write:
  - url: %s/api/v1/push
    authorization:
      credentials: token-a
    queue_config: {min_backoff: 50ms, max_backoff: 1s, batch_send_deadline: 1s}
  - url: %s/api/v1/push
    basic_auth:
      username: prometheus-b
      password: password-b
    queue_config: {min_backoff: 50ms, max_backoff: 1s, batch_send_deadline: 1s}
`, promAddr, w.URL(), w.URL())
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prometheusBinary, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=info")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			dumpLog(t, "prometheus", logPath)
		}
	})

	q := func(expr string) string { return w.URL() + "/prometheus/api/v1/query?query=" + url.QueryEscape(expr) }
	grafana := basicAuth("grafana", "grafana-pw")
	for _, tenant := range []string{"team-a", "team-b"} {
		eventually(t, 90*time.Second, 500*time.Millisecond, "Prometheus' up in "+tenant, func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			code, body := authDo(t, "GET", q(`up{job="prometheus"}`), grafana, tenant)
			if code != 200 || !strings.Contains(body, `"job":"prometheus"`) {
				return fmt.Errorf("%d %.300s", code, body)
			}
			return nil
		})
	}
	// Both tenants at once: one series each, labelled with its tenant.
	code, body := authDo(t, "GET", q(`up{job="prometheus"}`), grafana, "team-a|team-b")
	if code != 200 || !strings.Contains(body, `"__tenant_id__":"team-a"`) || !strings.Contains(body, `"__tenant_id__":"team-b"`) {
		t.Fatalf("federated read: %d %s", code, body)
	}
	// The Grafana data source's other calls.
	for _, p := range []string{"/prometheus/api/v1/labels", "/prometheus/api/v1/label/job/values", "/prometheus/api/v1/status/buildinfo", "/prometheus/api/v1/metadata"} {
		if code, body := authDo(t, "GET", w.URL()+p, grafana, "team-a"); code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}

	// Refusals.
	for _, c := range []struct {
		what, method, path string
		cred               authCredential
		orgID              string
		code               int
	}{
		{"no credentials", "GET", "/prometheus/api/v1/query?query=up", nil, "team-a", 401},
		{"wrong password", "GET", "/prometheus/api/v1/query?query=up", basicAuth("grafana", "nope"), "team-a", 401},
		{"unknown token", "POST", "/api/v1/push", bearerToken("token-z"), "", 401},
		{"a writer reads", "GET", "/prometheus/api/v1/query?query=up", bearerToken("token-a"), "", 403},
		{"another tenant", "GET", "/prometheus/api/v1/query?query=up", grafana, "team-c", 403},
		{"federated read to a tenant not held", "GET", "/prometheus/api/v1/query?query=up", grafana, "team-a|team-c", 403},
		{"tenant deletion without admin", "POST", "/compactor/delete_tenant", grafana, "team-a", 403},
		{"series deletion without admin", "POST", "/prometheus/api/v1/admin/tsdb/delete_series?match[]=up", grafana, "team-a", 403},
		{"runtime config without admin", "GET", "/runtime_config", grafana, "", 403},
		{"runtime config as admin", "GET", "/runtime_config", bearerToken("ops-token"), "", 200},
		{"config as admin", "GET", "/config", bearerToken("ops-token"), "", 200},
		{"status page", "GET", "/ready", nil, "", 200},
	} {
		if code, body := authDo(t, c.method, w.URL()+c.path, c.cred, c.orgID); code != c.code {
			t.Errorf("%s: %s %s answered %d, want %d: %s", c.what, c.method, c.path, code, c.code, body)
		}
	}

	// A new credential works without a restart.
	newReader := "- token_sha256: " + hexSHA256("reader-b") + "\n  tenants: [team-b]\n  scopes: [read]\n"
	if err := os.WriteFile(tokensPath, []byte(tokens+newReader), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, 100*time.Millisecond, "the new token works", func() error {
		if code, body := authDo(t, "GET", q("up"), bearerToken("reader-b"), ""); code != 200 {
			return fmt.Errorf("%d %.200s", code, body)
		}
		return nil
	})
	// A broken file keeps the credentials in force, and says so.
	if err := os.WriteFile(tokensPath, []byte("credentials:\n- token_sha256: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, 100*time.Millisecond, "the reload failure in /metrics", func() error {
		_, body := authDo(t, "GET", w.URL()+"/metrics", nil, "")
		if !strings.Contains(body, "weft_auth_tokens_file_last_reload_successful 0") || strings.Contains(body, "weft_auth_tokens_file_reload_failures_total 0") {
			return fmt.Errorf("no failure in /metrics yet")
		}
		return nil
	})
	if code, body := authDo(t, "GET", q("up"), bearerToken("reader-b"), ""); code != 200 {
		t.Fatalf("the previous file must stay in force: %d %s", code, body)
	}
	if !strings.Contains(w.Log(), "the previous tokens file stays in force") {
		t.Error("the broken file is not logged")
	}
	// Prometheus' pushes still go through, to the right tenants.
	before := time.Now()
	eventually(t, 30*time.Second, 500*time.Millisecond, "new samples after the broken file", func() error {
		code, body := authDo(t, "GET", q(`timestamp(up{job="prometheus"})`), grafana, "team-b")
		if code != 200 {
			return fmt.Errorf("%d %.200s", code, body)
		}
		// "value":[<evaluation time>,"<the sample's timestamp>"]
		var ts float64
		if i := strings.Index(body, `"value":[`); i >= 0 {
			if _, v, ok := strings.Cut(body[i:], `,"`); ok {
				_, _ = fmt.Sscanf(v, "%f", &ts)
			}
		}
		if ts < float64(before.Unix()) {
			return fmt.Errorf("last sample at %v, before %v", ts, before.Unix())
		}
		return nil
	})
}
