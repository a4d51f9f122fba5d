package querier

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/grafana/regexp"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/route"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/weft-io/weft/pkg/httpapi"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/logutil"
	"github.com/weft-io/weft/pkg/tenant"
	"github.com/weft-io/weft/pkg/wire"
)

// Prefix is where the Prometheus query API is served.
const Prefix = "/prometheus/api/v1"

// Config of the querier.
type Config struct {
	Timeout       time.Duration `yaml:"timeout"`
	LookbackDelta time.Duration `yaml:"lookback_delta"`
	MaxConcurrent int           `yaml:"max_concurrent"`
	MaxSamples    int           `yaml:"max_samples_in_memory"`
	// ExperimentalPromQL turns on what Prometheus keeps behind feature
	// flags: experimental functions, fill modifiers on binary operators,
	// unquoted UTF-8 names, delayed __name__ removal and start timestamps.
	ExperimentalPromQL bool `yaml:"promql_experimental_features"`

	// QueryIngestersWithin and QueryStoreAfter split a query between
	// ingesters (recent) and store-gateways (older), overlapping by their
	// difference; StoreGatewayAddresses lists the store-gateways in
	// distributed mode (each holds every block; any one answers).
	QueryIngestersWithin  time.Duration `yaml:"query_ingesters_within"`
	QueryStoreAfter       time.Duration `yaml:"query_store_after"`
	StoreGatewayAddresses string        `yaml:"store_gateway_addresses"`
}

// RegisterFlags registers the querier flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.DurationVar(&c.Timeout, "querier.timeout", 2*time.Minute, "Maximum time one query may run.")
	f.DurationVar(&c.LookbackDelta, "querier.lookback-delta", 5*time.Minute, "How far back PromQL looks for the latest sample of a series (as Prometheus' -query.lookback-delta).")
	f.IntVar(&c.MaxConcurrent, "querier.max-concurrent", 0, "Queries evaluated at once by this process (its workers pulling from the query-schedulers). 0 uses the number of cores (GOMAXPROCS): PromQL evaluation is CPU-bound, and more queries at once than cores let one tenant's flood slow another tenant's queries (docs/query-scheduler.md). Raise it for queriers that mostly wait on remote stores.")
	f.BoolVar(&c.ExperimentalPromQL, "querier.promql-experimental-features", false, "Enable PromQL features that Prometheus keeps behind feature flags (experimental functions, binop fill modifiers, unquoted UTF-8 names, delayed name removal, start timestamps).")
	f.DurationVar(&c.QueryIngestersWithin, "querier.query-ingesters-within", 13*time.Hour, "Ask ingesters only for the last this long of a query; 0 asks them for all time.")
	f.DurationVar(&c.QueryStoreAfter, "querier.query-store-after", 12*time.Hour, "Ask store-gateways only for data older than this; keep it below -querier.query-ingesters-within so that a block being shipped is read from one or the other.")
	f.StringVar(&c.StoreGatewayAddresses, "querier.store-gateway-addresses", "", "Comma-separated gRPC addresses of store-gateways that each hold every block (distributed mode). Empty finds the store-gateways in their ring, each owning a shard of the blocks.")
	f.IntVar(&c.MaxSamples, "querier.max-samples-in-memory", 50000000, "Maximum samples one query may hold in memory at once (process-wide safety net; the per-tenant limit is -querier.max-samples).")
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if c.Timeout <= 0 || c.LookbackDelta <= 0 || c.MaxSamples <= 0 {
		return errors.New("querier.timeout, lookback-delta and max-samples-in-memory must be positive")
	}
	if c.MaxConcurrent < 0 {
		return errors.New("querier.max-concurrent must not be negative")
	}
	return nil
}

// Concurrency is how many queries the process evaluates at once.
func (c Config) Concurrency() int {
	if c.MaxConcurrent > 0 {
		return c.MaxConcurrent
	}
	return runtime.GOMAXPROCS(0)
}

// Version is reported by status/buildinfo; main sets it at build time.
type Version = v1.PrometheusVersion

// Querier serves the Prometheus query API over a wire.Reader.
type Querier struct {
	handler http.Handler
}

// Option configures a Querier.
type Option func(*options)

type options struct {
	rules func(context.Context) v1.RulesRetriever
}

// WithRules makes /rules and /alerts answer what rules returns for the
// tenant of the request's context (the ruler's groups); a nil answer is
// no rules. Without it, they answer no rules.
func WithRules(rules func(context.Context) v1.RulesRetriever) Option {
	return func(o *options) { o.rules = rules }
}

// New builds the query API. reg may be nil.
func New(cfg Config, reader wire.Reader, lim *limits.Overrides, resolver tenant.Resolver, version Version, reg prometheus.Registerer, logger *slog.Logger, opts ...Option) (*Querier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	rulesRetriever := func(ctx context.Context) v1.RulesRetriever {
		if o.rules != nil {
			if r := o.rules(ctx); r != nil {
				return r
			}
		}
		return noRules{}
	}
	logger = logutil.OrNop(logger)
	if reg != nil {
		reg = prometheus.WrapRegistererWithPrefix("weft_querier_", reg)
	}
	eng := NewEngine(cfg, lim, reg, logger)
	q := tenantQueryable{reader: reader, limits: lim, now: time.Now}
	startTime := time.Now()
	api := v1.NewAPI(
		eng,
		sampleAndChunk{q},
		nil,
		tenantExemplars{reader},
		func(_ context.Context) v1.ScrapePoolsRetriever { return noTargets{} },
		func(_ context.Context) v1.TargetRetriever { return noTargets{} },
		func(_ context.Context) v1.AlertmanagerRetriever { return noTargets{} },
		func() config.Config { return config.DefaultConfig },
		map[string]string{},
		v1.GlobalURLOptions{},
		func(f http.HandlerFunc) http.HandlerFunc { return f },
		nil, "", false, false, 0,
		logger,
		rulesRetriever,
		0, 0, 0,
		false,
		regexp.MustCompile("^$"),
		func() (v1.RuntimeInfo, error) {
			cwd, _ := os.Getwd()
			host, _ := os.Hostname()
			return v1.RuntimeInfo{StartTime: startTime, CWD: cwd, Hostname: host, ServerTime: time.Now(), ReloadConfigSuccess: true, GoroutineCount: runtime.NumGoroutine(), GOMAXPROCS: runtime.GOMAXPROCS(0)}, nil
		},
		&version,
		nil, nil,
		prometheus.NewRegistry(), nil,
		nil,
		false, remoteapi.MessageTypes{}, false, false, false,
		cfg.LookbackDelta,
		false, false,
		nil,
		nil,
		v1.OpenAPIOptions{},
		newParser(cfg),
		true,
		cfg.Timeout,
	)
	router := route.New()
	api.Register(router.WithPrefix(Prefix))

	mux := http.NewServeMux()
	for _, p := range []string{"/query", "/query_range", "/query_exemplars", "/series", "/labels", "/format_query", "/parse_query", "/status/buildinfo", "/status/runtimeinfo", "/rules", "/alerts"} {
		mux.Handle(Prefix+p, router)
	}
	mux.Handle(Prefix+"/label/", router)
	mux.Handle(Prefix+"/metadata", metadataHandler{reader})
	mux.Handle(Prefix+"/read", &remoteReadHandler{q: q, limits: lim, timeout: cfg.Timeout, logger: logger, marshalPool: &sync.Pool{}, hold: remoteReadMaxBytesInFrame})
	mux.Handle(Prefix+"/status/tsdb", tsdbStatusHandler{reader})
	mux.Handle(Prefix+"/cardinality/label_names", cardinalityHandler{reader: reader, limits: lim, parser: newParser(cfg)})
	mux.Handle(Prefix+"/cardinality/label_values", cardinalityHandler{reader: reader, limits: lim, parser: newParser(cfg), values: true})
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusNotFound, "%s is not an endpoint of the weft query API", r.URL.Path))
	})
	limiter := make(chan struct{}, cfg.Concurrency())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := resolver.FromRequest(r)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if tenant.IsFederated(id) && !federates(r.URL.Path) {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "%s reads one tenant, not %q: a federated read is a query, a range query, series, label names or label values (err-weft-federation-not-allowed)", r.URL.Path, id))
			return
		}
		select {
		case limiter <- struct{}{}:
			defer func() { <-limiter }()
		case <-r.Context().Done():
			// Gave up waiting for a slot: 499 if the client left, 503
			// if a deadline passed.
			httpapi.WriteError(w, fmt.Errorf("cannot start the query: %w", r.Context().Err()))
			return
		}
		ctx := tenant.With(r.Context(), id)
		if isLookup(r.URL.Path) {
			// Series and label lookups run no PromQL, so the engine's
			// timeout does not bound them: a costly regex in match[]
			// must stop at the tenant's query timeout all the same.
			timeout := cfg.Timeout
			if t := time.Duration(lim.For(id).QueryTimeout); t > 0 && t < timeout {
				timeout = t
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		mux.ServeHTTP(w, r.WithContext(ctx))
	})
	return &Querier{handler: h}, nil
}

// isLookup reports whether the endpoint at path is a series or label
// lookup (/series, /labels, /label/<name>/values).
func isLookup(path string) bool {
	switch strings.TrimPrefix(path, Prefix) {
	case "/series", "/labels":
		return true
	}
	name, ok := strings.CutPrefix(path, Prefix+"/label/")
	return ok && strings.HasSuffix(name, "/values")
}

// federates reports whether the endpoint at path reads several tenants
// ("a|b", with -tenant-federation.enabled): the PromQL queries and the
// series and label lookups, whose series carry __tenant_id__.
func federates(path string) bool {
	switch strings.TrimPrefix(path, Prefix) {
	case "/query", "/query_range", "/series", "/labels":
		return true
	}
	name, ok := strings.CutPrefix(path, Prefix+"/label/")
	return ok && strings.HasSuffix(name, "/values")
}

// NewEngine returns Prometheus' PromQL engine wrapped to apply the query
// limits of the tenant found in each query's context.
func NewEngine(cfg Config, lim *limits.Overrides, reg prometheus.Registerer, logger *slog.Logger) promql.QueryEngine {
	eng := promql.NewEngine(promql.EngineOpts{
		Logger:               logutil.OrNop(logger),
		Reg:                  reg,
		MaxSamples:           cfg.MaxSamples,
		Timeout:              cfg.Timeout,
		EnablePerStepStats:   true, // for stats=all only, as Prometheus' promql-per-step-stats
		LookbackDelta:        cfg.LookbackDelta,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		// Off, as in Prometheus' own server: it checks the context at
		// every sample. The tenant's limits are counted elsewhere
		// (tenantEngine).
		EnableQueryCost: false,
		NoStepSubqueryIntervalFn: func(int64) int64 {
			return time.Minute.Milliseconds()
		},
		EnableDelayedNameRemoval: cfg.ExperimentalPromQL,
		UseStartTimestamps:       cfg.ExperimentalPromQL,
		Parser:                   newParser(cfg),
	})
	return tenantEngine{eng: eng, limits: lim, timeout: cfg.Timeout, obs: newQueryObserver(reg, logger)}
}

// NewParser returns the PromQL parser of the querier's configuration, for
// the other roles that parse PromQL (the ruler).
func NewParser(cfg Config) parser.Parser { return newParser(cfg) }

// NewQueryable returns a queryable over reader that serves the tenant found
// in the context of each call, and nothing without one.
func NewQueryable(reader wire.Reader, lim *limits.Overrides) storage.Queryable {
	return tenantQueryable{reader: reader, limits: lim, now: time.Now}
}

// Handler serves everything under Prefix.
func (q *Querier) Handler() http.Handler { return q.handler }

// metadataHandler serves /metadata from what remote write sent, since a
// weft has no scrape targets to ask.
type metadataHandler struct{ reader wire.Reader }

func (h metadataHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "cannot parse form: %w", err))
		return
	}
	limit := -1
	if s := r.FormValue("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "limit must be a number"))
			return
		}
		limit = n
	}
	id, _ := tenant.From(r.Context())
	md, err := h.reader.Metadata(r.Context(), id, r.FormValue("metric"), 0)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	type entry struct {
		Type string `json:"type"`
		Help string `json:"help"`
		Unit string `json:"unit"`
	}
	out := map[string][]entry{}
	for _, m := range md {
		if limit >= 0 && len(out) >= limit {
			break
		}
		out[m.MetricFamily] = append(out[m.MetricFamily], entry{Type: strings.ToLower(m.Type), Help: m.Help, Unit: m.Unit})
	}
	httpapi.WriteData(w, out)
}

// sampleAndChunk adapts the tenant queryable to the API's interface; the
// API's chunk path is unused (remote read is remoteReadHandler's).
type sampleAndChunk struct{ tenantQueryable }

func (sampleAndChunk) ChunkQuerier(int64, int64) (storage.ChunkQuerier, error) {
	return nil, errors.New("the query API reads no chunks")
}

func newParser(cfg Config) parser.Parser {
	return parser.NewParser(parser.Options{
		EnableExperimentalFunctions: cfg.ExperimentalPromQL,
		EnableBinopFillModifiers:    cfg.ExperimentalPromQL,
		EnableUnquotedUTF8Names:     cfg.ExperimentalPromQL,
	})
}
