package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
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
			Help: "Loads of a TLS certificate after its files changed, by certificate (http, grpc, grpc-client; http-client-ca, grpc-client-ca: the CAs a server checks client certificates with) and result (success, failure; on failure the previous certificate stays in use).",
		}, []string{"certificate", "result"}),
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_tls_certificate_expiry_timestamp_seconds",
			Help: "When the TLS certificate in use expires (Unix time), by certificate; for a CA file, its first certificate to expire.",
		}, []string{"certificate"}),
	}
	if reg != nil {
		reg.MustRegister(m.reloads, m.expiry)
	}
	return m
}

// stamp identifies a version of a file.
type stamp struct {
	mod  time.Time
	size int64
}

func statFiles(files []string) ([]stamp, error) {
	out := make([]stamp, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		out[i] = stamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

// watched holds a value parsed from files and parses them again when they
// change: each use stats them (cheap next to a handshake), and reads them
// when a size or time changed, or changed in the last seconds (a time's
// granularity is coarse), so a rotated file is used from the next
// connection on. Files that do not parse (a key not yet written, a broken
// file) leave the previous value in use, and are tried again when they
// change again.
type watched[T any] struct {
	name   string
	files  []string
	parse  func(pems [][]byte) (T, time.Time, error) // the value and when it expires
	m      *Metrics
	logger *slog.Logger

	mu    sync.Mutex
	val   T       // guarded by mu
	tried []stamp // the files last loaded or tried; guarded by mu
	// triedPEM are the contents last loaded or tried: a file rewritten
	// with the same size within the file system's timestamp granularity
	// (milliseconds) keeps its stamp, so recent files are compared by
	// content; guarded by mu.
	triedPEM []byte
}

// settle is how long after a change files are compared by content.
const settle = 2 * time.Second

// newWatched reads and parses the files; it fails when they do not load.
// name labels the metrics and log lines.
func newWatched[T any](name string, files []string, parse func([][]byte) (T, time.Time, error), m *Metrics, logger *slog.Logger) (*watched[T], error) {
	if m == nil {
		m = NewMetrics(nil)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &watched[T]{name: name, files: files, parse: parse, m: m, logger: logger}
	st, err := statFiles(files)
	if err != nil {
		return nil, fmt.Errorf("cannot load the %s TLS certificate: %w", name, err)
	}
	pems, err := w.read()
	if err != nil {
		return nil, err
	}
	v, err := w.load(pems)
	if err != nil {
		return nil, err
	}
	w.val, w.tried, w.triedPEM = v, st, bytes.Join(pems, nil)
	return w, nil
}

func (w *watched[T]) read() ([][]byte, error) {
	pems := make([][]byte, len(w.files))
	for i, f := range w.files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("cannot load the %s TLS certificate: %w", w.name, err)
		}
		pems[i] = b
	}
	return pems, nil
}

func (w *watched[T]) load(pems [][]byte) (T, error) {
	v, expiry, err := w.parse(pems)
	if err != nil {
		return v, fmt.Errorf("cannot load the %s TLS certificate %s: %w", w.name, w.files[0], err)
	}
	if !expiry.IsZero() {
		w.m.expiry.WithLabelValues(w.name).Set(float64(expiry.Unix()))
	}
	return v, nil
}

// current returns the value, parsed again first if its files changed.
func (w *watched[T]) current() T {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, err := statFiles(w.files)
	if err != nil {
		// A file that is missing for a moment (being replaced) keeps the
		// value in use.
		return w.val
	}
	recent := false
	for _, s := range st {
		recent = recent || time.Since(s.mod) < settle
	}
	if slices.Equal(st, w.tried) && !recent {
		return w.val
	}
	pems, err := w.read()
	if err != nil {
		return w.val
	}
	all := bytes.Join(pems, nil)
	w.tried = st
	if bytes.Equal(all, w.triedPEM) {
		return w.val
	}
	w.triedPEM = all
	v, err := w.load(pems)
	if err != nil {
		w.m.reloads.WithLabelValues(w.name, "failure").Inc()
		w.logger.Error("cannot reload the TLS certificate; keeping the previous one", "certificate", w.name, "err", err)
		return w.val
	}
	w.m.reloads.WithLabelValues(w.name, "success").Inc()
	w.logger.Info("reloaded the TLS certificate", "certificate", w.name, "file", w.files[0])
	w.val = v
	return v
}

// Keeper holds a certificate read from a pair of files and reads them again
// when they change (watched).
type Keeper struct{ w *watched[*tls.Certificate] }

// NewKeeper reads the certificate; it fails when the files do not load.
// name labels the metrics and log lines.
func NewKeeper(name, certFile, keyFile string, m *Metrics, logger *slog.Logger) (*Keeper, error) {
	w, err := newWatched(name, []string{certFile, keyFile}, func(pems [][]byte) (*tls.Certificate, time.Time, error) {
		cert, err := tls.X509KeyPair(pems[0], pems[1])
		if err != nil {
			return nil, time.Time{}, err
		}
		var expiry time.Time
		if cert.Leaf != nil {
			expiry = cert.Leaf.NotAfter
		}
		return &cert, expiry, nil
	}, m, logger)
	if err != nil {
		return nil, err
	}
	return &Keeper{w}, nil
}

// GetCertificate is tls.Config.GetCertificate for a server.
func (k *Keeper) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.w.current(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate for a client.
func (k *Keeper) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.w.current(), nil
}

// newCAKeeper watches a file of PEM CA certificates; the expiry it
// reports is the earliest of its certificates'.
func newCAKeeper(name, file string, m *Metrics, logger *slog.Logger) (*watched[*x509.CertPool], error) {
	return newWatched(name, []string{file}, func(pems [][]byte) (*x509.CertPool, time.Time, error) {
		return parsePool(pems[0])
	}, m, logger)
}

// parsePool returns the CA certificates of a PEM file as a pool, and the
// earliest time one of them expires.
func parsePool(b []byte) (*x509.CertPool, time.Time, error) {
	p := x509.NewCertPool()
	var expiry time.Time
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, time.Time{}, err
		}
		p.AddCert(c)
		if expiry.IsZero() || c.NotAfter.Before(expiry) {
			expiry = c.NotAfter
		}
	}
	if expiry.IsZero() {
		return nil, time.Time{}, errors.New("no PEM certificate in it")
	}
	return p, expiry, nil
}
