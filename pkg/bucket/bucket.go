// Package bucket configures the object storage bucket that holds every
// tenant's blocks, using thanos-io/objstore for the backends. It owns the
// bucket layout: <tenant>/<block ULID>/... plus per-tenant prefixes.
package bucket

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
	"github.com/thanos-io/objstore/providers/s3"

	"github.com/weft-io/weft/pkg/logutil"
)

// Backends weft can store blocks in.
const (
	Filesystem = "filesystem"
	S3         = "s3"
)

// Config selects and configures the bucket.
type Config struct {
	Backend    string           `yaml:"backend"`
	Filesystem FilesystemConfig `yaml:"filesystem"`
	S3         S3Config         `yaml:"s3"`
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
}

// RegisterFlags registers the bucket flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Backend, "bucket.backend", Filesystem, "Object storage backend: filesystem or s3.")
	f.StringVar(&c.Filesystem.Dir, "bucket.filesystem.dir", "./data/bucket", "Directory of the filesystem bucket.")
	f.StringVar(&c.S3.Endpoint, "bucket.s3.endpoint", "", "S3 endpoint (host:port).")
	f.StringVar(&c.S3.BucketName, "bucket.s3.bucket-name", "", "S3 bucket name.")
	f.StringVar(&c.S3.Region, "bucket.s3.region", "", "S3 region.")
	f.StringVar(&c.S3.AccessKeyID, "bucket.s3.access-key-id", "", "S3 access key ID.")
	f.StringVar(&c.S3.SecretAccessKey, "bucket.s3.secret-access-key", "", "S3 secret access key.")
	f.BoolVar(&c.S3.Insecure, "bucket.s3.insecure", false, "Use plain HTTP to reach the S3 endpoint.")
	f.BoolVar(&c.S3.PathStyle, "bucket.s3.path-style", true, "Address the bucket in the URL path rather than the host name (needed by most self-hosted S3 servers).")
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch c.Backend {
	case Filesystem:
		if c.Filesystem.Dir == "" {
			return errors.New("bucket.filesystem.dir must be set")
		}
	case S3:
		if c.S3.Endpoint == "" || c.S3.BucketName == "" {
			return errors.New("bucket.s3.endpoint and bucket.s3.bucket-name must be set")
		}
	default:
		return fmt.Errorf("unknown bucket backend %q: use %s", c.Backend, strings.Join([]string{Filesystem, S3}, " or "))
	}
	return nil
}

// New opens the configured bucket, instrumented with objstore's metrics
// under the "weft_" prefix.
func New(c Config, component string, reg prometheus.Registerer, logger *slog.Logger) (objstore.InstrumentedBucket, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var (
		b   objstore.Bucket
		err error
	)
	switch c.Backend {
	case Filesystem:
		b, err = filesystem.NewBucket(c.Filesystem.Dir)
	case S3:
		cfg := s3.DefaultConfig
		cfg.Endpoint = c.S3.Endpoint
		cfg.Bucket = c.S3.BucketName
		cfg.Region = c.S3.Region
		cfg.AccessKey = c.S3.AccessKeyID
		cfg.SecretKey = c.S3.SecretAccessKey
		cfg.Insecure = c.S3.Insecure
		if c.S3.PathStyle {
			cfg.BucketLookupType = s3.PathLookup
		}
		b, err = s3.NewBucketWithConfig(logutil.GoKit(logger), cfg, component, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open %s bucket: %w", c.Backend, err)
	}
	if reg != nil {
		reg = prometheus.WrapRegistererWithPrefix("weft_", prometheus.WrapRegistererWith(prometheus.Labels{"component": component}, reg))
	}
	return objstore.WrapWithMetrics(b, reg, c.Backend), nil
}
