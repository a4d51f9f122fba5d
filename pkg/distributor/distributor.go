package distributor

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	prw "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"golang.org/x/time/rate"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/remotewrite"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// Config of the distributor.
type Config struct {
	MaxRecvMsgSize       int    `yaml:"max_recv_msg_size"`
	NameValidationScheme string `yaml:"name_validation_scheme"`
	// RemoteTimeout bounds one push to one ingester in distributed mode.
	RemoteTimeout time.Duration `yaml:"remote_timeout"`
	// HATracker keeps the elected replicas of HA pairs.
	HATracker HATrackerConfig `yaml:"ha_tracker"`
	// InstanceLimits protect this distributor whatever the tenants do.
	InstanceLimits InstanceLimits `yaml:"instance_limits"`
}

// RegisterFlags registers the distributor flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.MaxRecvMsgSize, "distributor.max-recv-msg-size", 100<<20, "Largest remote-write request accepted, in bytes, both as sent and after snappy decompression.")
	f.DurationVar(&c.RemoteTimeout, "distributor.remote-timeout", 5*time.Second, "How long a push to one ingester may take (distributed mode).")
	c.HATracker.RegisterFlags(f)
	c.InstanceLimits.RegisterFlags(f)
	f.StringVar(&c.NameValidationScheme, "validation.name-validation-scheme", "utf8", "Which metric and label names are valid: utf8 (any valid UTF-8, as Prometheus 3) or legacy ([a-zA-Z_:][a-zA-Z0-9_:]*).")
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if c.MaxRecvMsgSize <= 0 {
		return errors.New("distributor.max-recv-msg-size must be positive")
	}
	if _, err := c.scheme(); err != nil {
		return err
	}
	if err := c.InstanceLimits.Validate(); err != nil {
		return err
	}
	return c.HATracker.Validate()
}

func (c *Config) scheme() (model.ValidationScheme, error) {
	switch c.NameValidationScheme {
	case "utf8", "":
		return model.UTF8Validation, nil
	case "legacy":
		return model.LegacyValidation, nil
	}
	return 0, fmt.Errorf("unknown validation.name-validation-scheme %q: use utf8 or legacy", c.NameValidationScheme)
}

// Distributor is the push endpoint.
type Distributor struct {
	cfg      Config
	scheme   model.ValidationScheme
	limits   *limits.Overrides
	pusher   wire.Pusher
	resolver tenant.Resolver
	logger   *slog.Logger
	now      func() time.Time

	decoders sync.Pool // *remotewrite.Decoder
	requests sync.Pool // *wire.PushRequest
	bodies   sync.Pool // *bytes.Buffer
	// converters holds Prometheus' OTLP translators, which keep caches
	// between requests.
	converters sync.Pool // *prw.PrometheusConverter
	deltas     deltaConverters

	ha *HATracker // nil: no HA deduplication
	// distributors counts the healthy distributors that share each
	// tenant's ingestion rate (the global strategy); nil: this one alone.
	distributors func() int

	inflight *inflight

	limMu    sync.Mutex
	limiters map[string]*tenantRate // guarded by limMu

	received  *prometheus.CounterVec
	discarded *prometheus.CounterVec
	requestsC *prometheus.CounterVec
	latency   prometheus.Histogram
	// otlpWarnings counts what Prometheus' OTLP translator warns about.
	otlpWarnings *prometheus.CounterVec
	haDropped    *prometheus.CounterVec
}

// Option configures a Distributor.
type Option func(*Distributor)

// WithHATracker deduplicates the pushes of the HA pairs of the tenants
// with accept_ha_samples through t. Without it those tenants' pushes are
// stored as sent.
func WithHATracker(t *HATracker) Option { return func(d *Distributor) { d.ha = t } }

// WithDistributors makes the tenants' ingestion rates and bursts figures
// for the whole cluster: each distributor enforces rate/n and burst/n,
// where n (at least 1) is what count returns, the number of healthy
// distributors. It is called on every push: keep it cheap.
func WithDistributors(count func() int) Option {
	return func(d *Distributor) { d.distributors = count }
}

// New returns a distributor that validates pushes and passes them to pusher.
func New(cfg Config, lim *limits.Overrides, pusher wire.Pusher, resolver tenant.Resolver, reg prometheus.Registerer, logger *slog.Logger, opts ...Option) (*Distributor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	scheme, _ := cfg.scheme()
	d := &Distributor{
		cfg: cfg, scheme: scheme, limits: lim, pusher: pusher, resolver: resolver,
		logger: logutil.OrNop(logger), now: time.Now,
		limiters: map[string]*tenantRate{},
	}
	for _, o := range opts {
		o(d)
	}
	d.decoders.New = func() any { return remotewrite.NewDecoder() }
	d.requests.New = func() any { return &wire.PushRequest{} }
	d.bodies.New = func() any { return &bytes.Buffer{} }
	d.converters.New = func() any { return prw.NewPrometheusConverter(nil) }
	d.inflight = newInflight(cfg.InstanceLimits, reg)
	f := promauto.With(reg)
	d.received = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_distributor_received_samples_total", Help: "Samples received in valid series, by tenant and type (float, histogram, exemplar)."}, []string{"tenant", "type"})
	d.discarded = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_distributor_discarded_samples_total", Help: "Samples refused by the distributor, by tenant and reason."}, []string{"tenant", "reason"})
	d.requestsC = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_distributor_requests_total", Help: "Push requests by protocol version and HTTP status code."}, []string{"version", "code"})
	d.otlpWarnings = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_distributor_otlp_translation_warnings_total", Help: "Warnings of the OTLP translation (empty data points, label name collisions, ...), by category, as Prometheus' prometheus_api_otlp_translation_warnings_total."}, []string{"category"})
	d.haDropped = f.NewCounterVec(prometheus.CounterOpts{Name: "weft_distributor_ha_deduplicated_samples_total", Help: "Samples (floats and histograms) dropped because they came from an HA replica that is not the elected one of its cluster, by tenant."}, []string{"tenant"})
	d.latency = f.NewHistogram(prometheus.HistogramOpts{Name: "weft_distributor_push_duration_seconds", Help: "Time to handle one push request.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), NativeHistogramBucketFactor: 1.1})
	return d, nil
}

// ServeHTTP handles POST /api/v1/push.
func (d *Distributor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, version := d.serveLimited(w, r)
	d.requestsC.WithLabelValues(version, strconv.Itoa(code)).Inc()
	d.latency.Observe(time.Since(start).Seconds())
}

// serveLimited is serve within the instance limit of requests in flight.
func (d *Distributor) serveLimited(w http.ResponseWriter, r *http.Request) (int, string) {
	done, err := d.inflight.startRequest()
	if err != nil {
		return d.fail(w, err), "unknown"
	}
	defer done()
	return d.serve(w, r)
}

func (d *Distributor) serve(w http.ResponseWriter, r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		return d.fail(w, httpapi.Errorf(http.StatusMethodNotAllowed, "remote write needs POST")), "unknown"
	}
	id, err := d.resolver.FromRequest(r)
	if err != nil {
		return d.fail(w, err), "unknown"
	}
	v, err := remotewrite.ParseContentType(r.Header.Get("Content-Type"))
	if err != nil {
		return d.fail(w, &httpapi.StatusError{Code: http.StatusUnsupportedMediaType, Err: err}), "unknown"
	}
	version := "1.0"
	if v == remotewrite.V2 {
		version = "2.0"
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "snappy" {
		return d.fail(w, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported Content-Encoding %q: remote write uses snappy", enc)), version
	}

	// A tenant over its rate is refused before its body is read: a
	// tenant pushing at many times its limit then costs little more than
	// its connections (docs/limits.md).
	if lim := d.limits.For(id); !lim.AcceptHASamples {
		if est, over := d.overRate(id, lim); over {
			d.discarded.WithLabelValues(id, reasonRateLimited).Add(float64(est))
			return d.fail(w, wire.Errorf(wire.KindLimit, errIDRateLimited,
				"tenant %s is over its cluster-wide ingestion rate limit of %g samples/s with burst %d, shared by %s; the push was refused before it was read, as its last pushes of %d samples do not fit in what the limit allows now (raise ingestion_rate / -distributor.ingestion-rate-limit)", id, lim.IngestionRate, lim.IngestionBurstSize, distributorsText(d.shares()), est)), version
		}
	}

	tooLarge := func() int {
		return d.fail(w, wire.Errorf(wire.KindBadData, errIDRequestTooLarge, "request body is larger than the limit of %d bytes (raise -distributor.max-recv-msg-size)", d.cfg.MaxRecvMsgSize))
	}
	// A declared length above the limit is refused before anything is read.
	if r.ContentLength > int64(d.cfg.MaxRecvMsgSize) {
		return tooLarge(), version
	}
	// The declared length is counted in flight before anything is read,
	// so that a burst of large pushes is refused cheaply; a body without
	// one is counted once read.
	reserved := max(r.ContentLength, 0)
	if err := d.inflight.reserveBytes(reserved); err != nil {
		return d.fail(w, err), version
	}
	defer func() { d.inflight.releaseBytes(reserved) }()
	body := d.bodies.Get().(*bytes.Buffer)
	defer d.bodies.Put(body)
	body.Reset()
	n, err := body.ReadFrom(io.LimitReader(r.Body, int64(d.cfg.MaxRecvMsgSize)+1))
	if err != nil {
		return d.fail(w, httpapi.Errorf(http.StatusBadRequest, "cannot read request body: %w", err)), version
	}
	if n > int64(d.cfg.MaxRecvMsgSize) {
		return tooLarge(), version
	}
	if extra := n - reserved; extra > 0 {
		if err := d.inflight.reserveBytes(extra); err != nil {
			return d.fail(w, err), version
		}
		reserved = n
	}

	req := d.requests.Get().(*wire.PushRequest)
	release := func() { d.requests.Put(req) }
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	dec := d.decoders.Get().(*remotewrite.Decoder)
	err = dec.Decode(req, body.Bytes(), v, d.cfg.MaxRecvMsgSize)
	d.decoders.Put(dec)
	if err != nil {
		return d.fail(w, httpapi.Errorf(http.StatusBadRequest, "%w", err)), version
	}

	res, err := d.push(r, id, req, func() { released = true }, release)
	if v == remotewrite.V2 {
		// Remote write 2.0 reports what was written, also on partial failure.
		h := w.Header()
		h.Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(res.Samples))
		h.Set("X-Prometheus-Remote-Write-Histograms-Written", strconv.Itoa(res.Histograms))
		h.Set("X-Prometheus-Remote-Write-Exemplars-Written", strconv.Itoa(res.Exemplars))
	}
	if errors.Is(err, ErrDuplicateReplica) {
		// Accepted, and dropped on purpose: the replica must not retry.
		w.WriteHeader(http.StatusAccepted)
		return http.StatusAccepted, version
	}
	if err != nil {
		return d.fail(w, err), version
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent, version
}

// Push validates req in place (dropping invalid series and samples), takes
// the rate limit and passes the rest to the pusher. The error is the first
// validation error, or the pusher's; valid data is stored either way. For
// a tenant with accept_ha_samples, a request from an HA replica that is
// not the elected one of its cluster is dropped whole with
// ErrDuplicateReplica (answer it 202), and the replica label is removed
// from the series of the elected one.
func (d *Distributor) Push(r *http.Request, id string, req *wire.PushRequest) (wire.PushResult, error) {
	return d.push(r, id, req, func() {}, func() {})
}

// asyncPusher is a pusher that answers at quorum and keeps reading the
// request until it calls release (the ring pusher).
type asyncPusher interface {
	PushAsync(ctx context.Context, tenant string, req *wire.PushRequest, release func()) (wire.PushResult, error)
}

// push is Push; when the pusher is asynchronous, handOff is called to say
// that release now belongs to the pusher.
func (d *Distributor) push(r *http.Request, id string, req *wire.PushRequest, handOff, release func()) (wire.PushResult, error) {
	lim := d.limits.For(id)
	if lim.AcceptHASamples && d.ha != nil {
		if res, err := d.dedupe(r.Context(), id, lim, req); err != nil {
			return res, err
		}
	}
	val := newValidator(lim, d.scheme, id, d.now())
	var firstErr error
	discard := func(reason string, n int, err *wire.Error) {
		d.discarded.WithLabelValues(id, reason).Add(float64(n))
		if firstErr == nil {
			firstErr = err
		}
	}
	kept := req.Series[:0]
	for si := range req.Series {
		s := req.Series[si]
		if reason, err := val.series(&s); err != nil {
			discard(reason, len(s.Samples)+len(s.Histograms), err)
			continue
		}
		// Filter samples with bad timestamps in place.
		ok := s.Samples[:0]
		for _, smp := range s.Samples {
			if reason, err := val.timestamp(s.Labels, smp.T); err != nil {
				discard(reason, 1, err)
				continue
			}
			ok = append(ok, smp)
		}
		s.Samples = ok
		okh := s.Histograms[:0]
		for _, h := range s.Histograms {
			if reason, err := val.timestamp(s.Labels, h.T); err != nil {
				discard(reason, 1, err)
				continue
			}
			okh = append(okh, h)
		}
		s.Histograms = okh
		if len(s.Samples)+len(s.Histograms)+len(s.Exemplars) == 0 {
			continue
		}
		kept = append(kept, s)
	}
	// The tail now aliases kept entries' buffers: clear it so the next
	// decode into this pooled request cannot write one buffer twice.
	for i := len(kept); i < len(req.Series); i++ {
		req.Series[i] = wire.Series{}
	}
	req.Series = kept
	keptMD := req.Metadata[:0]
	for _, m := range req.Metadata {
		if reason, err := val.metadata(&m); err != nil {
			discard(reason, 0, err)
			continue
		}
		keptMD = append(keptMD, m)
	}
	req.Metadata = keptMD

	samples, histograms, exemplars := req.Counts()
	if total := samples + histograms; total > 0 {
		if n, ok := d.allow(id, lim, total); !ok {
			d.discarded.WithLabelValues(id, reasonRateLimited).Add(float64(total))
			return wire.PushResult{}, wire.Errorf(wire.KindLimit, errIDRateLimited,
				"tenant %s is over its cluster-wide ingestion rate limit of %g samples/s with burst %d, shared by %s; %d samples refused (raise ingestion_rate / -distributor.ingestion-rate-limit)", id, lim.IngestionRate, lim.IngestionBurstSize, distributorsText(n), total)
		}
	}
	d.received.WithLabelValues(id, "float").Add(float64(samples))
	d.received.WithLabelValues(id, "histogram").Add(float64(histograms))
	d.received.WithLabelValues(id, "exemplar").Add(float64(exemplars))
	if len(req.Series) == 0 && len(req.Metadata) == 0 {
		return wire.PushResult{}, firstErr
	}
	var (
		res wire.PushResult
		err error
	)
	if ap, ok := d.pusher.(asyncPusher); ok {
		handOff()
		res, err = ap.PushAsync(tenant.With(r.Context(), id), id, req, release)
	} else {
		res, err = d.pusher.Push(tenant.With(r.Context(), id), id, req)
	}
	if err != nil {
		return res, err
	}
	return res, firstErr
}

// dedupe applies the HA tracker to req: the cluster and replica are those
// of the first series (a Prometheus puts its external labels on every
// series it sends). A request without both labels passes unchanged.
//
// The result of a dropped request counts every sample as written: the
// request was accepted, and a remote write 2.0 sender takes a 2xx answer
// that reports nothing written for a failure.
func (d *Distributor) dedupe(ctx context.Context, id string, lim *limits.Limits, req *wire.PushRequest) (wire.PushResult, error) {
	if len(req.Series) == 0 {
		return wire.PushResult{}, nil
	}
	first := req.Series[0].Labels
	cluster, replica := first.Get(lim.HAClusterLabel), first.Get(lim.HAReplicaLabel)
	if cluster == "" || replica == "" {
		return wire.PushResult{}, nil
	}
	if st := d.ha.State(); st != services.Running {
		// The tracker loads the elections from the KV store as it
		// starts (with memberlist, once the node joined); until then
		// only HA pairs' pushes wait, with a retryable answer.
		return wire.PushResult{}, wire.Errorf(wire.KindUnavailable, "", "the HA tracker is %s", strings.ToLower(st.String()))
	}
	if err := d.ha.Check(ctx, id, cluster, replica, lim); err != nil {
		if errors.Is(err, ErrDuplicateReplica) {
			samples, histograms, exemplars := req.Counts()
			d.haDropped.WithLabelValues(id).Add(float64(samples + histograms))
			return wire.PushResult{Samples: samples, Histograms: histograms, Exemplars: exemplars}, err
		}
		return wire.PushResult{}, err
	}
	// Before validation and hashing: the stored series, and the ingesters
	// they go to, are those of the cluster, whichever replica sent them.
	name := lim.HAReplicaLabel
	if name[0] <= '_' {
		// The usual __replica__ sorts among the first labels, which
		// DropReserved cuts out without decoding the others.
		drop := func(n string) bool { return n == name }
		for i := range req.Series {
			req.Series[i].Labels = req.Series[i].Labels.DropReserved(drop)
		}
		return wire.PushResult{}, nil
	}
	var b labels.ScratchBuilder
	for i := range req.Series {
		s := &req.Series[i]
		if !s.Labels.Has(name) {
			continue
		}
		b.Reset()
		s.Labels.Range(func(l labels.Label) {
			if l.Name != name {
				b.Add(l.Name, l.Value)
			}
		})
		s.Labels = b.Labels()
	}
	return wire.PushResult{}, nil
}

// allow takes n tokens from the tenant's rate limiter, refreshing it when
// the tenant's limits or the number of distributors changed. The limiter
// holds this distributor's share: rate and burst divided by the number of
// healthy distributors, which it returns.
func (d *Distributor) allow(id string, lim *limits.Limits, n int) (int, bool) {
	if lim.IngestionRate <= 0 {
		return 1, true
	}
	shares := d.shares()
	r, burst := localShare(lim.IngestionRate, lim.IngestionBurstSize, shares)
	d.limMu.Lock()
	defer d.limMu.Unlock()
	tr, ok := d.limiters[id]
	if !ok {
		tr = &tenantRate{l: rate.NewLimiter(r, burst)}
		d.limiters[id] = tr
	}
	l := tr.l
	if l.Limit() != r {
		l.SetLimitAt(d.now(), r)
	}
	if l.Burst() != burst {
		l.SetBurstAt(d.now(), burst)
	}
	ok = l.AllowN(d.now(), n)
	tr.lastTried = n
	if ok {
		tr.lastAccepted = n
	}
	return shares, ok
}

// tenantRate is a tenant's share of its ingestion rate on this
// distributor, and the sizes (samples) of its last push and of its last
// accepted push.
type tenantRate struct {
	l                       *rate.Limiter
	lastTried, lastAccepted int
}

// overRate reports whether a push of the tenant's usual size (est
// samples: the smaller of its last push and its last accepted push) does
// not fit in the tokens its limiter holds now: such a push would be
// refused, so it may be refused before it is read. Senders send pushes of
// about one size (Prometheus' max_samples_per_send), so the estimate
// refuses at most a push's worth early, and only while the tenant is at
// its limit; a tenant with no accepted push yet is always read.
func (d *Distributor) overRate(id string, lim *limits.Limits) (est int, over bool) {
	if lim.IngestionRate <= 0 {
		return 0, false
	}
	d.limMu.Lock()
	defer d.limMu.Unlock()
	tr, ok := d.limiters[id]
	if !ok || tr.lastAccepted == 0 {
		return 0, false
	}
	est = min(tr.lastTried, tr.lastAccepted, tr.l.Burst())
	return est, tr.l.TokensAt(d.now()) < float64(est)
}

// distributorsText names n distributors in a refusal.
func distributorsText(n int) string {
	if n == 1 {
		return "1 distributor"
	}
	return strconv.Itoa(n) + " distributors"
}

// shares is the number of distributors that share each tenant's rate.
func (d *Distributor) shares() int {
	if d.distributors == nil {
		return 1
	}
	return max(d.distributors(), 1)
}

// localShare is one distributor's part of a cluster-wide rate and burst
// shared by n distributors. The burst stays at least 1, so that a limit
// never refuses everything.
func localShare(rt float64, burst, n int) (rate.Limit, int) {
	return rate.Limit(rt / float64(n)), max(burst/n, 1)
}

// fail answers err at the error edge (httpapi.WriteError picks the status)
// and returns the status for the request metrics.
func (d *Distributor) fail(w http.ResponseWriter, err error) int {
	code := httpapi.WriteError(w, err)
	if code >= 500 && !isInstanceLimit(err) {
		d.logger.Warn("push failed", "status", code, "err", err)
	}
	return code
}
