package ring

import (
	"flag"
	"sort"
	"strings"
	"testing"
	"time"

	gokit "github.com/go-kit/log"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestFlagNames(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, want := range []string{
		"ring.store", "ring.etcd.endpoints", "ring.consul.hostname",
		"memberlist.join", "memberlist.bind-addr", "memberlist.bind-port",
		"memberlist.advertise-addr", "memberlist.advertise-port", "memberlist.node-name",
		"ingester.ring.instance-id", "ingester.ring.instance-addr", "ingester.availability-zone",
		"ingester.ring.num-tokens", "ingester.ring.heartbeat-period", "ingester.ring.heartbeat-timeout",
		"distributor.replication-factor", "distributor.zone-awareness-enabled",
		"ingester.ring.tokens-file-path", "ingester.ring.auto-forget-unhealthy-period",
	} {
		require.Contains(t, names, want)
	}
	for _, n := range names {
		ok := strings.HasPrefix(n, "ring.") || strings.HasPrefix(n, "memberlist.") ||
			strings.HasPrefix(n, "ingester.") || strings.HasPrefix(n, "distributor.") || strings.HasPrefix(n, "store-gateway.") || strings.HasPrefix(n, "compactor.") ||
			strings.HasPrefix(n, "ruler.") || strings.HasPrefix(n, "alertmanager.") || strings.HasPrefix(n, "query-scheduler.")
		require.True(t, ok, "flag %s outside weft's names", n)
	}
}

func TestDefaults(t *testing.T) {
	c := defaults(t)
	require.Equal(t, StoreMemberlist, c.Ring.Store)
	require.Equal(t, 7946, c.Memberlist.BindPort)
	ing := c.Ring.Ingester
	require.Equal(t, 128, ing.NumTokens)
	require.Equal(t, 5*time.Second, ing.HeartbeatPeriod)
	require.Equal(t, time.Minute, ing.HeartbeatTimeout)
	require.Equal(t, 3, ing.ReplicationFactor)
	require.True(t, ing.UnregisterOnShutdown)
	require.NoError(t, c.Validate())

	d := c.Memberlist.dskit()
	require.NoError(t, d.Validate())
	require.Equal(t, 7946, d.TCPTransport.BindPort)
	require.Positive(t, d.WatchPrefixBufferSize, "dskit defaults must be applied")
}

func TestFlagsAndYAML(t *testing.T) {
	// The app embeds Config inline; YAML below flags, unknown keys fail.
	type root struct {
		Target string `yaml:"target"`
		Ring   Config `yaml:",inline"`
	}
	var r root
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	r.Ring.RegisterFlags(fs)
	dec := yaml.NewDecoder(strings.NewReader(`
target: ingester
memberlist:
  join: [ "a:7946", "b:7946" ]
  bind_addr: 10.0.0.1
  bind_port: 7947
  cluster_label: prod
ring:
  store: etcd
  etcd:
    endpoints: etcd-1:2379,etcd-2:2379
    password: s3cret
  ingester:
    instance_id: ingester-7
    availability_zone: z1
    replication_factor: 5
    zone_awareness_enabled: true
    tokens_file_path: /data/tokens
    auto_forget_unhealthy_period: 10m
`))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&r))
	require.NoError(t, fs.Parse([]string{"-memberlist.join=c:7946,d:7946", "-distributor.replication-factor=3"}))

	c := r.Ring
	require.Equal(t, StringList{"c:7946", "d:7946"}, c.Memberlist.Join)
	require.Equal(t, StringList{"10.0.0.1"}, c.Memberlist.BindAddr)
	require.Equal(t, 7947, c.Memberlist.BindPort)
	require.Equal(t, "etcd", c.Ring.Store)
	require.Equal(t, StringList{"etcd-1:2379", "etcd-2:2379"}, c.Ring.Etcd.Endpoints)
	require.Equal(t, "s3cret", c.Ring.Etcd.Password.String())
	require.Equal(t, "ingester-7", c.Ring.Ingester.InstanceID)
	require.Equal(t, 3, c.Ring.Ingester.ReplicationFactor)
	require.Equal(t, 10*time.Minute, c.Ring.Ingester.AutoForgetUnhealthyPeriod)
	require.NoError(t, c.Validate())

	// Secrets do not leak into /config.
	out, err := yaml.Marshal(&r)
	require.NoError(t, err)
	require.NotContains(t, string(out), "s3cret")
	require.Contains(t, string(out), "- c:7946")

	bad := yaml.NewDecoder(strings.NewReader("ring:\n  stor: etcd\n"))
	bad.KnownFields(true)
	require.Error(t, bad.Decode(&r))
}

func TestValidate(t *testing.T) {
	f := func(edit func(*Config), wantErr string) {
		t.Helper()
		c := defaults(t)
		edit(&c)
		err := c.Validate()
		if wantErr == "" {
			require.NoError(t, err)
			return
		}
		require.ErrorContains(t, err, wantErr)
	}
	f(func(*Config) {}, "")
	f(func(c *Config) { c.Ring.Store = "zookeeper" }, `unknown ring.store "zookeeper"`)
	f(func(c *Config) { c.Ring.Store = StoreEtcd }, "ring.etcd.endpoints must be set")
	f(func(c *Config) { c.Ring.Store = StoreConsul; c.Ring.Consul.Hostname = "" }, "ring.consul.hostname must be set")
	f(func(c *Config) { c.Ring.Ingester.ReplicationFactor = 0 }, "replication-factor must be positive")
	f(func(c *Config) { c.Ring.Ingester.NumTokens = 0 }, "num-tokens must be positive")
	f(func(c *Config) { c.Ring.Ingester.HeartbeatPeriod = 2 * time.Minute }, "must not exceed")
	f(func(c *Config) { c.Ring.Ingester.AutoForgetUnhealthyPeriod = time.Second }, "auto-forget-unhealthy-period must be 0 or at least")
	f(func(c *Config) { c.Memberlist.BindAddr = StringList{"host"} }, "not an IP address")
	f(func(c *Config) { c.Memberlist.BindPort = 70000 }, "not a port")
	// Memberlist settings do not matter with another store.
	f(func(c *Config) { c.Ring.Store = StoreInMemory; c.Memberlist.BindPort = -1 }, "")
}

func TestInstanceAddr(t *testing.T) {
	logger := gokit.NewNopLogger()
	f := func(configured, listen, want, wantErr string) {
		t.Helper()
		got, err := instanceAddr(configured, listen, logger)
		if wantErr != "" {
			require.ErrorContains(t, err, wantErr)
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	f("10.1.2.3:9095", ":1", "10.1.2.3:9095", "")
	f("10.1.2.3", "", "", "not host:port")
	f("", "127.0.0.1:9095", "127.0.0.1:9095", "")
	f("", "ingester-1.weft:9095", "ingester-1.weft:9095", "")
	f("", "", "", "no gRPC listen address")
	// An unspecified host is replaced by this host's address.
	got, err := instanceAddr("", ":9095", logger)
	if err == nil {
		require.True(t, strings.HasSuffix(got, ":9095"), got)
		require.False(t, strings.HasPrefix(got, ":"), got)
	}
}

func TestStringList(t *testing.T) {
	var l StringList
	require.NoError(t, l.Set(" a, b ,,c"))
	require.Equal(t, StringList{"a", "b", "c"}, l)
	require.Equal(t, "a,b,c", l.String())
	require.NoError(t, l.Set(""))
	require.Empty(t, l)
	require.NoError(t, yaml.Unmarshal([]byte("[x, y]"), &l))
	require.Equal(t, StringList{"x", "y"}, l)
}
