package alertmanager

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"
)

// Config configures the alertmanager role. The YAML section is
// `alertmanager:`, the flags -alertmanager.*.
type Config struct {
	// ExternalURL is where people reach the Alertmanager: the links of
	// notifications point there.
	ExternalURL string `yaml:"external_url"`
	// PollInterval is how often the bucket is read for configurations
	// that changed on another replica.
	PollInterval time.Duration `yaml:"poll_interval"`
	// PeerTimeout is how long the replica at position n of a tenant waits,
	// n times, before it notifies: the replicas before it notify first,
	// and it notifies only if the notification log says they did not.
	PeerTimeout time.Duration `yaml:"peer_timeout"`
	// PersistInterval is how often a tenant's first replica saves the
	// notification log and the silences to the bucket.
	PersistInterval time.Duration `yaml:"persist_interval"`
	// Retention is how long notification log entries and expired
	// silences are kept.
	Retention time.Duration `yaml:"retention"`
	// SettleTimeout bounds the wait for the other replicas' state when a
	// tenant's Alertmanager starts; it notifies only after that.
	SettleTimeout time.Duration `yaml:"settle_timeout"`
}

// RegisterFlags registers the -alertmanager.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.ExternalURL, "alertmanager.web.external-url", "", "URL under which people reach the Alertmanager (the links in notifications point there). Empty: http://<this host>:<HTTP port>/alertmanager.")
	f.DurationVar(&c.PollInterval, "alertmanager.poll-interval", 10*time.Second, "How often each alertmanager reads the bucket for configurations uploaded to another one. An upload takes effect at once on the alertmanager that took it.")
	f.DurationVar(&c.PeerTimeout, "alertmanager.peer-timeout", 15*time.Second, "How long each replica of a tenant's Alertmanager waits per replica before it in the ring before it notifies, so that only the first one does unless it failed.")
	f.DurationVar(&c.PersistInterval, "alertmanager.persist-interval", 15*time.Minute, "How often the notification log and silences of each tenant are saved to the bucket (they are also saved on shutdown).")
	f.DurationVar(&c.Retention, "alertmanager.storage.retention", 120*time.Hour, "How long notification log entries and expired silences are kept.")
	f.DurationVar(&c.SettleTimeout, "alertmanager.settle-timeout", 10*time.Second, "How long a starting Alertmanager of a tenant waits for the state of its other replicas before it notifies.")
}

// Validate reports every setting that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if _, err := url.Parse(c.ExternalURL); err != nil {
		errs = append(errs, fmt.Errorf("alertmanager.web.external-url: %w", err))
	}
	if c.PollInterval <= 0 || c.PersistInterval <= 0 || c.Retention <= 0 {
		errs = append(errs, errors.New("alertmanager.poll-interval, alertmanager.persist-interval and alertmanager.storage.retention must be positive"))
	}
	if c.PeerTimeout < 0 || c.SettleTimeout < 0 {
		errs = append(errs, errors.New("alertmanager.peer-timeout and alertmanager.settle-timeout must not be negative"))
	}
	return errors.Join(errs...)
}
