package ruler

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// Config of the ruler.
type Config struct {
	// AlertmanagerTLS verifies the Alertmanagers at https URLs (and
	// presents a client certificate): weft sets it from its -grpc.tls-*
	// flags, so it is no option of its own.
	AlertmanagerTLS commoncfg.TLSConfig `yaml:"-"`
	// PollInterval is how often the ruler reads the bucket for changed
	// rule groups and the ring for changed ownership.
	PollInterval time.Duration `yaml:"poll_interval"`
	// EvaluationInterval is the interval of groups that set none.
	EvaluationInterval time.Duration `yaml:"evaluation_interval"`
	// AlertmanagerURL is a comma-separated list of Alertmanager URLs; each
	// receives every alert of each tenant, with the tenant in
	// X-Scope-OrgID (as Prometheus sends to every Alertmanager it is
	// given, so that the loss of one loses no alert). Empty sends none (the
	// app defaults it in the all-in-one to its own Alertmanager).
	AlertmanagerURL string `yaml:"alertmanager_url"`
	// ExternalURL is weft as users reach it: alerts' generatorURL and
	// templates' $externalURL point there.
	ExternalURL string `yaml:"external_url"`
	// MaxRequestBodySize bounds an upload to the config API.
	MaxRequestBodySize int `yaml:"max_request_body_size"`

	OutageTolerance           time.Duration `yaml:"for_outage_tolerance"`
	ForGracePeriod            time.Duration `yaml:"for_grace_period"`
	ResendDelay               time.Duration `yaml:"resend_delay"`
	NotificationQueueCapacity int           `yaml:"notification_queue_capacity"`
	NotificationTimeout       time.Duration `yaml:"notification_timeout"`
}

// RegisterFlags registers the -ruler.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.DurationVar(&c.PollInterval, "ruler.poll-interval", 10*time.Second, "How often the ruler reads the bucket for new, changed and deleted rule groups (a change made through this process's API applies at once).")
	f.DurationVar(&c.EvaluationInterval, "ruler.evaluation-interval", time.Minute, "Evaluation interval of rule groups that set no interval of their own.")
	f.StringVar(&c.AlertmanagerURL, "ruler.alertmanager-url", "", "Comma-separated URLs of the Alertmanagers that receive each tenant's alerts, with the tenant in X-Scope-OrgID (e.g. http://am-1:9009/alertmanager,http://am-2:9009/alertmanager). Every alert goes to each of them, as Prometheus sends to every Alertmanager: list several replicas so that the loss of one loses no alert (the replicas notify once). Empty: in the all-in-one, this process's own Alertmanager; otherwise alerts are not sent.")
	f.StringVar(&c.ExternalURL, "ruler.external-url", "", "URL at which users reach weft; alerts' generatorURL and the $externalURL of templates point there. Empty: http://<this host>:<HTTP port>.")
	f.IntVar(&c.MaxRequestBodySize, "ruler.max-request-body-size", 1<<20, "Largest rule group or rule file accepted by the config API, in bytes.")
	f.DurationVar(&c.OutageTolerance, "ruler.for-outage-tolerance", time.Hour, "Longest ruler outage after which an alert's 'for' state is still restored (as Prometheus' -rules.alert.for-outage-tolerance).")
	f.DurationVar(&c.ForGracePeriod, "ruler.for-grace-period", 10*time.Minute, "Minimum time an alert with a restored 'for' state waits before firing (as Prometheus' -rules.alert.for-grace-period).")
	f.DurationVar(&c.ResendDelay, "ruler.resend-delay", time.Minute, "Minimum time between two sends of the same firing alert to the Alertmanager (as Prometheus' -rules.alert.resend-delay).")
	f.IntVar(&c.NotificationQueueCapacity, "ruler.notification-queue-capacity", 10000, "Alerts queued per tenant for the Alertmanager.")
	f.DurationVar(&c.NotificationTimeout, "ruler.notification-timeout", 10*time.Second, "Timeout of one send to the Alertmanager.")
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.PollInterval <= 0 || c.EvaluationInterval <= 0 || c.NotificationTimeout <= 0 {
		errs = append(errs, errors.New("ruler.poll-interval, evaluation-interval and notification-timeout must be positive"))
	}
	if c.MaxRequestBodySize <= 0 || c.NotificationQueueCapacity <= 0 {
		errs = append(errs, errors.New("ruler.max-request-body-size and notification-queue-capacity must be positive"))
	}
	if _, err := c.alertmanagerURLs(); err != nil {
		errs = append(errs, err)
	}
	if s := c.ExternalURL; s != "" {
		if u, err := url.Parse(s); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("ruler.external-url %q is not an absolute URL", s))
		}
	}
	return errors.Join(errs...)
}

// alertmanagerURLs parses the comma-separated AlertmanagerURL: each must
// be absolute, and none may repeat (it would get every alert twice).
func (c *Config) alertmanagerURLs() ([]*url.URL, error) {
	if strings.TrimSpace(c.AlertmanagerURL) == "" {
		return nil, nil
	}
	var out []*url.URL
	seen := map[string]bool{}
	for _, s := range strings.Split(c.AlertmanagerURL, ",") {
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("ruler.alertmanager-url %q is not an absolute URL", s)
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("ruler.alertmanager-url lists %q twice", s)
		}
		seen[u.String()] = true
		out = append(out, u)
	}
	return out, nil
}
