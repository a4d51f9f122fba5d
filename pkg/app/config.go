package app

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/weft-io/weft/pkg/alertmanager"
	"github.com/weft-io/weft/pkg/auth"
	"github.com/weft-io/weft/pkg/bucket"
	"github.com/weft-io/weft/pkg/compactor"
	"github.com/weft-io/weft/pkg/distributor"
	"github.com/weft-io/weft/pkg/frontend"
	"github.com/weft-io/weft/pkg/ingester"
	"github.com/weft-io/weft/pkg/limits"
	"github.com/weft-io/weft/pkg/querier"
	"github.com/weft-io/weft/pkg/ring"
	"github.com/weft-io/weft/pkg/ruler"
	"github.com/weft-io/weft/pkg/scheduler"
	"github.com/weft-io/weft/pkg/storegateway"
	"github.com/weft-io/weft/pkg/tlsconfig"
)

// Config is the whole configuration of a weft process: the YAML file given
// by -config.file, with every field also a flag. Precedence: defaults <
// YAML < flags.
type Config struct {
	ConfigFile string `yaml:"-"`

	Target              string        `yaml:"target"`
	HTTPListenAddress   string        `yaml:"http_listen_address"`
	GRPCListenAddress   string        `yaml:"grpc_listen_address"`
	DataDir             string        `yaml:"data_dir"`
	MultitenancyEnabled bool          `yaml:"multitenancy_enabled"`
	LogLevel            string        `yaml:"log_level"`
	LogFormat           string        `yaml:"log_format"`
	ShutdownTimeout     time.Duration `yaml:"shutdown_timeout"`

	// HTTPTLS and GRPCTLS are the TLS of the two servers; GRPCClientTLS
	// that of the clients between roles (docs/tls.md).
	HTTPTLS       tlsconfig.ServerConfig `yaml:"http_tls"`
	GRPCTLS       tlsconfig.ServerConfig `yaml:"grpc_tls"`
	GRPCClientTLS tlsconfig.ClientConfig `yaml:"grpc_client_tls"`

	Auth             auth.Config            `yaml:"auth"`
	TenantFederation TenantFederationConfig `yaml:"tenant_federation"`

	RuntimeConfig  RuntimeConfigConfig `yaml:"runtime_config"`
	Bucket         bucket.Config       `yaml:"bucket"`
	Distributor    distributor.Config  `yaml:"distributor"`
	Ingester       ingester.Config     `yaml:"ingester"`
	Querier        querier.Config      `yaml:"querier"`
	QueryFrontend  frontend.Config     `yaml:"query_frontend"`
	StoreGateway   storegateway.Config `yaml:"store_gateway"`
	Compactor      compactor.Config    `yaml:"compactor"`
	Ruler          ruler.Config        `yaml:"ruler"`
	Alertmanager   alertmanager.Config `yaml:"alertmanager"`
	QueryScheduler scheduler.Config    `yaml:"query_scheduler"`
	Limits         limits.Limits       `yaml:"limits"`
	Ring           ring.Config         `yaml:",inline"`

	// deprecations are the warnings of the parse that built this config,
	// one for each deprecated name it used.
	deprecations []string
}

// Deprecations returns a warning for each deprecated flag or YAML key that
// built this config, for the log at start.
func (c *Config) Deprecations() []string { return c.deprecations }

// RuntimeConfigConfig locates the runtime file of per-tenant overrides.
type RuntimeConfigConfig struct {
	File   string        `yaml:"file"`
	Period time.Duration `yaml:"period"`
}

// TenantFederationConfig enables reads across tenants.
type TenantFederationConfig struct {
	Enabled bool `yaml:"enabled"`
}

// RegisterFlags registers every flag with its default.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.ConfigFile, "config.file", "", "YAML file with this configuration; flags given on the command line override it.")
	f.StringVar(&c.Target, "target", TargetAll, "Comma-separated roles this process runs: "+strings.Join(roleNames(), ", ")+".")
	f.StringVar(&c.HTTPListenAddress, "http.listen-address", ":9009", "Address of the HTTP server (APIs, status pages, UI).")
	f.StringVar(&c.GRPCListenAddress, "grpc.listen-address", fmt.Sprintf(":%d", ring.DefaultGRPCPort), "Address of the gRPC server between roles.")
	c.HTTPTLS.RegisterFlagsWithPrefix("http", "HTTP", f)
	c.GRPCTLS.RegisterFlagsWithPrefix("grpc", "gRPC", f)
	c.GRPCClientTLS.RegisterFlagsWithPrefix("grpc", f)
	f.StringVar(&c.DataDir, "data.dir", "./data", "Directory of local state (TSDB heads, WALs, blocks not yet shipped).")
	f.BoolVar(&c.MultitenancyEnabled, "auth.multitenancy-enabled", true, "Require the X-Scope-OrgID header on every request. When false, every request belongs to the tenant \"anonymous\".")
	c.Auth.RegisterFlags(f)
	f.BoolVar(&c.TenantFederation.Enabled, "tenant-federation.enabled", false, "Let the query API read several tenants at once, named \"a|b\" in X-Scope-OrgID; each series then carries its tenant in the __tenant_id__ label. With -auth.type=tokens, only credentials holding every named tenant may.")
	f.StringVar(&c.LogLevel, "log.level", "info", "Log level: debug, info, warn, error.")
	f.StringVar(&c.LogFormat, "log.format", "logfmt", "Log format: logfmt or json.")
	f.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "How long in-flight requests may run after SIGTERM.")
	f.StringVar(&c.RuntimeConfig.File, "runtime-config.file", "", "YAML file of per-tenant limit overrides, reloaded without a restart.")
	f.DurationVar(&c.RuntimeConfig.Period, "runtime-config.reload-period", 10*time.Second, "How often the runtime file is checked for changes.")
	c.Bucket.RegisterFlags(f)
	c.Distributor.RegisterFlags(f)
	c.Ingester.RegisterFlags(f)
	c.Querier.RegisterFlags(f)
	c.QueryFrontend.RegisterFlags(f)
	c.StoreGateway.RegisterFlags(f)
	c.Compactor.RegisterFlags(f)
	c.Ruler.RegisterFlags(f)
	c.Alertmanager.RegisterFlags(f)
	c.QueryScheduler.RegisterFlags(f)
	c.Limits.RegisterFlags(f)
	c.Ring.RegisterFlags(f)
}

// Validate reports every setting that cannot work, including the rules
// that span roles. Call it after applyDefaults.
func (c *Config) Validate() error {
	var errs []error
	if _, err := parseTarget(c.Target); err != nil {
		errs = append(errs, err)
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data.dir must be set"))
	}
	errs = append(errs, c.HTTPTLS.Validate("http"), c.GRPCTLS.Validate("grpc"), c.GRPCClientTLS.Validate("grpc"))
	if c.Auth.Type == auth.TypeTokens && !c.MultitenancyEnabled {
		errs = append(errs, errors.New("auth.type=tokens gives each credential its tenants: it needs auth.multitenancy-enabled=true"))
	}
	if c.TenantFederation.Enabled && !c.MultitenancyEnabled {
		errs = append(errs, errors.New("tenant-federation.enabled needs auth.multitenancy-enabled=true"))
	}
	for _, v := range []interface{ Validate() error }{&c.Auth, &c.Bucket, &c.Distributor, &c.Ingester, &c.Querier, &c.QueryFrontend, &c.Limits, &c.Ring, &c.StoreGateway, &c.Compactor, &c.Ruler, &c.Alertmanager, &c.QueryScheduler} {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	// A block being shipped must be read from the ingesters or from the
	// store-gateways: the two windows must overlap.
	if q := c.Querier; q.QueryIngestersWithin > 0 && q.QueryStoreAfter >= q.QueryIngestersWithin {
		errs = append(errs, fmt.Errorf("querier.query-store-after (%s) must be below querier.query-ingesters-within (%s), or queries miss the data between them", q.QueryStoreAfter, q.QueryIngestersWithin))
	}
	// Store-gateways must stop reading a block marked for deletion before
	// the compactor deletes it.
	if sg, cp := c.StoreGateway.IgnoreDeletionMarksDelay, c.Compactor.DeletionDelay; sg >= cp {
		errs = append(errs, fmt.Errorf("store-gateway.ignore-deletion-marks-delay (%s) must be below compactor.deletion-delay (%s), or queries read blocks that are being deleted", sg, cp))
	}
	return errors.Join(errs...)
}

// applyDefaults derives the settings that follow from others: every
// role keeps its files under <data.dir>/<role>/, and the filesystem bucket
// defaults to <data.dir>/bucket.
func (c *Config) applyDefaults() {
	c.Ingester.Dir = filepath.Join(c.DataDir, RoleIngester, "tsdb")
	c.StoreGateway.Dir = filepath.Join(c.DataDir, RoleStoreGateway, "blocks")
	if c.Compactor.DataDir == "" {
		c.Compactor.DataDir = filepath.Join(c.DataDir, RoleCompactor, "work")
	}
	if c.Bucket.Backend == bucket.Filesystem && c.Bucket.Filesystem.Dir == "" {
		c.Bucket.Filesystem.Dir = filepath.Join(c.DataDir, "bucket")
	}
	r := &c.Ring.Ring
	r.Ingester.GRPCListenAddress = c.GRPCListenAddress
	r.StoreGateway.GRPCListenAddress = c.GRPCListenAddress
	r.Compactor.GRPCListenAddress = c.GRPCListenAddress
	r.Ruler.GRPCListenAddress = c.GRPCListenAddress
	r.Alertmanager.GRPCListenAddress = c.GRPCListenAddress
	r.QueryScheduler.GRPCListenAddress = c.GRPCListenAddress
	r.Distributor.GRPCListenAddress = c.GRPCListenAddress
	if r.Ingester.TokensFilePath == "" {
		r.Ingester.TokensFilePath = filepath.Join(c.DataDir, RoleIngester, "ring-tokens")
	}
	if r.StoreGateway.TokensFilePath == "" {
		r.StoreGateway.TokensFilePath = filepath.Join(c.DataDir, RoleStoreGateway, "ring-tokens")
	}
	if r.Compactor.TokensFilePath == "" {
		r.Compactor.TokensFilePath = filepath.Join(c.DataDir, RoleCompactor, "ring-tokens")
	}
	if r.Ruler.TokensFilePath == "" {
		r.Ruler.TokensFilePath = filepath.Join(c.DataDir, RoleRuler, "ring-tokens")
	}
	if r.QueryScheduler.TokensFilePath == "" {
		r.QueryScheduler.TokensFilePath = filepath.Join(c.DataDir, RoleQueryScheduler, "ring-tokens")
	}
	if r.Alertmanager.TokensFilePath == "" {
		r.Alertmanager.TokensFilePath = filepath.Join(c.DataDir, RoleAlertmanager, "ring-tokens")
	}
	// Every reader of a ring ID (lifecyclers, shard filters, the
	// ingester's block metadata) must see the same one, unique on this host.
	c.Ring.SetDefaultInstanceIDs(c.GRPCListenAddress)
	c.Ingester.InstanceID = r.Ingester.InstanceID
	if c.QueryScheduler.QuerierID == "" {
		c.QueryScheduler.QuerierID = ring.DefaultInstanceID(c.GRPCListenAddress)
	}
}

// ParseFlags builds the configuration from defaults, the YAML file named by
// -config.file, and the command-line flags, in that order of precedence.
func ParseFlags(args []string, stderr *os.File) (*Config, *flag.FlagSet, error) {
	first := &Config{}
	fs := newFlagSet(first, stderr)
	if err := parseFlagSet(fs, first, args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if first.ConfigFile == "" {
		return first, fs, nil
	}
	// Start again from defaults, apply the file, then the flags on top.
	cfg := &Config{}
	fs = newFlagSet(cfg, stderr)
	data, err := os.ReadFile(first.ConfigFile)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read config file: %w", err)
	}
	if err := LoadYAML(data, cfg); err != nil {
		return nil, nil, fmt.Errorf("cannot parse config file %s: %w", first.ConfigFile, err)
	}
	if err := parseFlagSet(fs, cfg, args); err != nil {
		return nil, nil, err
	}
	return cfg, fs, nil
}

// parseFlagSet parses args into fs, whose flags set cfg, and resolves the
// deprecated flags among them.
func parseFlagSet(fs *flag.FlagSet, cfg *Config, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	warnings, err := resolveFlagAliases(fs)
	if err != nil {
		return err
	}
	cfg.deprecations = append(cfg.deprecations, warnings...)
	return nil
}

// LoadYAML applies a YAML document to cfg; unknown keys are errors, and
// deprecated keys are read under their new names, with a warning in
// cfg.Deprecations.
func LoadYAML(data []byte, cfg *Config) error {
	data, warnings, err := resolveYAMLAliases(data)
	if err != nil {
		return err
	}
	cfg.deprecations = append(cfg.deprecations, warnings...)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && err.Error() != "EOF" {
		return err
	}
	return nil
}

func newFlagSet(cfg *Config, stderr *os.File) *flag.FlagSet {
	fs := flag.NewFlagSet("weft", flag.ContinueOnError)
	if stderr != nil {
		fs.SetOutput(stderr)
	}
	cfg.RegisterFlags(fs)
	registerAliases(fs)
	return fs
}

// redacted returns cfg as YAML with secrets hidden, for /config.
func redacted(cfg *Config) ([]byte, error) {
	c := *cfg
	c.Bucket = c.Bucket.Redacted()
	// The rulers' Alertmanager URLs may carry a basic-auth password.
	urls := strings.Split(c.Ruler.AlertmanagerURL, ",")
	for i, s := range urls {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
				urls[i] = u.String()
			}
		}
	}
	c.Ruler.AlertmanagerURL = strings.Join(urls, ",")
	return yaml.Marshal(&c)
}
