package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/tenant"
)

// Route is what the classifier of an Authenticator says a request needs.
type Route struct {
	// Open routes need no credentials: status pages (/ready, /metrics),
	// the UI's own files.
	Open bool
	// Scope is the scope a credential needs for the route.
	Scope Scope
	// Federated routes accept several tenants, "a|b", in X-Scope-OrgID
	// (tenant federation of the query API); others accept one.
	Federated bool
}

// Classifier returns the Route of a request, or false for a request no
// rule covers: it is denied, whatever the credential.
type Classifier func(*http.Request) (Route, bool)

// Errors of authentication, at the HTTP edge.
var (
	errNoCredentials = errors.New("no credentials: send Authorization: Bearer <token>, or basic auth (err-weft-auth-unauthenticated)")
	errBadCredential = errors.New("unknown token, or wrong user or password (err-weft-auth-unauthenticated)")
)

// maxFailureDelay bounds the delay of failed logins from one address.
const maxFailureDelay = 5 * time.Second

// Authenticator checks the credentials of requests against the tokens
// file, which it reloads while it runs (a dskit service).
type Authenticator struct {
	services.Service
	cfg    Config
	logger *slog.Logger

	tbl     atomic.Pointer[table]
	gen     atomic.Uint64 // bumped at each reload: cached verdicts of older files are stale
	lastRaw []byte        // the file last loaded, to skip unchanged polls
	// lastBad is the broken file of the last failed reload, and lastBadErr
	// its error: a broken file is counted and logged once, not at every poll.
	lastBad    []byte
	lastBadErr error

	// bcryptSlots bounds the bcrypt comparisons running at once, so
	// that a flood of wrong passwords cannot take every core; verified
	// credentials come from the cache and never wait for a slot.
	bcryptSlots chan struct{}

	// dummy is a bcrypt hash that an unknown user's password is
	// compared with, so that an unknown user costs what a known one does.
	dummy []byte

	// internal are in-memory users of the process's own calls to itself
	// (the ruler's alerts to its Alertmanager), by user: set before it
	// serves, read only after.
	internal map[string]internalUser

	cacheMu sync.Mutex
	cache   map[[32]byte]cacheEntry

	failMu   sync.Mutex
	failures map[string]*failState // by source address

	reloadFailures prometheus.Counter
	lastSuccess    prometheus.Gauge
	lastOK         prometheus.Gauge
	failed         *prometheus.CounterVec
	denied         *prometheus.CounterVec
	passwordChecks prometheus.Counter
}

type cacheEntry struct {
	cred    *Credential
	gen     uint64
	expires time.Time
}

type internalUser struct {
	digest [32]byte // SHA-256 of the password: a random one, not guessable, so no bcrypt needed
	cred   *Credential
}

type failState struct {
	count int
	last  time.Time
}

// New loads cfg.TokensFile, which must load, and returns an Authenticator
// that polls it every cfg.ReloadPeriod once started.
func New(cfg Config, reg prometheus.Registerer, logger *slog.Logger) (*Authenticator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{
		cfg: cfg, logger: logger,
		cache:    map[[32]byte]cacheEntry{},
		internal: map[string]internalUser{},
		// Half the cores, at least one.
		bcryptSlots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		failures:    map[string]*failState{},
		reloadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_auth_tokens_file_reload_failures_total",
			Help: "Reloads of the tokens file that failed (unreadable or invalid file); the previous file stays in force.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weft_auth_tokens_file_last_reload_success_timestamp_seconds",
			Help: "When the tokens file in force was loaded.",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weft_auth_tokens_file_last_reload_successful",
			Help: "1 if the last check of the tokens file loaded it (or found it unchanged), 0 if it failed.",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_auth_failed_logins_total",
			Help: "Requests refused with 401: reason missing (no credentials) or invalid (unknown token, wrong user or password).",
		}, []string{"reason"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_auth_denied_requests_total",
			Help: "Authenticated requests refused with 403: reason scope (the credential lacks the route's scope), tenant (a tenant it does not hold) or route (no scope covers the path).",
		}, []string{"reason"}),
		passwordChecks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_auth_password_checks_total",
			Help: "bcrypt comparisons of basic-auth passwords (the cache of verified credentials spares the others).",
		}),
	}
	if reg != nil {
		reg.MustRegister(a.reloadFailures, a.lastSuccess, a.lastOK, a.failed, a.denied, a.passwordChecks)
	}
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	dummy, err := bcrypt.GenerateFromPassword(seed[:], bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("cannot prepare the password check: %w", err)
	}
	a.dummy = dummy
	if err := a.reload(); err != nil {
		return nil, err
	}
	a.Service = services.NewTimerService(cfg.ReloadPeriod, nil, func(context.Context) error {
		// A bad file is logged and counted; the service goes on with
		// the previous one.
		_ = a.reload()
		return nil
	}, nil)
	return a, nil
}

// AddInternalUser adds a basic-auth user that exists in this process
// only, for its calls to itself, with a random password that it returns;
// it holds every tenant. Call it before the Authenticator serves.
func (a *Authenticator) AddInternalUser(user string, scopes ...Scope) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	pass := hex.EncodeToString(b[:])
	a.internal[user] = internalUser{
		digest: sha256.Sum256([]byte(pass)),
		cred:   &Credential{Name: "internal user " + user, BasicUser: user, Tenants: []string{AnyTenant}, Scopes: scopes},
	}
	return pass
}

// reload loads the tokens file if it changed. On failure the table in
// force stays.
func (a *Authenticator) reload() error {
	raw, err := os.ReadFile(a.cfg.TokensFile)
	if err == nil && a.tbl.Load() != nil && bytes.Equal(raw, a.lastRaw) {
		a.lastOK.Set(1)
		return nil
	}
	if err == nil && a.lastBad != nil && bytes.Equal(raw, a.lastBad) {
		// The same broken file as at the last poll: counted and logged
		// once, not at every poll.
		return a.lastBadErr
	}
	var f *File
	if err == nil {
		f, err = ParseFile(raw)
	}
	if err != nil {
		err = fmt.Errorf("cannot load the tokens file %s: %w", a.cfg.TokensFile, err)
		if raw != nil {
			a.lastBad, a.lastBadErr = raw, err
		}
		a.reloadFailures.Inc()
		a.lastOK.Set(0)
		if a.tbl.Load() != nil {
			a.logger.Error("the previous tokens file stays in force", "err", err)
		}
		return err
	}
	a.tbl.Store(newTable(f))
	a.gen.Add(1)
	a.lastRaw, a.lastBad, a.lastBadErr = raw, nil, nil
	a.lastOK.Set(1)
	a.lastSuccess.SetToCurrentTime()
	a.logger.Info("loaded the tokens file", "file", a.cfg.TokensFile, "credentials", len(f.Credentials))
	return nil
}

// Authenticate returns the credential of r, or an error answered 401.
func (a *Authenticator) Authenticate(r *http.Request) (*Credential, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errNoCredentials
	}
	// The generation before the table: a reload in between makes the
	// verdict cached below stale, never an old table's verdict fresh.
	gen := a.gen.Load()
	tbl := a.tbl.Load()
	if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		// The map lookup's timing can tell at most something of the
		// SHA-256 of a token, never the token; the comparison itself is
		// constant-time.
		d := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if c := tbl.byDigest[string(d[:])]; c != nil && subtle.ConstantTimeCompare(c.digest, d[:]) == 1 {
			return c, nil
		}
		return nil, errBadCredential
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil, errBadCredential
	}
	if iu, ok := a.internal[user]; ok {
		d := sha256.Sum256([]byte(pass))
		if subtle.ConstantTimeCompare(iu.digest[:], d[:]) == 1 {
			return iu.cred, nil
		}
		return nil, errBadCredential
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	if a.cfg.CacheTTL > 0 {
		a.cacheMu.Lock()
		e, ok := a.cache[key]
		a.cacheMu.Unlock()
		if ok && e.gen == gen && time.Now().Before(e.expires) {
			return e.cred, nil
		}
	}
	c := tbl.byUser[user]
	hash := a.dummy
	if c != nil {
		hash = []byte(c.PasswordBcrypt)
	}
	select {
	case a.bcryptSlots <- struct{}{}:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	a.passwordChecks.Inc()
	// bcrypt compares in constant time; an unknown user pays the same.
	err := bcrypt.CompareHashAndPassword(hash, []byte(pass))
	<-a.bcryptSlots
	if err != nil || c == nil {
		return nil, errBadCredential
	}
	a.remember(key, cacheEntry{cred: c, gen: gen, expires: time.Now().Add(a.cfg.CacheTTL)})
	return c, nil
}

// remember caches a verified credential, keyed by a hash of what was
// presented; when the cache is full it drops the expired entries, then
// any.
func (a *Authenticator) remember(key [32]byte, e cacheEntry) {
	if a.cfg.CacheTTL <= 0 || a.cfg.CacheSize <= 0 {
		return
	}
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	if len(a.cache) >= a.cfg.CacheSize {
		now := time.Now()
		for k, old := range a.cache {
			if now.After(old.expires) || old.gen != e.gen {
				delete(a.cache, k)
			}
		}
		for k := range a.cache {
			if len(a.cache) < a.cfg.CacheSize {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[key] = e
}

// failureDelay records a failed login from source and returns how long
// to hold its answer: FailureDelay, doubled by each failure of the last
// minute, up to maxFailureDelay. Valid credentials never come here.
func (a *Authenticator) failureDelay(source string) time.Duration {
	if a.cfg.FailureDelay <= 0 {
		return 0
	}
	a.failMu.Lock()
	defer a.failMu.Unlock()
	now := time.Now()
	if len(a.failures) > 10000 {
		for k, f := range a.failures {
			if now.Sub(f.last) > time.Minute {
				delete(a.failures, k)
			}
		}
		if len(a.failures) > 10000 {
			clear(a.failures)
		}
	}
	f := a.failures[source]
	if f == nil || now.Sub(f.last) > time.Minute {
		f = &failState{}
		a.failures[source] = f
	}
	f.last = now
	d := a.cfg.FailureDelay << min(f.count, 10)
	f.count++
	return min(d, maxFailureDelay)
}

func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Wrap returns next behind authentication: classify says what each
// request needs. A request that gets through carries the tenant its
// credential gives in X-Scope-OrgID: the credential's only tenant when
// the request names none, else the named ones, which it must hold.
func (a *Authenticator) Wrap(classify Classifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, known := classify(r)
		if known && route.Open {
			next.ServeHTTP(w, r)
			return
		}
		cred, err := a.Authenticate(r)
		if err != nil && r.Context().Err() != nil {
			// The client left while its password waited for a check.
			httpapi.WriteError(w, err)
			return
		}
		if err != nil {
			if errors.Is(err, errNoCredentials) {
				a.failed.WithLabelValues("missing").Inc()
			} else {
				a.failed.WithLabelValues("invalid").Inc()
				if d := a.failureDelay(sourceOf(r)); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-t.C:
					case <-r.Context().Done():
					}
					t.Stop()
				}
			}
			w.Header().Add("WWW-Authenticate", `Bearer realm="weft"`)
			// A browser opens its own login dialog on a Basic challenge:
			// right for a page it navigates to (a status page), wrong
			// for the web UI's API calls, which have their own login.
			if m := r.Header.Get("Sec-Fetch-Mode"); m == "" || m == "navigate" {
				w.Header().Add("WWW-Authenticate", `Basic realm="weft", charset="UTF-8"`)
			}
			httpapi.WriteError(w, httpapi.Errorf(http.StatusUnauthorized, "%w", err))
			return
		}
		if !known {
			a.denied.WithLabelValues("route").Inc()
			httpapi.WriteError(w, httpapi.Errorf(http.StatusForbidden, "%s %s is not open to any scope (err-weft-auth-forbidden)", r.Method, r.URL.Path))
			return
		}
		if !cred.Has(route.Scope) {
			a.denied.WithLabelValues("scope").Inc()
			httpapi.WriteError(w, httpapi.Errorf(http.StatusForbidden, "%s lacks the %s scope that %s %s needs (err-weft-auth-forbidden)", cred, route.Scope, r.Method, r.URL.Path))
			return
		}
		if err := a.setTenant(r, cred, route); err != nil {
			a.denied.WithLabelValues("tenant").Inc()
			httpapi.WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setTenant checks or sets the X-Scope-OrgID of r for cred.
func (a *Authenticator) setTenant(r *http.Request, cred *Credential, route Route) error {
	h := r.Header.Get(tenant.Header)
	if h == "" {
		if len(cred.Tenants) == 1 && cred.Tenants[0] != AnyTenant {
			r.Header.Set(tenant.Header, cred.Tenants[0])
		}
		// Otherwise the handler asks for X-Scope-OrgID, if it needs a
		// tenant: a credential of several tenants must choose.
		return nil
	}
	ids := strings.Split(h, tenant.FederationSeparator)
	if len(ids) > 1 && !route.Federated {
		return httpapi.Errorf(http.StatusBadRequest, "%s %s reads one tenant, not %q: only the query API reads several, with -tenant-federation.enabled (err-weft-federation-not-allowed)", r.Method, r.URL.Path, h)
	}
	for _, id := range ids {
		if !cred.HoldsTenant(id) {
			return httpapi.Errorf(http.StatusForbidden, "%s does not hold the tenant %q (err-weft-auth-tenant-forbidden)", cred, id)
		}
	}
	return nil
}
