package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/tlsconfig/tlstest"
)

// The HTTP server of an all-in-one over TLS: it serves HTTPS with the
// certificate of its files, serves a rotated one from the next connection,
// counts the reload in /metrics, and refuses TLS 1.1.
func TestHTTPTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, dir, "first")
	cfg, _, err := ParseFlags([]string{"-http.listen-address=127.0.0.1:0", "-data.dir=" + filepath.Join(dir, "data"),
		"-http.tls-cert-file=" + certFile, "-http.tls-key-file=" + keyFile}, nil)
	require.NoError(t, err)
	a, err := New(cfg, logutil.Nop())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	pem, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	get := func(path string, tc *tls.Config) (*http.Response, string, error) {
		// A new connection each time: the certificate is chosen per
		// handshake.
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
		resp, err := hc.Get("https://" + a.Addr() + path)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	client := &tls.Config{RootCAs: roots}
	require.Eventually(t, func() bool {
		resp, _, err := get("/ready", client)
		return err == nil && resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
	resp, metrics, err := get("/metrics", client)
	require.NoError(t, err)
	require.Equal(t, "first", resp.TLS.PeerCertificates[0].Subject.CommonName)
	require.Contains(t, metrics, `weft_tls_certificate_expiry_timestamp_seconds{certificate="http"}`)

	cert, key := ca.IssuePEM(t, "second")
	require.NoError(t, os.WriteFile(keyFile, key, 0o600))
	require.NoError(t, os.WriteFile(certFile, cert, 0o600))
	resp, metrics, err = get("/metrics", client)
	require.NoError(t, err)
	require.Equal(t, "second", resp.TLS.PeerCertificates[0].Subject.CommonName)
	require.Contains(t, metrics, `weft_tls_certificate_reloads_total{certificate="http",result="success"}`)

	_, _, err = get("/ready", &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11})
	require.Error(t, err)
}

// Settings that cannot work are refused at start.
func TestTLSValidation(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-http.tls-cert-file=c", "-http.tls-key-file=k", "-http.tls-min-version=VersionTLS11"}, "http.tls-min-version"},
		{[]string{"-grpc.tls-cert-file=c"}, "grpc.tls-cert-file and grpc.tls-key-file go together"},
		{[]string{"-grpc.tls-client-cert-file=c"}, "grpc.tls-client-cert-file and grpc.tls-client-key-file go together"},
		{[]string{"-grpc.tls-cert-file=c", "-grpc.tls-key-file=k", "-grpc.tls-client-auth=RequireAndVerifyClientCert"}, "needs grpc.tls-client-ca-file"},
		{[]string{"-target=ingester", "-memberlist.tls-enabled"}, "memberlist.tls-enabled needs"},
	} {
		cfg, _, err := ParseFlags(append([]string{"-data.dir=" + t.TempDir()}, c.args...), nil)
		require.NoError(t, err)
		cfg.applyDefaults()
		require.ErrorContains(t, cfg.Validate(), c.want, c.args)
	}
}

// With HTTPS, the all-in-one ruler sends its alerts to its own
// Alertmanager at https, verified with -grpc.tls-ca-file.
func TestTLSRulerAlertsReachAlertmanager(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, dir, "weft")
	addr := freeAddr(t)
	cfg, _, err := ParseFlags([]string{"-http.listen-address=" + addr, "-data.dir=" + filepath.Join(dir, "data"),
		"-http.tls-cert-file=" + certFile, "-http.tls-key-file=" + keyFile, "-grpc.tls-ca-file=" + ca.CertFile,
		"-ruler.poll-interval=1s", "-alertmanager.poll-interval=1s"}, nil)
	require.NoError(t, err)
	a, err := New(cfg, logutil.Nop())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	pem, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pem))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	call := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, "https://"+addr+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Scope-OrgID", "team-a")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { code, _ := call("GET", "/ready", ""); return code == 200 }, 30*time.Second, 20*time.Millisecond)
	code, body := call("POST", "/api/v1/alerts", "alertmanager_config: |\n  route:\n    receiver: none\n  receivers:\n  - name: none\n")
	require.Equal(t, http.StatusCreated, code, body)
	code, body = call("POST", "/prometheus/config/v1/rules/ns", "name: g\ninterval: 1s\nrules:\n- alert: Always\n  expr: vector(1)\n")
	require.Equal(t, http.StatusAccepted, code, body)
	require.Eventually(t, func() bool {
		code, body = call("GET", "/alertmanager/api/v2/alerts", "")
		return code == 200 && strings.Contains(body, `"alertname":"Always"`)
	}, 60*time.Second, 200*time.Millisecond, "%d %s", code, body)
}
