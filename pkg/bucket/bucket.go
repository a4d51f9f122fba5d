package bucket

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/azure"
	"github.com/thanos-io/objstore/providers/gcs"
	"github.com/thanos-io/objstore/providers/s3"
	"github.com/thanos-io/objstore/providers/swift"

	"github.com/weft-io/weft/pkg/logutil"
)

// Backends weft can store blocks in.
const (
	Filesystem = "filesystem"
	S3         = "s3"
	GCS        = "gcs"
	Azure      = "azure"
	Swift      = "swift"
)

// backends lists every supported backend, in the order the help text gives.
var backends = []string{Filesystem, S3, GCS, Azure, Swift}

// Config selects and configures the bucket. The same struct is the
// "bucket" section of the YAML file and the -bucket.* flags.
type Config struct {
	Backend string `yaml:"backend"`
	// Prefix, when set, puts every object under "<prefix>/" so that
	// several weft clusters (or other tools) can share one bucket.
	Prefix     string           `yaml:"prefix"`
	Filesystem FilesystemConfig `yaml:"filesystem"`
	S3         S3Config         `yaml:"s3"`
	GCS        GCSConfig        `yaml:"gcs"`
	Azure      AzureConfig      `yaml:"azure"`
	Swift      SwiftConfig      `yaml:"swift"`

	// Retries of failed operations, done by weft on top of the
	// provider's own client; see WithRetries.
	MaxRetries      int           `yaml:"max_retries"`
	RetryMinBackoff time.Duration `yaml:"retry_min_backoff"`
	RetryMaxBackoff time.Duration `yaml:"retry_max_backoff"`
	RetryMaxTime    time.Duration `yaml:"retry_max_time"`
}

// FilesystemConfig is a bucket in a local directory.
type FilesystemConfig struct {
	Dir string `yaml:"dir"`
}

// S3Config is an S3-compatible bucket.
type S3Config struct {
	Endpoint        string `yaml:"endpoint"`
	BucketName      string `yaml:"bucket_name"`
	Region          string `yaml:"region"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	Insecure        bool   `yaml:"insecure"`
	PathStyle       bool   `yaml:"path_style"`
	// PartSize is the size of the parts of a multipart upload; objects
	// of known size above it are uploaded in parts.
	PartSize uint64 `yaml:"part_size"`
	// ClientMaxRetries are the S3 client library's own retries of each
	// HTTP request (cheap: one part at a time); weft's retries of whole
	// operations (MaxRetries) come on top of them.
	ClientMaxRetries int `yaml:"client_max_retries"`
}

// GCSConfig is a Google Cloud Storage bucket.
type GCSConfig struct {
	BucketName string `yaml:"bucket_name"`
	// ServiceAccount is the content (not the path) of a service account
	// JSON key; empty means Google's application default credentials.
	ServiceAccount string `yaml:"service_account"`
}

// AzureConfig is an Azure Blob Storage container.
type AzureConfig struct {
	AccountName string `yaml:"account_name"`
	// AccountKey is the shared key; empty means the default Azure
	// credential chain (managed identity, environment, ...).
	AccountKey     string `yaml:"account_key"`
	ContainerName  string `yaml:"container_name"`
	EndpointSuffix string `yaml:"endpoint_suffix"`
}

// SwiftConfig is an OpenStack Swift container.
type SwiftConfig struct {
	AuthURL           string `yaml:"auth_url"`
	AuthVersion       int    `yaml:"auth_version"`
	Username          string `yaml:"username"`
	UserID            string `yaml:"user_id"`
	Password          string `yaml:"password"`
	DomainName        string `yaml:"domain_name"`
	DomainID          string `yaml:"domain_id"`
	ProjectName       string `yaml:"project_name"`
	ProjectID         string `yaml:"project_id"`
	ProjectDomainName string `yaml:"project_domain_name"`
	ProjectDomainID   string `yaml:"project_domain_id"`
	RegionName        string `yaml:"region_name"`
	ContainerName     string `yaml:"container_name"`
}

// RegisterFlags registers the bucket flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Backend, "bucket.backend", Filesystem, "Object storage backend: "+strings.Join(backends, ", ")+".")
	f.StringVar(&c.Prefix, "bucket.prefix", "", "Put every object under this prefix (a \"directory\" of the bucket), so that several clusters can share one bucket. Empty means the bucket's root.")

	f.StringVar(&c.Filesystem.Dir, "bucket.filesystem.dir", "", "Directory of the filesystem bucket. Empty means <data.dir>/bucket.")

	f.StringVar(&c.S3.Endpoint, "bucket.s3.endpoint", "", "S3 endpoint (host:port).")
	f.StringVar(&c.S3.BucketName, "bucket.s3.bucket-name", "", "S3 bucket name.")
	f.StringVar(&c.S3.Region, "bucket.s3.region", "", "S3 region.")
	f.StringVar(&c.S3.AccessKeyID, "bucket.s3.access-key-id", "", "S3 access key ID.")
	f.StringVar(&c.S3.SecretAccessKey, "bucket.s3.secret-access-key", "", "S3 secret access key.")
	f.BoolVar(&c.S3.Insecure, "bucket.s3.insecure", false, "Use plain HTTP to reach the S3 endpoint.")
	f.BoolVar(&c.S3.PathStyle, "bucket.s3.path-style", true, "Address the bucket in the URL path rather than the host name (needed by most self-hosted S3 servers).")
	f.Uint64Var(&c.S3.PartSize, "bucket.s3.part-size", s3.DefaultConfig.PartSize, "Size in bytes of the parts of a multipart upload (at least 5 MiB); larger objects are uploaded in parts.")
	f.IntVar(&c.S3.ClientMaxRetries, "bucket.s3.client-max-retries", 0, "Attempts the S3 client library makes for each HTTP request before weft's own retries (-bucket.max-retries) step in; 1 disables the library's retries, 0 keeps its default (10).")

	f.StringVar(&c.GCS.BucketName, "bucket.gcs.bucket-name", "", "GCS bucket name.")
	f.StringVar(&c.GCS.ServiceAccount, "bucket.gcs.service-account", "", "GCS service account key: the JSON content itself, not a path. Empty uses Google's application default credentials.")

	f.StringVar(&c.Azure.AccountName, "bucket.azure.account-name", "", "Azure storage account name.")
	f.StringVar(&c.Azure.AccountKey, "bucket.azure.account-key", "", "Azure storage account key. Empty uses the default Azure credential chain (managed identity, environment).")
	f.StringVar(&c.Azure.ContainerName, "bucket.azure.container-name", "", "Azure Blob Storage container name; created if missing.")
	f.StringVar(&c.Azure.EndpointSuffix, "bucket.azure.endpoint-suffix", azure.DefaultConfig.Endpoint, "Azure Blob Storage endpoint suffix (the account's URL is https://<account>.<suffix>).")

	f.StringVar(&c.Swift.AuthURL, "bucket.swift.auth-url", "", "OpenStack Keystone authentication URL.")
	f.IntVar(&c.Swift.AuthVersion, "bucket.swift.auth-version", 0, "Keystone API version: 1, 2 or 3; 0 detects it from the URL.")
	f.StringVar(&c.Swift.Username, "bucket.swift.username", "", "OpenStack user name (or set -bucket.swift.user-id).")
	f.StringVar(&c.Swift.UserID, "bucket.swift.user-id", "", "OpenStack user ID (or set -bucket.swift.username).")
	f.StringVar(&c.Swift.Password, "bucket.swift.password", "", "OpenStack password or API key.")
	f.StringVar(&c.Swift.DomainName, "bucket.swift.domain-name", "", "OpenStack user domain name (Keystone v3).")
	f.StringVar(&c.Swift.DomainID, "bucket.swift.domain-id", "", "OpenStack user domain ID (Keystone v3).")
	f.StringVar(&c.Swift.ProjectName, "bucket.swift.project-name", "", "OpenStack project (tenant) name.")
	f.StringVar(&c.Swift.ProjectID, "bucket.swift.project-id", "", "OpenStack project (tenant) ID.")
	f.StringVar(&c.Swift.ProjectDomainName, "bucket.swift.project-domain-name", "", "OpenStack project domain name (Keystone v3).")
	f.StringVar(&c.Swift.ProjectDomainID, "bucket.swift.project-domain-id", "", "OpenStack project domain ID (Keystone v3).")
	f.StringVar(&c.Swift.RegionName, "bucket.swift.region-name", "", "OpenStack region.")
	f.StringVar(&c.Swift.ContainerName, "bucket.swift.container-name", "", "Swift container name; created if missing.")

	d := DefaultRetryOptions()
	f.IntVar(&c.MaxRetries, "bucket.max-retries", d.MaxRetries, "How many times a failed bucket operation is retried (object-not-found and access-denied errors are not). 0 disables retries.")
	f.DurationVar(&c.RetryMinBackoff, "bucket.retry-min-backoff", d.MinBackoff, "Wait before the first retry of a bucket operation; it doubles at each retry, with jitter.")
	f.DurationVar(&c.RetryMaxBackoff, "bucket.retry-max-backoff", d.MaxBackoff, "Longest wait between two retries of a bucket operation.")
	f.DurationVar(&c.RetryMaxTime, "bucket.retry-max-time", d.MaxTime, "No retry of a bucket operation starts later than this after its first attempt. 0 means only -bucket.max-retries bounds retries.")
}

// Validate reports a configuration that cannot work, naming every flag
// that is missing or wrong for the selected backend.
func (c *Config) Validate() error {
	var missing []string
	need := func(v, flagName string) {
		if v == "" {
			missing = append(missing, "-"+flagName)
		}
	}
	switch c.Backend {
	case Filesystem:
		need(c.Filesystem.Dir, "bucket.filesystem.dir")
	case S3:
		need(c.S3.Endpoint, "bucket.s3.endpoint")
		need(c.S3.BucketName, "bucket.s3.bucket-name")
	case GCS:
		need(c.GCS.BucketName, "bucket.gcs.bucket-name")
	case Azure:
		need(c.Azure.AccountName, "bucket.azure.account-name")
		need(c.Azure.ContainerName, "bucket.azure.container-name")
		need(c.Azure.EndpointSuffix, "bucket.azure.endpoint-suffix")
	case Swift:
		need(c.Swift.AuthURL, "bucket.swift.auth-url")
		if c.Swift.Username == "" && c.Swift.UserID == "" {
			missing = append(missing, "-bucket.swift.username (or -bucket.swift.user-id)")
		}
		need(c.Swift.Password, "bucket.swift.password")
		need(c.Swift.ContainerName, "bucket.swift.container-name")
	default:
		return fmt.Errorf("unknown bucket backend %q (-bucket.backend): use one of %s", c.Backend, strings.Join(backends, ", "))
	}
	if len(missing) > 0 {
		return fmt.Errorf("the %s bucket needs %s", c.Backend, strings.Join(missing, ", "))
	}
	if c.Backend == S3 {
		if c.S3.PartSize != 0 && c.S3.PartSize < 5<<20 {
			return fmt.Errorf("-bucket.s3.part-size must be at least 5 MiB (%d), not %d", 5<<20, c.S3.PartSize)
		}
		if c.S3.ClientMaxRetries < 0 {
			return fmt.Errorf("-bucket.s3.client-max-retries must be 0 or more, not %d", c.S3.ClientMaxRetries)
		}
	}
	if c.Backend == Swift && (c.Swift.AuthVersion < 0 || c.Swift.AuthVersion > 3) {
		return fmt.Errorf("-bucket.swift.auth-version must be 0 (detect), 1, 2 or 3, not %d", c.Swift.AuthVersion)
	}
	if c.Backend == GCS && c.GCS.ServiceAccount != "" && !strings.HasPrefix(strings.TrimSpace(c.GCS.ServiceAccount), "{") {
		return errors.New("-bucket.gcs.service-account must be the JSON content of a service account key, not a file name")
	}
	if p := strings.Trim(c.Prefix, "/"); p != "" {
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return fmt.Errorf("-bucket.prefix %q must be a path like \"a/b\" without empty, \".\" or \"..\" parts", c.Prefix)
			}
		}
	}
	return c.RetryOptions().validate()
}

// RetryOptions returns the retry settings of the config.
func (c *Config) RetryOptions() RetryOptions {
	return RetryOptions{
		MaxRetries: c.MaxRetries,
		MinBackoff: c.RetryMinBackoff,
		MaxBackoff: c.RetryMaxBackoff,
		MaxTime:    c.RetryMaxTime,
	}
}

// Redacted returns a copy of c with every credential hidden, for /config.
func (c Config) Redacted() Config {
	hide := func(s *string) {
		if *s != "" {
			*s = "********"
		}
	}
	hide(&c.S3.SecretAccessKey)
	hide(&c.GCS.ServiceAccount)
	hide(&c.Azure.AccountKey)
	hide(&c.Swift.Password)
	return c
}

// New opens the configured bucket. The result is instrumented with
// objstore's metrics under the "weft_" prefix (one observation per
// attempt) and retries failed operations as WithRetries describes.
// Uploads to the filesystem backend are atomic (a temporary file renamed
// into place), as they are on object stores.
// Swift and Azure contact the service (to authenticate, and to create the
// container when missing) before New returns.
func New(c Config, component string, reg prometheus.Registerer, logger *slog.Logger) (objstore.InstrumentedBucket, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b, err := newProvider(context.Background(), c, component, logger)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s bucket: %w", c.Backend, err)
	}
	if p := strings.Trim(c.Prefix, "/"); p != "" {
		b = objstore.NewPrefixedBucket(b, p)
	}
	if reg != nil {
		reg = prometheus.WrapRegistererWithPrefix("weft_", prometheus.WrapRegistererWith(prometheus.Labels{"component": component}, reg))
	}
	return WithRetries(objstore.WrapWithMetrics(b, reg, c.Backend), c.RetryOptions(), reg, logger)
}

func newProvider(ctx context.Context, c Config, component string, logger *slog.Logger) (objstore.Bucket, error) {
	kit := logutil.GoKit(logger)
	switch c.Backend {
	case Filesystem:
		return newFilesystemBucket(c.Filesystem.Dir)
	case S3:
		cfg := s3.DefaultConfig
		cfg.Endpoint = c.S3.Endpoint
		cfg.Bucket = c.S3.BucketName
		cfg.Region = c.S3.Region
		cfg.AccessKey = c.S3.AccessKeyID
		cfg.SecretKey = c.S3.SecretAccessKey
		cfg.Insecure = c.S3.Insecure
		if c.S3.PartSize != 0 {
			cfg.PartSize = c.S3.PartSize
		}
		cfg.MaxRetries = c.S3.ClientMaxRetries
		if c.S3.PathStyle {
			cfg.BucketLookupType = s3.PathLookup
		}
		return s3.NewBucketWithConfig(kit, cfg, component, nil)
	case GCS:
		cfg := gcs.DefaultConfig
		cfg.Bucket = c.GCS.BucketName
		cfg.ServiceAccount = c.GCS.ServiceAccount
		return gcs.NewBucketWithConfig(ctx, kit, cfg, component, nil)
	case Azure:
		cfg := azure.DefaultConfig
		cfg.StorageAccountName = c.Azure.AccountName
		cfg.StorageAccountKey = c.Azure.AccountKey
		cfg.ContainerName = c.Azure.ContainerName
		cfg.Endpoint = c.Azure.EndpointSuffix
		return azure.NewBucketWithConfig(kit, cfg, component, nil)
	case Swift:
		cfg := swift.DefaultConfig
		cfg.AuthUrl = c.Swift.AuthURL
		cfg.AuthVersion = c.Swift.AuthVersion
		cfg.Username = c.Swift.Username
		cfg.UserId = c.Swift.UserID
		cfg.Password = c.Swift.Password
		cfg.DomainName = c.Swift.DomainName
		cfg.DomainId = c.Swift.DomainID
		cfg.ProjectName = c.Swift.ProjectName
		cfg.ProjectID = c.Swift.ProjectID
		cfg.ProjectDomainName = c.Swift.ProjectDomainName
		cfg.ProjectDomainID = c.Swift.ProjectDomainID
		cfg.RegionName = c.Swift.RegionName
		cfg.ContainerName = c.Swift.ContainerName
		return swift.NewContainerFromConfig(kit, &cfg, true, nil)
	}
	return nil, fmt.Errorf("unknown bucket backend %q", c.Backend)
}
