package bucket

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/weft-io/weft/internal/testport"
)

// defaultConfig is the config that the flags' defaults give.
func defaultConfig(t testing.TB) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	return c
}

// parse applies YAML then flags over the defaults, as weft's main does,
// rejecting unknown YAML keys. The filesystem directory starts as the app
// derives it from -data.dir.
func parse(t *testing.T, doc string, args ...string) Config {
	t.Helper()
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	c.Filesystem.Dir = "./data/bucket"
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	require.NoError(t, fs.Parse(args))
	return c
}

func TestConfigDefaults(t *testing.T) {
	c := defaultConfig(t)
	require.Equal(t, Filesystem, c.Backend)
	require.Empty(t, c.Filesystem.Dir, "the app derives it from -data.dir")
	require.ErrorContains(t, c.Validate(), "-bucket.filesystem.dir")
	require.Equal(t, "blob.core.windows.net", c.Azure.EndpointSuffix)
	require.Equal(t, DefaultRetryOptions(), c.RetryOptions())
	c.Filesystem.Dir = "./data/bucket"
	require.NoError(t, c.Validate())
}

func TestConfigParseBackends(t *testing.T) {
	c := parse(t, `
backend: gcs
prefix: prod/eu
gcs:
  bucket_name: weft-blocks
  service_account: '{"type": "service_account"}'
max_retries: 3
retry_min_backoff: 50ms
retry_max_backoff: 2s
retry_max_time: 30s
`)
	require.Equal(t, GCSConfig{BucketName: "weft-blocks", ServiceAccount: `{"type": "service_account"}`}, c.GCS)
	require.Equal(t, "prod/eu", c.Prefix)
	require.Equal(t, RetryOptions{MaxRetries: 3, MinBackoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second, MaxTime: 30 * time.Second}, c.RetryOptions())
	require.NoError(t, c.Validate())

	c = parse(t, `
backend: azure
azure:
  account_name: weftacct
  account_key: c2VjcmV0
  container_name: blocks
`, "-bucket.azure.endpoint-suffix=blob.core.chinacloudapi.cn")
	require.Equal(t, AzureConfig{AccountName: "weftacct", AccountKey: "c2VjcmV0", ContainerName: "blocks", EndpointSuffix: "blob.core.chinacloudapi.cn"}, c.Azure)
	require.NoError(t, c.Validate())

	c = parse(t, `
backend: swift
swift:
  auth_url: https://keystone.example.com/v3
  auth_version: 3
  username: weft
  password: hunter2
  domain_name: Default
  project_name: monitoring
  project_domain_name: Default
  region_name: RegionOne
  container_name: blocks
`)
	require.Equal(t, SwiftConfig{
		AuthURL: "https://keystone.example.com/v3", AuthVersion: 3, Username: "weft", Password: "hunter2",
		DomainName: "Default", ProjectName: "monitoring", ProjectDomainName: "Default",
		RegionName: "RegionOne", ContainerName: "blocks",
	}, c.Swift)
	require.NoError(t, c.Validate())

	// Flags win over YAML.
	c = parse(t, "backend: swift\n", "-bucket.backend=s3", "-bucket.s3.endpoint=localhost:9000", "-bucket.s3.bucket-name=b",
		"-bucket.s3.part-size=8388608", "-bucket.max-retries=0")
	require.Equal(t, S3, c.Backend)
	require.Equal(t, uint64(8<<20), c.S3.PartSize)
	require.Zero(t, c.MaxRetries)
	require.NoError(t, c.Validate())

	// Unknown keys are errors.
	var bad Config
	dec := yaml.NewDecoder(strings.NewReader("gcs:\n  bucket: x\n"))
	dec.KnownFields(true)
	require.Error(t, dec.Decode(&bad))
}

func TestConfigValidate(t *testing.T) {
	f := func(yamlDoc string, want ...string) {
		t.Helper()
		c := parse(t, yamlDoc)
		err := c.Validate()
		if len(want) == 0 {
			require.NoError(t, err)
			return
		}
		require.Error(t, err)
		for _, w := range want {
			require.Contains(t, err.Error(), w)
		}
	}
	f("backend: filesystem\nfilesystem: {dir: ''}\n", "-bucket.filesystem.dir")
	f("backend: nfs\n", `unknown bucket backend "nfs"`, "filesystem, s3, gcs, azure, swift")
	f("backend: s3\n", "the s3 bucket needs -bucket.s3.endpoint, -bucket.s3.bucket-name")
	f("backend: s3\ns3: {endpoint: 'x:1', bucket_name: b, part_size: 1024}\n", "-bucket.s3.part-size must be at least 5 MiB")
	f("backend: gcs\n", "the gcs bucket needs -bucket.gcs.bucket-name")
	f("backend: gcs\ngcs: {bucket_name: b, service_account: /etc/sa.json}\n", "JSON content", "not a file name")
	f("backend: azure\n", "the azure bucket needs -bucket.azure.account-name, -bucket.azure.container-name")
	f("backend: azure\nazure: {account_name: a}\n", "needs -bucket.azure.container-name")
	f("backend: azure\nazure: {account_name: a, container_name: c}\n") // key-less: managed identity
	f("backend: swift\n", "the swift bucket needs -bucket.swift.auth-url, -bucket.swift.username (or -bucket.swift.user-id), -bucket.swift.password, -bucket.swift.container-name")
	f("backend: swift\nswift: {auth_url: u, user_id: id, password: p, container_name: c}\n")
	f("backend: swift\nswift: {auth_url: u, user_id: id, password: p, container_name: c, auth_version: 4}\n", "-bucket.swift.auth-version")
	f("prefix: a/../b\n", "-bucket.prefix")
	f("prefix: /a/b/\n")
	f("max_retries: -1\n", "-bucket.max-retries")
	f("retry_min_backoff: 0s\n", "-bucket.retry-min-backoff")
	f("retry_min_backoff: 2s\nretry_max_backoff: 1s\n", "-bucket.retry-max-backoff")
	f("max_retries: 0\nretry_min_backoff: 0s\n") // retries off: backoffs do not matter
	f("retry_max_time: -1s\n", "-bucket.retry-max-time")
}

func TestConfigRedacted(t *testing.T) {
	c := parse(t, `
s3: {secret_access_key: s3secret}
gcs: {service_account: '{"private_key": "gcssecret"}'}
azure: {account_key: azsecret}
swift: {password: swsecret}
`)
	out, err := yaml.Marshal(c.Redacted())
	require.NoError(t, err)
	for _, secret := range []string{"s3secret", "gcssecret", "azsecret", "swsecret"} {
		require.NotContains(t, string(out), secret)
	}
	require.Equal(t, "s3secret", c.S3.SecretAccessKey, "Redacted must not change its receiver")

	// What /config prints reads back as the same config.
	out, err = yaml.Marshal(c)
	require.NoError(t, err)
	back := parse(t, string(out))
	require.Equal(t, c, back)
}

// TestNewCloudBackendsFailClearly opens the cloud backends as far as can
// be done without their services: errors must say which backend failed.
func TestNewCloudBackendsFailClearly(t *testing.T) {
	c := defaultConfig(t)
	c.Backend = GCS
	c.GCS.BucketName = "b"
	c.GCS.ServiceAccount = `{"type": "not-a-key"`
	_, err := New(c, "test", nil, nil)
	require.ErrorContains(t, err, "cannot open gcs bucket")

	// Swift authenticates in New: a closed loopback port fails fast.
	c = defaultConfig(t)
	c.Backend = Swift
	c.Swift = SwiftConfig{AuthURL: "http://" + testport.Addr(t) + "/v3", Username: "u", Password: "p", ContainerName: "c"}
	_, err = New(c, "test", nil, nil)
	require.ErrorContains(t, err, "cannot open swift bucket")
}
