package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// versions are the minimum TLS versions a server or client may ask for;
// older ones are refused, as they are broken.
var versions = map[string]uint16{
	"VersionTLS12": tls.VersionTLS12,
	"VersionTLS13": tls.VersionTLS13,
}

// clientAuths are the values of -<prefix>.tls-client-auth, Go's names as in
// Prometheus' web configuration.
var clientAuths = map[string]tls.ClientAuthType{
	"NoClientCert":               tls.NoClientCert,
	"RequestClientCert":          tls.RequestClientCert,
	"RequireAnyClientCert":       tls.RequireAnyClientCert,
	"VerifyClientCertIfGiven":    tls.VerifyClientCertIfGiven,
	"RequireAndVerifyClientCert": tls.RequireAndVerifyClientCert,
}

func keys[V any](m map[string]V) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// ServerConfig is the TLS of one server. Without a certificate the server
// speaks plain text.
type ServerConfig struct {
	CertFile     string `yaml:"tls_cert_file"`
	KeyFile      string `yaml:"tls_key_file"`
	ClientCAFile string `yaml:"tls_client_ca_file"`
	ClientAuth   string `yaml:"tls_client_auth"`
	MinVersion   string `yaml:"tls_min_version"`
}

// RegisterFlagsWithPrefix registers -<prefix>.tls-* flags; what names the
// server in the help ("HTTP", "gRPC").
func (c *ServerConfig) RegisterFlagsWithPrefix(prefix, what string, f *flag.FlagSet) {
	f.StringVar(&c.CertFile, prefix+".tls-cert-file", "", "PEM certificate (chain) of the "+what+" server; with -"+prefix+".tls-key-file it serves TLS. Reloaded when the file changes.")
	f.StringVar(&c.KeyFile, prefix+".tls-key-file", "", "PEM private key of -"+prefix+".tls-cert-file.")
	f.StringVar(&c.ClientCAFile, prefix+".tls-client-ca-file", "", "PEM CA certificates that sign the client certificates the "+what+" server accepts (mTLS); reloaded when the file changes. Without it (and without -"+prefix+".tls-client-auth), client certificates are not asked for.")
	f.StringVar(&c.ClientAuth, prefix+".tls-client-auth", "", "Client certificate policy of the "+what+" server: "+keys(clientAuths)+". Empty: VerifyClientCertIfGiven with -"+prefix+".tls-client-ca-file, else NoClientCert.")
	f.StringVar(&c.MinVersion, prefix+".tls-min-version", "VersionTLS12", "Oldest TLS version the "+what+" server accepts: "+keys(versions)+".")
}

// Enabled reports whether the server serves TLS.
func (c *ServerConfig) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

func (c *ServerConfig) clientAuth() tls.ClientAuthType {
	if c.ClientAuth != "" {
		return clientAuths[c.ClientAuth]
	}
	if c.ClientCAFile != "" {
		return tls.VerifyClientCertIfGiven
	}
	return tls.NoClientCert
}

// Validate reports every setting that cannot work; prefix names the flags.
func (c *ServerConfig) Validate(prefix string) error {
	var errs []error
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, fmt.Errorf("%s.tls-cert-file and %s.tls-key-file go together", prefix, prefix))
	}
	if _, ok := versions[c.MinVersion]; !ok {
		errs = append(errs, fmt.Errorf("%s.tls-min-version %q is not one of %s", prefix, c.MinVersion, keys(versions)))
	}
	if c.ClientAuth != "" {
		ca, ok := clientAuths[c.ClientAuth]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s.tls-client-auth %q is not one of %s", prefix, c.ClientAuth, keys(clientAuths)))
		case (ca == tls.VerifyClientCertIfGiven || ca == tls.RequireAndVerifyClientCert) && c.ClientCAFile == "":
			errs = append(errs, fmt.Errorf("%s.tls-client-auth=%s verifies client certificates: it needs %s.tls-client-ca-file", prefix, c.ClientAuth, prefix))
		}
	}
	if !c.Enabled() && (c.ClientCAFile != "" || c.ClientAuth != "") {
		errs = append(errs, fmt.Errorf("%s.tls-client-ca-file and %s.tls-client-auth need %s.tls-cert-file", prefix, prefix, prefix))
	}
	return errors.Join(errs...)
}

// Build returns the server's TLS configuration, or nil when it serves plain
// text. name labels its metrics and logs ("http", "grpc"; its client CA
// name+"-client-ca"). The certificate and the client CA are read again
// when their files change (watched).
func (c *ServerConfig) Build(name string, m *Metrics, logger *slog.Logger) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	k, err := NewKeeper(name, c.CertFile, c.KeyFile, m, logger)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     versions[c.MinVersion],
		GetCertificate: k.GetCertificate,
		ClientAuth:     c.clientAuth(),
	}
	if c.ClientCAFile == "" {
		return cfg, nil
	}
	cas, err := newCAKeeper(name+"-client-ca", c.ClientCAFile, m, logger)
	if err != nil {
		return nil, err
	}
	// Go checks client certificates against CAs fixed in the tls.Config.
	// To check them against the CA file as it is now, the server asks for
	// them without Go's check and checks them itself, as Go would.
	switch cfg.ClientAuth {
	case tls.VerifyClientCertIfGiven:
		cfg.ClientAuth = tls.RequestClientCert
	case tls.RequireAndVerifyClientCert:
		cfg.ClientAuth = tls.RequireAnyClientCert
	default: // not checked: the CAs are only the hint of the request
		cfg.ClientCAs = cas.current()
		return cfg, nil
	}
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return nil // none given, where none is allowed
		}
		return verifyClient(raw, cas.current())
	}
	return cfg, nil
}

// verifyClient checks a client's certificate chain against roots, as Go's
// server does for RequireAndVerifyClientCert.
func verifyClient(raw [][]byte, roots *x509.CertPool) error {
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return fmt.Errorf("tls: failed to parse client certificate: %w", err)
		}
		certs[i] = c
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}

// ClientConfig is the TLS of the clients between roles: the CA that signs
// the servers' certificates, and this process's own certificate for mTLS.
type ClientConfig struct {
	CAFile     string `yaml:"tls_ca_file"`
	CertFile   string `yaml:"tls_client_cert_file"`
	KeyFile    string `yaml:"tls_client_key_file"`
	ServerName string `yaml:"tls_server_name"`
}

// RegisterFlagsWithPrefix registers -<prefix>.tls-ca-file and the others.
func (c *ClientConfig) RegisterFlagsWithPrefix(prefix string, f *flag.FlagSet) {
	f.StringVar(&c.CAFile, prefix+".tls-ca-file", "", "PEM CA certificates that sign the certificates of the other roles' servers (gRPC, and HTTP at an https URL). Setting it, or a client certificate, or -grpc.tls-cert-file, makes the clients between roles use TLS; without it they trust the system's CAs.")
	f.StringVar(&c.CertFile, prefix+".tls-client-cert-file", "", "PEM client certificate that this process presents to the other roles (mTLS). Reloaded when the file changes.")
	f.StringVar(&c.KeyFile, prefix+".tls-client-key-file", "", "PEM private key of -"+prefix+".tls-client-cert-file.")
	f.StringVar(&c.ServerName, prefix+".tls-server-name", "", "Name the other roles' certificates must carry; empty: the host of the address dialled.")
}

// Enabled reports whether this configuration asks for TLS by itself.
func (c *ClientConfig) Enabled() bool { return c.CAFile != "" || c.CertFile != "" }

// Validate reports every setting that cannot work; prefix names the flags.
func (c *ClientConfig) Validate(prefix string) error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return fmt.Errorf("%s.tls-client-cert-file and %s.tls-client-key-file go together", prefix, prefix)
	}
	return nil
}

// Build returns the clients' TLS configuration (TLS 1.2 at least). name
// labels the metrics of the client certificate.
func (c *ClientConfig) Build(name string, m *Metrics, logger *slog.Logger) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	var err error
	if c.CAFile != "" {
		if cfg.RootCAs, err = loadPool(c.CAFile); err != nil {
			return nil, err
		}
	}
	if c.CertFile != "" {
		k, err := NewKeeper(name, c.CertFile, c.KeyFile, m, logger)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = k.GetClientCertificate
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file: %w", err)
	}
	p, _, err := parsePool(b)
	if err != nil {
		return nil, fmt.Errorf("cannot load CA file %s: %w", file, err)
	}
	return p, nil
}
