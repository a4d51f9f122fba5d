package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/weft-io/weft/pkg/tlsconfig/tlstest"
)

// serve accepts TLS connections with cfg and completes their handshakes
// until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				if err := c.(*tls.Conn).Handshake(); err != nil {
					t.Log("server handshake:", err)
				}
				if _, err := c.Write([]byte("x")); err != nil {
					t.Log("server write:", err)
				}
				_ = c.Close()
			}()
		}
	}()
	return lis.Addr().String()
}

// dial connects with cfg, reads one byte (so that a server refusing the
// client's certificate after the handshake is seen) and returns the
// server's certificate.
func dial(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// A clean end (EOF) is no refusal.
	if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func roots(t *testing.T, ca *tlstest.CA) *x509.CertPool {
	p, err := loadPool(ca.CertFile)
	require.NoError(t, err)
	return p
}

// A certificate rotated on disk is served from the next handshake on; a
// broken one leaves the previous in use, and is counted.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, dir, "first")
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	sc := ServerConfig{CertFile: certFile, KeyFile: keyFile, MinVersion: "VersionTLS12"}
	require.NoError(t, sc.Validate("http"))
	cfg, err := sc.Build("http", m, nil)
	require.NoError(t, err)
	addr := serve(t, cfg)
	client := &tls.Config{RootCAs: roots(t, ca)}

	got, err := dial(addr, client)
	require.NoError(t, err)
	require.Equal(t, "first", got.Subject.CommonName)

	cert, key := ca.IssuePEM(t, "second")
	require.NoError(t, os.WriteFile(certFile, cert, 0o600))
	require.NoError(t, os.WriteFile(keyFile, key, 0o600))
	got, err = dial(addr, client)
	require.NoError(t, err)
	require.Equal(t, "second", got.Subject.CommonName)
	require.Equal(t, 1.0, testutil.ToFloat64(m.reloads.WithLabelValues("http", "success")))

	// A truncated certificate: the second stays.
	require.NoError(t, os.WriteFile(certFile, cert[:len(cert)/2], 0o600))
	got, err = dial(addr, client)
	require.NoError(t, err)
	require.Equal(t, "second", got.Subject.CommonName)
	require.Equal(t, 1.0, testutil.ToFloat64(m.reloads.WithLabelValues("http", "failure")))
	// Tried once per change of the files, not at every handshake.
	_, err = dial(addr, client)
	require.NoError(t, err)
	require.Equal(t, 1.0, testutil.ToFloat64(m.reloads.WithLabelValues("http", "failure")))

	// Mended: the third is served.
	cert, key = ca.IssuePEM(t, "third")
	require.NoError(t, os.WriteFile(keyFile, key, 0o600))
	require.NoError(t, os.WriteFile(certFile, cert, 0o600))
	got, err = dial(addr, client)
	require.NoError(t, err)
	require.Equal(t, "third", got.Subject.CommonName)
}

// A client that offers at most TLS 1.1 is refused, and the flag refuses
// versions below 1.2.
func TestMinVersion(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, dir, "server")
	sc := ServerConfig{CertFile: certFile, KeyFile: keyFile, MinVersion: "VersionTLS12"}
	cfg, err := sc.Build("http", nil, nil)
	require.NoError(t, err)
	addr := serve(t, cfg)

	_, err = dial(addr, &tls.Config{RootCAs: roots(t, ca), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	require.Error(t, err)
	_, err = dial(addr, &tls.Config{RootCAs: roots(t, ca), MaxVersion: tls.VersionTLS12})
	require.NoError(t, err)

	sc.MinVersion = "VersionTLS11"
	require.ErrorContains(t, sc.Validate("http"), "http.tls-min-version")
}

// With RequireAndVerifyClientCert a client without a certificate, or with
// one signed by another CA, is refused; with the CA's, it is served. The
// default with a client CA lets clients without a certificate in.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	other := tlstest.NewCA(t, dir, "other")
	certFile, keyFile := ca.Issue(t, dir, "server")
	clientCert, clientKey := ca.Issue(t, dir, "client")
	strangerCert, strangerKey := other.Issue(t, dir, "stranger")

	sc := ServerConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: ca.CertFile, ClientAuth: "RequireAndVerifyClientCert", MinVersion: "VersionTLS12"}
	require.NoError(t, sc.Validate("grpc"))
	cfg, err := sc.Build("grpc", nil, nil)
	require.NoError(t, err)
	addr := serve(t, cfg)

	_, err = dial(addr, &tls.Config{RootCAs: roots(t, ca)})
	require.Error(t, err)

	cc := ClientConfig{CAFile: ca.CertFile, CertFile: strangerCert, KeyFile: strangerKey}
	stranger, err := cc.Build("grpc-client", nil, nil)
	require.NoError(t, err)
	_, err = dial(addr, stranger)
	require.Error(t, err)

	cc = ClientConfig{CAFile: ca.CertFile, CertFile: clientCert, KeyFile: clientKey}
	client, err := cc.Build("grpc-client", nil, nil)
	require.NoError(t, err)
	got, err := dial(addr, client)
	require.NoError(t, err)
	require.Equal(t, "server", got.Subject.CommonName)

	// Optional client certificates: no certificate is fine, a wrong one
	// is not.
	sc.ClientAuth = ""
	cfg, err = sc.Build("grpc", nil, nil)
	require.NoError(t, err)
	addr = serve(t, cfg)
	_, err = dial(addr, &tls.Config{RootCAs: roots(t, ca)})
	require.NoError(t, err)
	_, err = dial(addr, stranger)
	require.Error(t, err)
}

// A client given another CA than the one that signed the server refuses
// it, saying why.
func TestWrongCA(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	other := tlstest.NewCA(t, dir, "other")
	certFile, keyFile := ca.Issue(t, dir, "server")
	sc := ServerConfig{CertFile: certFile, KeyFile: keyFile, MinVersion: "VersionTLS12"}
	cfg, err := sc.Build("http", nil, nil)
	require.NoError(t, err)
	addr := serve(t, cfg)
	cc := ClientConfig{CAFile: other.CertFile}
	client, err := cc.Build("grpc-client", nil, nil)
	require.NoError(t, err)
	_, err = dial(addr, client)
	require.ErrorContains(t, err, "certificate signed by unknown authority")
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  ServerConfig
		want string
	}{
		{ServerConfig{CertFile: "c", MinVersion: "VersionTLS12"}, "go together"},
		{ServerConfig{CertFile: "c", KeyFile: "k", ClientAuth: "RequireAndVerifyClientCert", MinVersion: "VersionTLS12"}, "needs grpc.tls-client-ca-file"},
		{ServerConfig{CertFile: "c", KeyFile: "k", ClientAuth: "Maybe", MinVersion: "VersionTLS12"}, "is not one of"},
		{ServerConfig{ClientCAFile: "ca", MinVersion: "VersionTLS12"}, "need grpc.tls-cert-file"},
	} {
		err := c.cfg.Validate("grpc")
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), c.want), err.Error())
	}
}

// The client CA file is read again when it changes: a client signed by a
// CA added to it is served from the next handshake on, one signed by a CA
// taken out of it is refused; a broken file leaves the previous CAs in
// use, and is counted.
func TestClientCARotation(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	next := tlstest.NewCA(t, dir, "next")
	certFile, keyFile := ca.Issue(t, dir, "server")
	oldCert, oldKey := ca.Issue(t, dir, "old-client")
	newCert, newKey := next.Issue(t, dir, "new-client")
	caPEM, err := os.ReadFile(ca.CertFile)
	require.NoError(t, err)
	nextPEM, err := os.ReadFile(next.CertFile)
	require.NoError(t, err)
	clientCAFile := filepath.Join(dir, "client-ca.pem")
	require.NoError(t, os.WriteFile(clientCAFile, caPEM, 0o600))

	for _, policy := range []string{"RequireAndVerifyClientCert", ""} {
		t.Run("policy="+policy, func(t *testing.T) {
			require.NoError(t, os.WriteFile(clientCAFile, caPEM, 0o600))
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			sc := ServerConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: clientCAFile, ClientAuth: policy, MinVersion: "VersionTLS12"}
			require.NoError(t, sc.Validate("grpc"))
			cfg, err := sc.Build("grpc", m, nil)
			require.NoError(t, err)
			addr := serve(t, cfg)
			client := func(cert, key string) *tls.Config {
				cc := ClientConfig{CAFile: ca.CertFile, CertFile: cert, KeyFile: key}
				c, err := cc.Build("grpc-client", nil, nil)
				require.NoError(t, err)
				return c
			}
			oldClient, newClient := client(oldCert, oldKey), client(newCert, newKey)

			_, err = dial(addr, oldClient)
			require.NoError(t, err)
			_, err = dial(addr, newClient)
			require.Error(t, err, "a client of a CA not in the file")
			_, err = dial(addr, &tls.Config{RootCAs: roots(t, ca)})
			if policy == "" {
				require.NoError(t, err, "no certificate, where none is asked for")
			} else {
				require.Error(t, err, "no certificate, where one is required")
			}

			// Both CAs: both clients.
			require.NoError(t, os.WriteFile(clientCAFile, append(append([]byte{}, caPEM...), nextPEM...), 0o600))
			_, err = dial(addr, oldClient)
			require.NoError(t, err)
			_, err = dial(addr, newClient)
			require.NoError(t, err)
			require.Equal(t, 1.0, testutil.ToFloat64(m.reloads.WithLabelValues("grpc-client-ca", "success")))

			// A broken file: the two CAs stay.
			require.NoError(t, os.WriteFile(clientCAFile, []byte("not a certificate\n"), 0o600))
			_, err = dial(addr, newClient)
			require.NoError(t, err)
			require.Equal(t, 1.0, testutil.ToFloat64(m.reloads.WithLabelValues("grpc-client-ca", "failure")))

			// The old CA taken out: its client is refused.
			require.NoError(t, os.WriteFile(clientCAFile, nextPEM, 0o600))
			_, err = dial(addr, oldClient)
			require.Error(t, err, "a client of a CA taken out of the file")
			_, err = dial(addr, newClient)
			require.NoError(t, err)
			require.Positive(t, testutil.ToFloat64(m.expiry.WithLabelValues("grpc-client-ca")))
		})
	}
}
