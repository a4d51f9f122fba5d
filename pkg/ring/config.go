package ring

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/grafana/dskit/flagext"
	"github.com/grafana/dskit/kv/consul"
	"github.com/grafana/dskit/kv/etcd"
	"github.com/grafana/dskit/kv/memberlist"
	"gopkg.in/yaml.v3"
)

// KV store backends accepted by -ring.store.
const (
	StoreMemberlist = "memberlist"
	StoreEtcd       = "etcd"
	StoreConsul     = "consul"
	// StoreInMemory keeps the ring in the memory of one process: for tests
	// and for several roles in one process that need no other member.
	StoreInMemory = "inmemory"
)

// Config is everything pkg/ring needs, in two YAML sections. The app embeds
// it with `yaml:",inline"` so that the sections are the top-level keys
// `memberlist:` and `ring:`, matching the -memberlist.* and -ring.* flags.
type Config struct {
	Memberlist MemberlistConfig `yaml:"memberlist"`
	Ring       RingConfig       `yaml:"ring"`
}

// RegisterFlags registers the flags of both sections.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	c.Memberlist.RegisterFlags(f)
	c.Ring.RegisterFlags(f)
}

// Validate reports every setting that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Ring.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Ring.Store == StoreMemberlist {
		if err := c.Memberlist.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MemberlistConfig configures the gossip cluster that holds the rings when
// -ring.store=memberlist. One memberlist node runs per process and serves
// every ring of that process.
type MemberlistConfig struct {
	Join              StringList    `yaml:"join"`
	BindAddr          StringList    `yaml:"bind_addr"`
	BindPort          int           `yaml:"bind_port"`
	AdvertiseAddr     string        `yaml:"advertise_addr"`
	AdvertisePort     int           `yaml:"advertise_port"`
	NodeName          string        `yaml:"node_name"`
	RandomizeNodeName bool          `yaml:"randomize_node_name"`
	ClusterLabel      string        `yaml:"cluster_label"`
	RejoinInterval    time.Duration `yaml:"rejoin_interval"`
	AbortIfJoinFails  bool          `yaml:"abort_if_join_fails"`
	LeaveTimeout      time.Duration `yaml:"leave_timeout"`
	// TLS encrypts the gossip (over TCP, dskit's transport): each member
	// serves TLS with its certificate and verifies the others' with the CA.
	TLSEnabled    bool   `yaml:"tls_enabled"`
	TLSCertFile   string `yaml:"tls_cert_file"`
	TLSKeyFile    string `yaml:"tls_key_file"`
	TLSCAFile     string `yaml:"tls_ca_file"`
	TLSServerName string `yaml:"tls_server_name"`

	// tweak, when set, edits the dskit configuration last; tests use it for
	// faster gossip.
	tweak func(*memberlist.KVConfig)
}

// RegisterFlags registers the -memberlist.* flags.
func (c *MemberlistConfig) RegisterFlags(f *flag.FlagSet) {
	f.Var(&c.Join, "memberlist.join", "Comma-separated host:port list of other members to join (a DNS name resolving to several members also works, and dns+/dnssrv+ prefixes as in dskit). Empty starts a cluster of one.")
	f.Var(&c.BindAddr, "memberlist.bind-addr", "Comma-separated IP addresses to listen on for gossip. Empty listens on all addresses.")
	f.IntVar(&c.BindPort, "memberlist.bind-port", 7946, "TCP port to listen on for gossip; 0 picks a free port.")
	f.StringVar(&c.AdvertiseAddr, "memberlist.advertise-addr", "", "Gossip address advertised to other members, when it differs from the bind address (NAT). Empty derives it from the bind address or a private interface.")
	f.IntVar(&c.AdvertisePort, "memberlist.advertise-port", 7946, "Gossip port advertised to other members; used only with -memberlist.advertise-addr (otherwise the bound port is advertised).")
	f.StringVar(&c.NodeName, "memberlist.node-name", "", "Name of this node in the gossip cluster. Empty uses the hostname.")
	f.BoolVar(&c.RandomizeNodeName, "memberlist.randomize-node-name", true, "Add a random suffix to the node name, so that a restarted process never collides with its previous, not yet forgotten, incarnation.")
	f.StringVar(&c.ClusterLabel, "memberlist.cluster-label", "", "Label sent with every gossip message; members with a different label ignore them. Keeps two clusters on one network apart.")
	// A partition longer than memberlist's gossip to the dead (30 s) and
	// its own suspicion of the other side leaves two clusters that never
	// speak again: only a rejoin heals them (integration/partition_test.go).
	f.DurationVar(&c.RejoinInterval, "memberlist.rejoin-interval", time.Minute, "How often to join the -memberlist.join members again, which heals a cluster split by a network partition that lasted longer than about a minute (the members stop gossiping to those they declared dead). 0 never rejoins.")
	f.BoolVar(&c.AbortIfJoinFails, "memberlist.abort-if-join-fails", false, "Fail the process when it cannot join any -memberlist.join member at startup.")
	f.DurationVar(&c.LeaveTimeout, "memberlist.leave-timeout", 20*time.Second, "How long to wait for the leave message to reach other members on shutdown.")
	f.BoolVar(&c.TLSEnabled, "memberlist.tls-enabled", false, "Gossip over TLS (TLS 1.2 at least): every member of the cluster must set it. Needs -memberlist.tls-cert-file and -memberlist.tls-key-file.")
	f.StringVar(&c.TLSCertFile, "memberlist.tls-cert-file", "", "PEM certificate this member serves gossip with, and presents to the others. Read at start.")
	f.StringVar(&c.TLSKeyFile, "memberlist.tls-key-file", "", "PEM private key of -memberlist.tls-cert-file.")
	f.StringVar(&c.TLSCAFile, "memberlist.tls-ca-file", "", "PEM CA certificates that sign the other members' certificates; empty trusts the system's CAs.")
	f.StringVar(&c.TLSServerName, "memberlist.tls-server-name", "", "Name the other members' certificates must carry; empty: the host of the address dialled.")
}

// Validate reports every setting that cannot work.
func (c *MemberlistConfig) Validate() error {
	var errs []error
	if c.BindPort < 0 || c.BindPort > 65535 {
		errs = append(errs, fmt.Errorf("memberlist.bind-port %d is not a port", c.BindPort))
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		errs = append(errs, fmt.Errorf("memberlist.advertise-port %d is not a port", c.AdvertisePort))
	}
	for _, a := range c.BindAddr {
		if net.ParseIP(a) == nil {
			errs = append(errs, fmt.Errorf("memberlist.bind-addr %q is not an IP address", a))
		}
	}
	if c.TLSEnabled && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		errs = append(errs, errors.New("memberlist.tls-enabled needs memberlist.tls-cert-file and memberlist.tls-key-file: each member serves TLS"))
	}
	for _, m := range c.Join {
		if m == "" {
			errs = append(errs, errors.New("memberlist.join has an empty member"))
		}
	}
	return errors.Join(errs...)
}

// dskit returns dskit's memberlist configuration: dskit's defaults with
// weft's settings on top.
func (c *MemberlistConfig) dskit() memberlist.KVConfig {
	var d memberlist.KVConfig
	// Registering dskit's own flags on a scratch set is the only way to get
	// all of its defaults, some of which are unexported.
	fs := flag.NewFlagSet("dskit-memberlist", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d.RegisterFlags(fs)

	d.JoinMembers = append(flagext.StringSliceCSVMulti(nil), c.Join...)
	d.TCPTransport.BindAddrs = append(flagext.StringSlice(nil), c.BindAddr...)
	d.TCPTransport.BindPort = c.BindPort
	d.AdvertiseAddr = c.AdvertiseAddr
	d.AdvertisePort = c.AdvertisePort
	d.NodeName = c.NodeName
	d.RandomizeNodeName = c.RandomizeNodeName
	d.ClusterLabel = c.ClusterLabel
	d.RejoinInterval = c.RejoinInterval
	d.AbortIfJoinFails = c.AbortIfJoinFails
	d.LeaveTimeout = c.LeaveTimeout
	if c.TLSEnabled {
		d.TCPTransport.TLSEnabled = true
		d.TCPTransport.TLS.CertPath = c.TLSCertFile
		d.TCPTransport.TLS.KeyPath = c.TLSKeyFile
		d.TCPTransport.TLS.CAPath = c.TLSCAFile
		d.TCPTransport.TLS.ServerName = c.TLSServerName
		d.TCPTransport.TLS.MinVersion = "VersionTLS12"
	}
	if c.tweak != nil {
		c.tweak(&d)
	}
	return d
}

// RingConfig is the `ring:` section: where ring state is kept and the
// settings of each ring. Later rings (store-gateway, compactor) get their
// own sub-sections next to Ingester and share the store.
type RingConfig struct {
	Store    string         `yaml:"store"`
	Prefix   string         `yaml:"prefix"`
	Etcd     EtcdConfig     `yaml:"etcd"`
	Consul   ConsulConfig   `yaml:"consul"`
	Ingester IngesterConfig `yaml:"ingester"`
	// StoreGateway is the ring that shards blocks over store-gateways.
	StoreGateway ShardRingConfig `yaml:"store_gateway"`
	// Compactor is the ring that gives each tenant to one compactor.
	Compactor ShardRingConfig `yaml:"compactor"`
	// Ruler is the ring that gives each rule group to one ruler.
	Ruler ShardRingConfig `yaml:"ruler"`
	// Alertmanager is the ring that gives each tenant's Alertmanager to
	// replication-factor alertmanagers.
	Alertmanager ShardRingConfig `yaml:"alertmanager"`
	// QueryScheduler is the ring in which query-schedulers register, so
	// that frontends and queriers find them.
	QueryScheduler ShardRingConfig `yaml:"query_scheduler"`
	// Distributor is the ring in which distributors register, so that
	// each knows how many share the tenants' global ingestion limits.
	Distributor DistributorRingConfig `yaml:"distributor"`
}

// RegisterFlags registers the -ring.* flags and the ingester ring's flags.
func (c *RingConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Store, "ring.store", StoreMemberlist, "Where rings are kept: memberlist (gossip between weft processes, no extra server), etcd, consul, or inmemory (one process only, for tests).")
	f.StringVar(&c.Prefix, "ring.prefix", "weft/", "Prefix of the ring keys in the KV store; lets several weft clusters share one etcd or Consul.")
	c.Etcd.RegisterFlags(f)
	c.Consul.RegisterFlags(f)
	c.Ingester.RegisterFlags(f)
	c.StoreGateway.RegisterFlagsWithPrefix(f, "store-gateway", 3)
	c.Compactor.RegisterFlagsWithPrefix(f, "compactor", 0)
	c.Ruler.RegisterFlagsWithPrefix(f, "ruler", 0)
	c.Alertmanager.RegisterFlagsWithPrefix(f, "alertmanager", 3)
	c.QueryScheduler.RegisterFlagsWithPrefix(f, "query-scheduler", 0)
	c.Distributor.RegisterFlags(f)
}

// Validate reports every setting that cannot work.
func (c *RingConfig) Validate() error {
	var errs []error
	switch c.Store {
	case StoreMemberlist, StoreInMemory:
	case StoreEtcd:
		if len(c.Etcd.Endpoints) == 0 {
			errs = append(errs, errors.New("ring.etcd.endpoints must be set with -ring.store=etcd"))
		}
	case StoreConsul:
		if c.Consul.Hostname == "" {
			errs = append(errs, errors.New("ring.consul.hostname must be set with -ring.store=consul"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown ring.store %q: use memberlist, etcd, consul or inmemory", c.Store))
	}
	if err := c.Ingester.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.StoreGateway.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Compactor.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Ruler.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Alertmanager.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.QueryScheduler.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Distributor.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// EtcdConfig locates etcd when -ring.store=etcd.
type EtcdConfig struct {
	Endpoints   StringList     `yaml:"endpoints"`
	DialTimeout time.Duration  `yaml:"dial_timeout"`
	MaxRetries  int            `yaml:"max_retries"`
	Username    string         `yaml:"username"`
	Password    flagext.Secret `yaml:"password"`
	TLSEnabled  bool           `yaml:"tls_enabled"`
	TLSCertPath string         `yaml:"tls_cert_path"`
	TLSKeyPath  string         `yaml:"tls_key_path"`
	TLSCAPath   string         `yaml:"tls_ca_path"`
}

// RegisterFlags registers the -ring.etcd.* flags.
func (c *EtcdConfig) RegisterFlags(f *flag.FlagSet) {
	f.Var(&c.Endpoints, "ring.etcd.endpoints", "Comma-separated etcd endpoints (host:port).")
	f.DurationVar(&c.DialTimeout, "ring.etcd.dial-timeout", 10*time.Second, "Timeout of connecting to etcd.")
	f.IntVar(&c.MaxRetries, "ring.etcd.max-retries", 10, "How many times a failed etcd operation is retried.")
	f.StringVar(&c.Username, "ring.etcd.username", "", "etcd user name.")
	f.Var(&c.Password, "ring.etcd.password", "etcd password.")
	f.BoolVar(&c.TLSEnabled, "ring.etcd.tls-enabled", false, "Connect to etcd over TLS.")
	f.StringVar(&c.TLSCertPath, "ring.etcd.tls-cert-path", "", "Client certificate for etcd; needs -ring.etcd.tls-key-path.")
	f.StringVar(&c.TLSKeyPath, "ring.etcd.tls-key-path", "", "Key of the client certificate for etcd.")
	f.StringVar(&c.TLSCAPath, "ring.etcd.tls-ca-path", "", "CA certificates that sign etcd's certificate; empty uses the system's.")
}

func (c *EtcdConfig) dskit() etcd.Config {
	var d etcd.Config
	fs := flag.NewFlagSet("dskit-etcd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d.RegisterFlags(fs)
	d.Endpoints = append([]string(nil), c.Endpoints...)
	d.DialTimeout = c.DialTimeout
	d.MaxRetries = c.MaxRetries
	d.UserName = c.Username
	d.Password = c.Password
	d.EnableTLS = c.TLSEnabled
	d.TLS.CertPath = c.TLSCertPath
	d.TLS.KeyPath = c.TLSKeyPath
	d.TLS.CAPath = c.TLSCAPath
	return d
}

// ConsulConfig locates Consul when -ring.store=consul.
type ConsulConfig struct {
	Hostname      string         `yaml:"hostname"`
	ACLToken      flagext.Secret `yaml:"acl_token"`
	ClientTimeout time.Duration  `yaml:"client_timeout"`
}

// RegisterFlags registers the -ring.consul.* flags.
func (c *ConsulConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Hostname, "ring.consul.hostname", "localhost:8500", "Consul's host:port.")
	f.Var(&c.ACLToken, "ring.consul.acl-token", "ACL token for Consul.")
	f.DurationVar(&c.ClientTimeout, "ring.consul.client-timeout", 20*time.Second, "HTTP timeout of Consul requests; must exceed Consul's long-poll time (10s).")
}

func (c *ConsulConfig) dskit() consul.Config {
	var d consul.Config
	fs := flag.NewFlagSet("dskit-consul", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d.RegisterFlags(fs, "")
	d.Host = c.Hostname
	d.ACLToken = c.ACLToken
	d.HTTPClientTimeout = c.ClientTimeout
	return d
}

// IngesterConfig is the ingester ring: how an ingester registers itself
// (read by the lifecycler) and how distributors and queriers pick ingesters
// (read by the ring client). Every process of a cluster must agree on
// ReplicationFactor, ZoneAwarenessEnabled and HeartbeatTimeout.
type IngesterConfig struct {
	InstanceID                string        `yaml:"instance_id"`
	InstanceAddr              string        `yaml:"instance_addr"`
	AvailabilityZone          string        `yaml:"availability_zone"`
	NumTokens                 int           `yaml:"num_tokens"`
	HeartbeatPeriod           time.Duration `yaml:"heartbeat_period"`
	HeartbeatTimeout          time.Duration `yaml:"heartbeat_timeout"`
	ReplicationFactor         int           `yaml:"replication_factor"`
	ZoneAwarenessEnabled      bool          `yaml:"zone_awareness_enabled"`
	TokensFilePath            string        `yaml:"tokens_file_path"`
	AutoForgetUnhealthyPeriod time.Duration `yaml:"auto_forget_unhealthy_period"`
	UnregisterOnShutdown      bool          `yaml:"unregister_on_shutdown"`

	// GRPCListenAddress is the process's -grpc.listen-address, set by the
	// app; the instance address is derived from it when InstanceAddr is empty.
	GRPCListenAddress string `yaml:"-"`
}

// RegisterFlags registers the ingester ring's flags.
func (c *IngesterConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.InstanceID, "ingester.ring.instance-id", "", "Unique ID of this ingester in the ring and in the meta.json of the blocks it ships; must stay the same across restarts. Empty uses the host name, followed by -<port> when -grpc.listen-address is not on port 9095, so that processes on one host differ.")
	f.StringVar(&c.InstanceAddr, "ingester.ring.instance-addr", "", "host:port other roles dial to reach this ingester over gRPC. Empty uses -grpc.listen-address, with an unspecified host replaced by the first private network address.")
	f.StringVar(&c.AvailabilityZone, "ingester.availability-zone", "", "Availability zone of this ingester; with -distributor.zone-awareness-enabled, replicas of a series go to distinct zones.")
	f.IntVar(&c.NumTokens, "ingester.ring.num-tokens", 128, "Number of tokens this ingester owns in the ring.")
	f.DurationVar(&c.HeartbeatPeriod, "ingester.ring.heartbeat-period", 5*time.Second, "How often an ingester refreshes its heartbeat in the ring. With memberlist keep it at 2s or more: updates are ordered by heartbeat times in whole seconds.")
	f.DurationVar(&c.HeartbeatTimeout, "ingester.ring.heartbeat-timeout", time.Minute, "An ingester whose heartbeat is older than this is unhealthy: not written to or read from.")
	f.IntVar(&c.ReplicationFactor, "distributor.replication-factor", 3, "Number of ingesters each series is written to; writes and reads need a quorum (RF/2+1).")
	f.BoolVar(&c.ZoneAwarenessEnabled, "distributor.zone-awareness-enabled", false, "Put the replicas of each series in distinct availability zones (needs at least RF zones).")
	f.StringVar(&c.TokensFilePath, "ingester.ring.tokens-file-path", "", "File where the ingester keeps its ring tokens, so that a restarted ingester owns the same series. Empty uses <data.dir>/ingester/ring-tokens.")
	f.DurationVar(&c.AutoForgetUnhealthyPeriod, "ingester.ring.auto-forget-unhealthy-period", 0, "Remove instances from the ring whose heartbeat is older than this; 0 never removes them.")
	f.BoolVar(&c.UnregisterOnShutdown, "ingester.ring.unregister-on-shutdown", true, "Remove the ingester from the ring on shutdown. false keeps it (LEAVING, then JOINING again) for a quick restart that replays its WAL.")
}

// Validate reports every setting that cannot work.
func (c *IngesterConfig) Validate() error {
	var errs []error
	if c.ReplicationFactor <= 0 {
		errs = append(errs, fmt.Errorf("distributor.replication-factor must be positive, got %d", c.ReplicationFactor))
	}
	if c.NumTokens <= 0 {
		errs = append(errs, fmt.Errorf("ingester.ring.num-tokens must be positive, got %d", c.NumTokens))
	}
	if c.HeartbeatPeriod <= 0 {
		errs = append(errs, errors.New("ingester.ring.heartbeat-period must be positive"))
	}
	if c.HeartbeatTimeout <= 0 {
		errs = append(errs, errors.New("ingester.ring.heartbeat-timeout must be positive"))
	} else if c.HeartbeatPeriod > c.HeartbeatTimeout {
		errs = append(errs, errors.New("ingester.ring.heartbeat-period must not exceed ingester.ring.heartbeat-timeout, or healthy ingesters look dead"))
	}
	if c.AutoForgetUnhealthyPeriod < 0 {
		errs = append(errs, errors.New("ingester.ring.auto-forget-unhealthy-period must not be negative"))
	} else if c.AutoForgetUnhealthyPeriod > 0 && c.AutoForgetUnhealthyPeriod < c.HeartbeatTimeout {
		errs = append(errs, errors.New("ingester.ring.auto-forget-unhealthy-period must be 0 or at least ingester.ring.heartbeat-timeout"))
	}
	return errors.Join(errs...)
}

// ShardRingConfig is a ring that shards work over instances of one role:
// blocks over store-gateways, tenants over compactors, rule groups over
// rulers. prefix names its flags ("store-gateway", "compactor", "ruler").
type ShardRingConfig struct {
	InstanceID        string        `yaml:"instance_id"`
	InstanceAddr      string        `yaml:"instance_addr"`
	AvailabilityZone  string        `yaml:"availability_zone"`
	NumTokens         int           `yaml:"num_tokens"`
	HeartbeatPeriod   time.Duration `yaml:"heartbeat_period"`
	HeartbeatTimeout  time.Duration `yaml:"heartbeat_timeout"`
	ReplicationFactor int           `yaml:"replication_factor"`
	TokensFilePath    string        `yaml:"tokens_file_path"`

	// GRPCListenAddress is set by the app, as for ingesters.
	GRPCListenAddress string `yaml:"-"`
	prefix            string
}

// RegisterFlagsWithPrefix registers the ring's flags as <prefix>.ring.*;
// with a positive defaultRF also <prefix>.sharding-replication-factor, else
// the replication factor is 1 (one owner per item).
func (c *ShardRingConfig) RegisterFlagsWithPrefix(f *flag.FlagSet, prefix string, defaultRF int) {
	c.prefix = prefix
	f.StringVar(&c.InstanceID, prefix+".ring.instance-id", "", "Unique ID of this "+prefix+" in its ring; must stay the same across restarts. Empty uses the host name, followed by -<port> when -grpc.listen-address is not on port 9095.")
	f.StringVar(&c.InstanceAddr, prefix+".ring.instance-addr", "", "host:port other roles dial to reach this "+prefix+" over gRPC. Empty uses -grpc.listen-address.")
	f.StringVar(&c.AvailabilityZone, prefix+".availability-zone", "", "Availability zone of this "+prefix+".")
	f.IntVar(&c.NumTokens, prefix+".ring.num-tokens", 128, "Number of tokens this "+prefix+" owns in its ring.")
	f.DurationVar(&c.HeartbeatPeriod, prefix+".ring.heartbeat-period", 5*time.Second, "How often "+article(prefix)+" "+prefix+" refreshes its heartbeat (2s or more with memberlist).")
	f.DurationVar(&c.HeartbeatTimeout, prefix+".ring.heartbeat-timeout", time.Minute, strings.ToUpper(article(prefix)[:1])+article(prefix)[1:]+" "+prefix+" whose heartbeat is older than this is unhealthy: its share goes to the next owners.")
	c.ReplicationFactor = 1
	if defaultRF > 0 {
		f.IntVar(&c.ReplicationFactor, prefix+".sharding-replication-factor", defaultRF, "Number of "+prefix+"s that own each item; queries survive all but one of them failing.")
	}
	f.StringVar(&c.TokensFilePath, prefix+".ring.tokens-file-path", "", "File where the "+prefix+" keeps its ring tokens. Empty uses <data.dir>/"+prefix+"/ring-tokens.")
}

// Validate reports every setting that cannot work.
func (c *ShardRingConfig) Validate() error {
	var errs []error
	if c.ReplicationFactor <= 0 {
		errs = append(errs, fmt.Errorf("%s.sharding-replication-factor must be positive, got %d", c.prefix, c.ReplicationFactor))
	}
	if c.NumTokens <= 0 {
		errs = append(errs, fmt.Errorf("%s.ring.num-tokens must be positive, got %d", c.prefix, c.NumTokens))
	}
	if c.HeartbeatPeriod <= 0 || c.HeartbeatTimeout <= 0 || c.HeartbeatPeriod > c.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("%s.ring.heartbeat-period and heartbeat-timeout must be positive, the period not above the timeout", c.prefix))
	}
	return errors.Join(errs...)
}

// ringConfig maps the shard ring onto the shared ring settings; an instance
// always leaves its ring on shutdown, so its share moves to the next owners
// at once, and the others forget it when it dies.
func (c ShardRingConfig) ringConfig() IngesterConfig {
	return IngesterConfig{
		InstanceID: c.InstanceID, InstanceAddr: c.InstanceAddr, AvailabilityZone: c.AvailabilityZone,
		NumTokens: c.NumTokens, HeartbeatPeriod: c.HeartbeatPeriod, HeartbeatTimeout: c.HeartbeatTimeout,
		ReplicationFactor: c.ReplicationFactor, TokensFilePath: c.TokensFilePath,
		UnregisterOnShutdown: true, GRPCListenAddress: c.GRPCListenAddress,
		// A dead instance's share must move to a live one: the ring only
		// skips it once it is forgotten. Forgetting a live instance by
		// mistake costs nothing, it registers again at its next heartbeat.
		AutoForgetUnhealthyPeriod: c.HeartbeatTimeout,
	}
}

// DistributorRingConfig is the distributor ring: each distributor
// registers there (one token, no tokens file) so that every distributor
// can count the healthy ones and enforce its share of a tenant's
// cluster-wide ingestion rate.
type DistributorRingConfig struct {
	InstanceID       string        `yaml:"instance_id"`
	InstanceAddr     string        `yaml:"instance_addr"`
	HeartbeatPeriod  time.Duration `yaml:"heartbeat_period"`
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`

	// GRPCListenAddress is set by the app, as for ingesters.
	GRPCListenAddress string `yaml:"-"`
}

// RegisterFlags registers the -distributor.ring.* flags.
func (c *DistributorRingConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.InstanceID, "distributor.ring.instance-id", "", "Unique ID of this distributor in the distributor ring. Empty uses the host name, followed by -<port> when -grpc.listen-address is not on port 9095.")
	f.StringVar(&c.InstanceAddr, "distributor.ring.instance-addr", "", "host:port shown for this distributor in its ring. Empty uses -grpc.listen-address.")
	f.DurationVar(&c.HeartbeatPeriod, "distributor.ring.heartbeat-period", 5*time.Second, "How often a distributor refreshes its heartbeat (2s or more with memberlist).")
	f.DurationVar(&c.HeartbeatTimeout, "distributor.ring.heartbeat-timeout", time.Minute, "A distributor whose heartbeat is older than this no longer counts among those sharing the tenants' ingestion rate: the others each take a larger share.")
}

// Validate reports every setting that cannot work.
func (c *DistributorRingConfig) Validate() error {
	if c.HeartbeatPeriod <= 0 || c.HeartbeatTimeout <= 0 || c.HeartbeatPeriod > c.HeartbeatTimeout {
		return errors.New("distributor.ring.heartbeat-period and heartbeat-timeout must be positive, the period not above the timeout")
	}
	return nil
}

// ringConfig maps the distributor ring onto the shared ring settings: one
// token (nothing is sharded over distributors), no tokens file, leave on
// shutdown, and forget a dead distributor once its heartbeat times out.
func (c DistributorRingConfig) ringConfig() IngesterConfig {
	return IngesterConfig{
		InstanceID: c.InstanceID, InstanceAddr: c.InstanceAddr,
		NumTokens: 1, HeartbeatPeriod: c.HeartbeatPeriod, HeartbeatTimeout: c.HeartbeatTimeout,
		ReplicationFactor: 1, UnregisterOnShutdown: true, GRPCListenAddress: c.GRPCListenAddress,
		AutoForgetUnhealthyPeriod: c.HeartbeatTimeout,
	}
}

// StringList is a list of strings given as one comma-separated flag value,
// or in YAML as either a list or a comma-separated string.
type StringList []string

// String implements flag.Value.
func (l StringList) String() string { return strings.Join(l, ",") }

// Set implements flag.Value; empty items are dropped.
func (l *StringList) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// UnmarshalYAML accepts a sequence of strings or a comma-separated string.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		return l.Set(s)
	}
	var items []string
	if err := n.Decode(&items); err != nil {
		return err
	}
	*l = items
	return nil
}

// MarshalYAML writes a sequence.
func (l StringList) MarshalYAML() (any, error) { return []string(l), nil }

// article is the indefinite article of a role's name in help texts.
func article(role string) string {
	if strings.ContainsRune("aeiou", rune(role[0])) {
		return "an"
	}
	return "a"
}
