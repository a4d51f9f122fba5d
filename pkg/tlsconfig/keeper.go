package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count the certificate reloads of every Keeper of a process.
type Metrics struct {
	reloads *prometheus.CounterVec
	expiry  *prometheus.GaugeVec
}

// NewMetrics registers the metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_tls_certificate_reloads_total",
			Help: "Loads of a TLS certificate after its files changed, by certificate (http, grpc, grpc-client) and result (success, failure; on failure the previous certificate stays in use).",
		}, []string{"certificate", "result"}),
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_tls_certificate_expiry_timestamp_seconds",
			Help: "When the TLS certificate in use expires (Unix time), by certificate.",
		}, []string{"certificate"}),
	}
	if reg != nil {
		reg.MustRegister(m.reloads, m.expiry)
	}
	return m
}

// stamp identifies a version of the certificate and key files.
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func statFiles(cert, key string) (stamp, error) {
	c, err := os.Stat(cert)
	if err != nil {
		return stamp{}, err
	}
	k, err := os.Stat(key)
	if err != nil {
		return stamp{}, err
	}
	return stamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// Keeper holds a certificate read from a pair of files and reads them again
// when they change: each handshake stats them (cheap next to a handshake),
// and reads them when their size or time changed, or changed in the last
// seconds (a time's granularity is coarse), so a rotated certificate is
// served from the next connection on. A pair
// that does not load (a key not yet written, a broken file) leaves the
// previous certificate in use, and is tried again when the files change
// again.
type Keeper struct {
	name, certFile, keyFile string
	m                       *Metrics
	logger                  *slog.Logger

	mu    sync.Mutex
	cert  *tls.Certificate // guarded by mu
	tried stamp            // the files last loaded or tried; guarded by mu
	// triedPEM are the contents last loaded or tried: a file rewritten
	// with the same size within the file system's timestamp granularity
	// (milliseconds) keeps its stamp, so recent files are compared by
	// content; guarded by mu.
	triedPEM []byte
}

// settle is how long after a change files are compared by content.
const settle = 2 * time.Second

// NewKeeper reads the certificate; it fails when the files do not load.
// name labels the metrics and log lines.
func NewKeeper(name, certFile, keyFile string, m *Metrics, logger *slog.Logger) (*Keeper, error) {
	if m == nil {
		m = NewMetrics(nil)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	k := &Keeper{name: name, certFile: certFile, keyFile: keyFile, m: m, logger: logger}
	st, err := statFiles(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot load the %s TLS certificate: %w", name, err)
	}
	certPEM, keyPEM, err := k.read()
	if err != nil {
		return nil, err
	}
	cert, err := k.load(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	k.cert, k.tried, k.triedPEM = cert, st, append(certPEM, keyPEM...)
	return k, nil
}

func (k *Keeper) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(k.certFile); err != nil {
		return nil, nil, fmt.Errorf("cannot load the %s TLS certificate: %w", k.name, err)
	}
	if keyPEM, err = os.ReadFile(k.keyFile); err != nil {
		return nil, nil, fmt.Errorf("cannot load the %s TLS certificate: %w", k.name, err)
	}
	return certPEM, keyPEM, nil
}

func (k *Keeper) load(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cannot load the %s TLS certificate %s: %w", k.name, k.certFile, err)
	}
	if cert.Leaf != nil {
		k.m.expiry.WithLabelValues(k.name).Set(float64(cert.Leaf.NotAfter.Unix()))
	}
	return &cert, nil
}

// current returns the certificate, read again first if its files changed.
func (k *Keeper) current() *tls.Certificate {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, err := statFiles(k.certFile, k.keyFile)
	if err != nil {
		// A file that is missing for a moment (being replaced) keeps the
		// certificate in use.
		return k.cert
	}
	recent := time.Since(st.certMod) < settle || time.Since(st.keyMod) < settle
	if st == k.tried && !recent {
		return k.cert
	}
	certPEM, keyPEM, err := k.read()
	if err != nil {
		return k.cert
	}
	both := append(certPEM, keyPEM...)
	k.tried = st
	if bytes.Equal(both, k.triedPEM) {
		return k.cert
	}
	k.triedPEM = both
	cert, err := k.load(certPEM, keyPEM)
	if err != nil {
		k.m.reloads.WithLabelValues(k.name, "failure").Inc()
		k.logger.Error("cannot reload the TLS certificate; keeping the previous one", "certificate", k.name, "err", err)
		return k.cert
	}
	k.m.reloads.WithLabelValues(k.name, "success").Inc()
	k.logger.Info("reloaded the TLS certificate", "certificate", k.name, "file", k.certFile)
	k.cert = cert
	return cert
}

// GetCertificate is tls.Config.GetCertificate for a server.
func (k *Keeper) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.current(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate for a client.
func (k *Keeper) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.current(), nil
}
